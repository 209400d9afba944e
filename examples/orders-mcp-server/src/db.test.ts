import { describe, it, expect, afterEach } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SEED_ORDERS, openOrdersDb } from './db.ts';

describe('openOrdersDb', () => {
  const dirs: string[] = [];
  const tempPath = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'orders-db-'));
    dirs.push(dir);
    return join(dir, 'orders.sqlite');
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('seeds a dozen orders into a fresh in-memory database', async () => {
    const db = await openOrdersDb();
    try {
      expect(SEED_ORDERS).toHaveLength(12);
      for (const order of SEED_ORDERS) {
        expect(order.customer_phone).toMatch(/^\+[1-9]\d{6,14}$/);
        expect(db.getOrder(order.order_id)).toEqual(order);
      }
      expect(db.getOrder('ORD-9999')).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it('numbers returns RMA-000001, RMA-000002, … and allows one per order', async () => {
    const db = await openOrdersDb();
    try {
      const a = db.createReturn({ order_id: 'ORD-1001', reason: 'too big', items: ['HDP-200'] });
      const b = db.createReturn({ order_id: 'ORD-1003', reason: 'scratched', items: ['CHR-310'] });
      expect([a.return_id, b.return_id]).toEqual(['RMA-000001', 'RMA-000002']);
      expect(db.findReturnByOrder('ORD-1001')).toEqual(a);
      expect(() => db.createReturn({ order_id: 'ORD-1001', reason: 'again', items: [] })).toThrow(/UNIQUE/);
    } finally {
      db.close();
    }
  });

  it('creates and seeds a missing file, and persists returns across reopen', async () => {
    const path = tempPath();
    const first = await openOrdersDb({ path });
    expect(existsSync(path)).toBe(true);
    const created = first.createReturn({ order_id: 'ORD-1009', reason: 'screen flicker', items: ['LAP-1400'] });
    first.close();

    const second = await openOrdersDb({ path });
    try {
      expect(second.findReturnByOrder('ORD-1009')).toEqual(created);
      expect(second.getOrder('ORD-1009')?.status).toBe('delivered');
      expect(second.createReturn({ order_id: 'ORD-1012', reason: 'too small', items: ['SHO-870'] }).return_id).toBe(
        'RMA-000002',
      );
    } finally {
      second.close();
    }
  });
});
