import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connectRedis } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { DueWaker } from '../src/adapters/due-waker.ts';
import { log, until } from './harness.ts';

const prefix = `due-waker-test-${randomBytes(4).toString('hex')}`;
const keys = { delayed: `${prefix}:delayed`, marker: `${prefix}:marker` };
let redis: Redis;
let reader: Redis;

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`due-waker.int.test: Redis ${infra.redisUrl} (${infra.source})`);
  redis = await connectRedis(infra.redisUrl, { name: prefix });
  reader = await connectRedis(infra.redisUrl, { name: `${prefix}-reader` });
});

afterAll(async () => {
  await redis?.del(keys.delayed, keys.marker);
  redis?.disconnect();
  reader?.disconnect();
});

/** Waits (blocking, as a BullMQ worker does) for the marker; returns when it came and what it was. */
async function nextMarker(): Promise<{ at: number; member: string | undefined }> {
  const res = await reader.bzpopmin(keys.marker, 3);
  return { at: Date.now(), member: res?.[1] };
}

describe('DueWaker', () => {
  it('adds the "job ready" marker once a job it was told about falls due, not before', async () => {
    const waker = new DueWaker(redis, keys, log, 60_000);
    const due = Date.now() + 150;
    waker.consider(due);
    const m = await nextMarker();
    await until(() => waker.wakeups === 1, 'the wake-up to be counted');
    waker.close();
    expect(m.member).toBe('0');
    expect(m.at).toBeGreaterThanOrEqual(due);
  });

  it('finds the earliest delayed job in the queue by itself (jobs another instance queued)', async () => {
    const due = Date.now() + 200;
    // BullMQ's delayed score: timestamp * 0x1000 + a per-millisecond counter.
    await redis.zadd(keys.delayed, due * 0x1000 + 3, 'job-a', (due + 60_000) * 0x1000, 'job-b');
    const waker = new DueWaker(redis, keys, log, 50);
    waker.start();
    const m = await nextMarker();
    await new Promise((r) => setTimeout(r, 200));
    waker.close();
    expect(m.member).toBe('0');
    expect(m.at).toBeGreaterThanOrEqual(due);
    // Only the due job woke the workers; the one a minute away did not (yet).
    expect(waker.wakeups).toBe(1);
    await redis.del(keys.delayed);
  });

  it('wakes for each due time in turn, earliest first, and never again for a time already signalled', async () => {
    const waker = new DueWaker(redis, keys, log, 60_000);
    const now = Date.now();
    await redis.zadd(keys.delayed, (now + 400) * 0x1000, 'late', (now + 100) * 0x1000, 'early');
    waker.consider(now + 400);
    waker.consider(now + 100);
    const first = await nextMarker();
    expect(first.at).toBeGreaterThanOrEqual(now + 100);
    expect(first.at).toBeLessThan(now + 400);
    waker.consider(now + 50);
    const second = await nextMarker();
    expect(second.at).toBeGreaterThanOrEqual(now + 400);
    await new Promise((r) => setTimeout(r, 100));
    waker.close();
    expect(waker.wakeups).toBe(2);
    await redis.del(keys.delayed);
  });
});
