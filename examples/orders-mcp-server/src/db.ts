import { createRequire } from 'node:module';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import initSqlJs from 'sql.js';
import type { Database, SqlJsStatic, SqlValue } from 'sql.js';
import { z } from 'zod';

/** Lifecycle states of an order; only `shipped` and `delivered` orders can be returned. */
export const ORDER_STATUSES = ['processing', 'shipped', 'delivered', 'cancelled'] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

const orderItemSchema = z.object({
  /** Stock-keeping unit, unique within the store. */
  sku: z.string(),
  /** Product name as a caller would say it. */
  name: z.string(),
  quantity: z.number().int().positive(),
  /** Price of one unit in dollars. */
  unit_price: z.number().nonnegative(),
});
export type OrderItem = z.infer<typeof orderItemSchema>;

export interface Order {
  /** `ORD-` followed by digits, e.g. `ORD-1001`. */
  order_id: string;
  status: OrderStatus;
  /** Carrier tracking number; null until the order ships and for cancelled orders. */
  tracking_number: string | null;
  /** ISO date (YYYY-MM-DD) the order is or was expected to arrive; null for cancelled orders. */
  estimated_delivery: string | null;
  /** Order total in dollars. */
  total_amount: number;
  /** Customer phone number in E.164, the number the customer calls from. */
  customer_phone: string;
  items: OrderItem[];
}

export interface ReturnRecord {
  /** `RMA-` followed by a zero-padded sequence number, e.g. `RMA-000001`. */
  return_id: string;
  order_id: string;
  reason: string;
  /** SKUs being returned. */
  items: string[];
  status: 'return_initiated';
  /** ISO timestamp of creation. */
  created_at: string;
}

export interface NewReturn {
  order_id: string;
  reason: string;
  items: string[];
}

/** The orders store the tools work against. All methods are synchronous: sql.js runs in-process. */
export interface OrdersDb {
  getOrder(orderId: string): Order | undefined;
  /** The return already filed for an order, if any (one return per order). */
  findReturnByOrder(orderId: string): ReturnRecord | undefined;
  /** Inserts a return row; with a file-backed database the file is rewritten before this returns. */
  createReturn(input: NewReturn): ReturnRecord;
  close(): void;
}

export interface OpenOrdersDbOptions {
  /**
   * SQLite file to load. A missing file is created and seeded; every write is persisted back to it.
   * Without a path the database lives in memory and is seeded fresh.
   */
  path?: string;
}

/** The dozen orders an empty database is seeded with. Fixed dates keep demos and tests deterministic. */
export const SEED_ORDERS: readonly Order[] = [
  {
    order_id: 'ORD-1001',
    status: 'shipped',
    tracking_number: '1Z999AA10123456784',
    estimated_delivery: '2025-06-12',
    total_amount: 129.99,
    customer_phone: '+14155550101',
    items: [{ sku: 'HDP-200', name: 'Wireless Headphones', quantity: 1, unit_price: 129.99 }],
  },
  {
    order_id: 'ORD-1002',
    status: 'processing',
    tracking_number: null,
    estimated_delivery: '2025-06-18',
    total_amount: 54.5,
    customer_phone: '+14155550102',
    items: [
      { sku: 'MUG-011', name: 'Ceramic Mug', quantity: 2, unit_price: 12.25 },
      { sku: 'TEA-050', name: 'Green Tea Sampler', quantity: 1, unit_price: 30 },
    ],
  },
  {
    order_id: 'ORD-1003',
    status: 'delivered',
    tracking_number: '1Z999AA10123456791',
    estimated_delivery: '2025-05-28',
    total_amount: 249,
    customer_phone: '+14155550103',
    items: [{ sku: 'CHR-310', name: 'Office Chair', quantity: 1, unit_price: 249 }],
  },
  {
    order_id: 'ORD-1004',
    status: 'cancelled',
    tracking_number: null,
    estimated_delivery: null,
    total_amount: 18.99,
    customer_phone: '+14155550104',
    items: [{ sku: 'CBL-007', name: 'USB-C Cable', quantity: 1, unit_price: 18.99 }],
  },
  {
    order_id: 'ORD-1005',
    status: 'shipped',
    tracking_number: '9400111899223344556677',
    estimated_delivery: '2025-06-14',
    total_amount: 89.97,
    customer_phone: '+447700900105',
    items: [{ sku: 'SCK-101', name: 'Wool Socks', quantity: 3, unit_price: 29.99 }],
  },
  {
    order_id: 'ORD-1006',
    status: 'delivered',
    tracking_number: '9400111899223344556684',
    estimated_delivery: '2025-05-30',
    total_amount: 399.98,
    customer_phone: '+14155550106',
    items: [
      { sku: 'SPK-500', name: 'Bluetooth Speaker', quantity: 1, unit_price: 199.99 },
      { sku: 'SPK-501', name: 'Speaker Stand', quantity: 1, unit_price: 199.99 },
    ],
  },
  {
    order_id: 'ORD-1007',
    status: 'processing',
    tracking_number: null,
    estimated_delivery: '2025-06-20',
    total_amount: 64,
    customer_phone: '+4915123456107',
    items: [{ sku: 'BKP-220', name: 'Hiking Backpack', quantity: 1, unit_price: 64 }],
  },
  {
    order_id: 'ORD-1008',
    status: 'shipped',
    tracking_number: '1Z999AA10123456808',
    estimated_delivery: '2025-06-13',
    total_amount: 35.49,
    customer_phone: '+14155550108',
    items: [
      { sku: 'BK-901', name: 'Paperback Novel', quantity: 1, unit_price: 15.5 },
      { sku: 'BK-902', name: 'Cookbook', quantity: 1, unit_price: 19.99 },
    ],
  },
  {
    order_id: 'ORD-1009',
    status: 'delivered',
    tracking_number: '1Z999AA10123456815',
    estimated_delivery: '2025-05-25',
    total_amount: 1199,
    customer_phone: '+14155550109',
    items: [{ sku: 'LAP-1400', name: '14-inch Laptop', quantity: 1, unit_price: 1199 }],
  },
  {
    order_id: 'ORD-1010',
    status: 'cancelled',
    tracking_number: null,
    estimated_delivery: null,
    total_amount: 42,
    customer_phone: '+33612345110',
    items: [{ sku: 'LMP-030', name: 'Desk Lamp', quantity: 1, unit_price: 42 }],
  },
  {
    order_id: 'ORD-1011',
    status: 'shipped',
    tracking_number: '9400111899223344556691',
    estimated_delivery: '2025-06-15',
    total_amount: 74.95,
    customer_phone: '+14155550111',
    items: [{ sku: 'TWL-440', name: 'Bath Towel Set', quantity: 1, unit_price: 74.95 }],
  },
  {
    order_id: 'ORD-1012',
    status: 'delivered',
    tracking_number: '1Z999AA10123456822',
    estimated_delivery: '2025-06-02',
    total_amount: 159.9,
    customer_phone: '+14155550112',
    items: [{ sku: 'SHO-870', name: 'Running Shoes', quantity: 1, unit_price: 159.9 }],
  },
];

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS orders (
  order_id           TEXT PRIMARY KEY,
  status             TEXT NOT NULL CHECK (status IN ('processing', 'shipped', 'delivered', 'cancelled')),
  tracking_number    TEXT,
  estimated_delivery TEXT,
  total_cents        INTEGER NOT NULL CHECK (total_cents >= 0),
  customer_phone     TEXT NOT NULL,
  items_json         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_customer_phone ON orders (customer_phone);
CREATE TABLE IF NOT EXISTS returns (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  return_id  TEXT GENERATED ALWAYS AS ('RMA-' || printf('%06d', seq)) VIRTUAL,
  order_id   TEXT NOT NULL UNIQUE REFERENCES orders (order_id),
  reason     TEXT NOT NULL,
  items_json TEXT NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('return_initiated')),
  created_at TEXT NOT NULL
);
`;

const orderRowSchema = z.object({
  order_id: z.string(),
  status: z.enum(ORDER_STATUSES),
  tracking_number: z.string().nullable(),
  estimated_delivery: z.string().nullable(),
  total_cents: z.number().int(),
  customer_phone: z.string(),
  items_json: z.string(),
});

const returnRowSchema = z.object({
  return_id: z.string(),
  order_id: z.string(),
  reason: z.string(),
  items_json: z.string(),
  status: z.literal('return_initiated'),
  created_at: z.string(),
});

let sqlJs: Promise<SqlJsStatic> | undefined;

/** Loads the sql.js WASM module once per process, from the file shipped in the sql.js package. */
function loadSqlJs(): Promise<SqlJsStatic> {
  if (!sqlJs) {
    const wasmPath = createRequire(import.meta.url).resolve('sql.js/dist/sql-wasm.wasm');
    sqlJs = initSqlJs({ locateFile: () => wasmPath });
  }
  return sqlJs;
}

/** Opens the orders database: in memory and freshly seeded, or backed by `options.path`. */
export async function openOrdersDb(options: OpenOrdersDbOptions = {}): Promise<OrdersDb> {
  const SQL = await loadSqlJs();
  const { path } = options;
  const db = path !== undefined && existsSync(path) ? new SQL.Database(readFileSync(path)) : new SQL.Database();
  // Pragmas are reset whenever sql.js exports the database, so persist() applies this again.
  db.run('PRAGMA foreign_keys = ON');
  db.exec(SCHEMA_SQL);

  const persist = (): void => {
    if (path === undefined) return;
    // Write then rename so a crash mid-write never leaves a truncated database file.
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, db.export());
    renameSync(tmp, path);
    db.run('PRAGMA foreign_keys = ON');
  };

  if (queryOne(db, 'SELECT COUNT(*) AS n FROM orders')?.['n'] === 0) {
    seed(db);
    persist();
  }

  return {
    getOrder(orderId) {
      const row = queryOne(db, 'SELECT * FROM orders WHERE order_id = ?', [orderId]);
      if (!row) return undefined;
      const r = orderRowSchema.parse(row);
      return {
        order_id: r.order_id,
        status: r.status,
        tracking_number: r.tracking_number,
        estimated_delivery: r.estimated_delivery,
        total_amount: r.total_cents / 100,
        customer_phone: r.customer_phone,
        items: z.array(orderItemSchema).parse(JSON.parse(r.items_json)),
      };
    },

    findReturnByOrder(orderId) {
      const row = queryOne(db, 'SELECT * FROM returns WHERE order_id = ?', [orderId]);
      return row ? toReturn(row) : undefined;
    },

    createReturn(input) {
      db.run(
        'INSERT INTO returns (order_id, reason, items_json, status, created_at) VALUES (?, ?, ?, ?, ?)',
        [input.order_id, input.reason, JSON.stringify(input.items), 'return_initiated', new Date().toISOString()],
      );
      const row = queryOne(db, 'SELECT * FROM returns WHERE seq = last_insert_rowid()');
      if (!row) throw new Error(`Return row for ${input.order_id} missing right after insert`);
      persist();
      return toReturn(row);
    },

    close() {
      db.close();
    },
  };
}

function seed(db: Database): void {
  db.run('BEGIN');
  for (const o of SEED_ORDERS) {
    db.run(
      `INSERT INTO orders (order_id, status, tracking_number, estimated_delivery, total_cents, customer_phone, items_json)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [
        o.order_id,
        o.status,
        o.tracking_number,
        o.estimated_delivery,
        Math.round(o.total_amount * 100),
        o.customer_phone,
        JSON.stringify(o.items),
      ],
    );
  }
  db.run('COMMIT');
}

function toReturn(row: Record<string, SqlValue>): ReturnRecord {
  const r = returnRowSchema.parse(row);
  return {
    return_id: r.return_id,
    order_id: r.order_id,
    reason: r.reason,
    items: z.array(z.string()).parse(JSON.parse(r.items_json)),
    status: r.status,
    created_at: r.created_at,
  };
}

function queryOne(db: Database, sql: string, params: SqlValue[] = []): Record<string, SqlValue> | undefined {
  const stmt = db.prepare(sql);
  try {
    stmt.bind(params);
    return stmt.step() ? stmt.getAsObject() : undefined;
  } finally {
    stmt.free();
  }
}
