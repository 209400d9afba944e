import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { connectRedis } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { RateLimiter } from '../src/adapters/rate-limiter.ts';

/** The per-key token bucket, on real Redis: atomic, shared by instances, refilling with Redis time. */

let a: Redis;
let b: Redis;
const run = randomBytes(4).toString('hex');

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`rate-limiter.int.test: Redis ${infra.redisUrl} (${infra.source})`);
  a = await connectRedis(infra.redisUrl, { name: 'rate-limiter-test-a' });
  b = await connectRedis(infra.redisUrl, { name: 'rate-limiter-test-b' });
});

afterAll(async () => {
  const keys = await a.keys(`sb:ratelimit:rl_${run}_*`);
  if (keys.length) await a.del(...keys);
  a?.disconnect();
  b?.disconnect();
});

describe('RateLimiter', () => {
  it('allows a minute of burst, then refuses with the wait until the next token', async () => {
    const limiter = new RateLimiter(a);
    const decisions = [];
    for (let i = 0; i < 4; i++) decisions.push(await limiter.take(`rl_${run}_burst`, 3));
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false]);
    // 3 per minute: one token every 20 s.
    expect(decisions[3]!.retryAfterMs).toBeGreaterThan(19_000);
    expect(decisions[3]!.retryAfterMs).toBeLessThanOrEqual(20_000);
  });

  it('shares one bucket between instances, and takes exactly the budget under concurrency', async () => {
    const one = new RateLimiter(a);
    const two = new RateLimiter(b);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? one : two).take(`rl_${run}_shared`, 25)));
    expect(results.filter((r) => r.allowed)).toHaveLength(25);
  });

  it('refills continuously', async () => {
    const limiter = new RateLimiter(a);
    const key = `rl_${run}_refill`;
    // 1200 per minute: a burst of 1200, then one token every 50 ms (a few come back while the burst runs).
    let taken = 0;
    let refused: Awaited<ReturnType<RateLimiter['take']>> | undefined;
    while (taken < 2000 && !refused) {
      const d = await limiter.take(key, 1200);
      if (d.allowed) taken++;
      else refused = d;
    }
    expect(taken).toBeGreaterThanOrEqual(1200);
    expect(taken).toBeLessThan(2000);
    expect(refused!.retryAfterMs).toBeLessThanOrEqual(50);
    await new Promise((r) => setTimeout(r, 120));
    expect((await limiter.take(key, 1200)).allowed).toBe(true);
  });

  it('keeps buckets per key', async () => {
    const limiter = new RateLimiter(a);
    expect((await limiter.take(`rl_${run}_k1`, 1)).allowed).toBe(true);
    expect((await limiter.take(`rl_${run}_k1`, 1)).allowed).toBe(false);
    expect((await limiter.take(`rl_${run}_k2`, 1)).allowed).toBe(true);
  });
});
