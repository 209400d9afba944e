import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { Bus } from '@switchboard/bus';
import { contracts, type ScheduleFired } from '@switchboard/contracts';
import { ApiKeyStore } from '@switchboard/session-store';
import { infraUrls, startStack, type Stack } from '@switchboard/testing';

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The scheduler as a real process (the esbuild bundle): a schedule created over HTTP with an API
 * key fires on the bus, and one still pending when the process is stopped (SIGTERM) fires once from
 * the next process on the same Redis.
 */
describe('scheduler process', () => {
  const queue = `e2e-schedules-${randomBytes(4).toString('hex')}`;
  const account = `e2e-${randomBytes(3).toString('hex')}`;
  const subject = `evt.e2e.${randomBytes(3).toString('hex')}`;
  let infra: Awaited<ReturnType<typeof infraUrls>>;
  let bus: Bus;
  let redis: Redis;
  let key: string;
  const fired: ScheduleFired[] = [];
  const published: unknown[] = [];
  const stacks: Stack[] = [];

  const start = async () => {
    const stack = await startStack({ natsUrl: infra.natsUrl, redisUrl: infra.redisUrl, services: ['scheduler'], env: { SCHEDULER_QUEUE: queue } });
    stacks.push(stack);
    return stack;
  };
  const create = (stack: Stack, delayMs: number) =>
    fetch(`${stack.urls.scheduler}/v1/schedules`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `in ${delayMs} ms`, when: { delayMs }, action: { type: 'publish', subject, payload: { delayMs } } }),
    });

  beforeAll(async () => {
    infra = await infraUrls();
    console.log(`scheduler e2e: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
    redis = new Redis(infra.redisUrl);
    key = (await new ApiKeyStore(redis).create(account)).key;
    bus = await Bus.connect({ url: infra.natsUrl, name: 'e2e-scheduler-observer', log: pino({ level: 'silent' }) });
    bus.subscribe(contracts.scheduleFired, (e) => void (e.accountId === account && fired.push(e)));
    bus.nc.subscribe(subject, { callback: (_err, m) => void published.push(m.json()) });
    await bus.nc.flush();
  });

  afterAll(async () => {
    for (const s of stacks) await s.stop();
    for (const pattern of [`bull:${queue}:*`, `sb:sched:${queue}:*`]) {
      const keys = await redis.keys(pattern);
      if (keys.length) await redis.del(...keys);
    }
    redis.disconnect();
    await bus?.close();
  });

  it('fires a schedule created over HTTP, and fires a pending one after a process restart', async () => {
    const first = await start();
    const soon = await create(first, 300);
    expect(soon.status).toBe(201);
    const soonId = ((await soon.json()) as { id: string }).id;
    const later = await create(first, 2500);
    expect(later.status).toBe(201);
    const laterId = ((await later.json()) as { id: string }).id;

    await until(() => fired.some((e) => e.scheduleId === soonId), 10_000, 'the first schedule to fire');
    expect(published).toContainEqual({ delayMs: 300 });

    // SIGTERM with the second schedule still pending: the process drains and exits 0.
    expect(Object.values(await first.stop())).toEqual([0]);
    expect(fired.some((e) => e.scheduleId === laterId)).toBe(false);

    const second = await start();
    await until(() => fired.some((e) => e.scheduleId === laterId), 15_000, 'the pending schedule to fire from the new process');
    const res = await fetch(`${second.urls.scheduler}/v1/schedules/${laterId}`, { headers: { authorization: `Bearer ${key}` } });
    expect(await res.json()).toMatchObject({ id: laterId, status: 'completed', runCount: 1 });
    expect(fired.filter((e) => e.scheduleId === laterId)).toHaveLength(1);
    expect(published).toEqual([{ delayMs: 300 }, { delayMs: 2500 }]);
  });
});
