import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Bus } from '@switchboard/bus';
import { contracts } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import type { SchedulerApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

const QUEUE = `switchboard-schedules-test-${randomBytes(4).toString('hex')}`;
const INSTANCE = `scheduler-test-${QUEUE.slice(-8)}`;
const CONNECTION_NAME = `scheduler-int-test-${QUEUE.slice(-8)}`;

const log = createLogger('scheduler-test', 'silent');
let bus: Bus;
let probe: Bus;
let redis: Redis;
let scheduler: SchedulerApp;

/** Redis clients whose name is this test's connection name (duplicates inherit it). */
async function ourConnections(): Promise<number> {
  const list = (await redis.client('LIST')) as string;
  return list.split('\n').filter((l) => l.includes(` name=${CONNECTION_NAME} `)).length;
}

async function until(pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`scheduler.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: INSTANCE, log });
  probe = await Bus.connect({ url: infra.natsUrl, name: `${INSTANCE}-probe`, log });
  redis = await connectRedis(infra.redisUrl, { name: CONNECTION_NAME });
  scheduler = await buildApp({ config: loadConfig({ SCHEDULER_QUEUE: QUEUE, LOG_LEVEL: 'silent' }), bus, redis, log, instanceId: INSTANCE });
  await scheduler.worker.waitUntilReady();
  await bus.nc.flush();
});

afterAll(async () => {
  if (redis) {
    const keys = await redis.keys(`bull:${QUEUE}:*`);
    if (keys.length) await redis.del(...keys);
  }
  await scheduler?.app.close();
  await probe?.drain(2000);
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('scheduler', () => {
  it('is ready: /readyz 200 with NATS and Redis ok', async () => {
    const res = await scheduler.app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', draining: false, checks: { nats: 'ok', redis: 'ok' } });
    expect((await scheduler.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });

  it('answers health over the bus as service scheduler', async () => {
    const replies = await probe.requestAll(contracts.health, {}, { param: 'scheduler', maxWaitMs: 500 });
    const ours = replies.find((r) => r.instanceId === INSTANCE);
    expect(ours).toEqual({ service: 'scheduler', instanceId: INSTANCE, status: 'ok', uptimeS: expect.any(Number), details: { waiting: 0 } });
  });

  it('fails a job it has no action for with a clear reason instead of dropping it', async () => {
    const job = await scheduler.queue.add('call-back', { to: '+15557654321' }, { attempts: 1 });
    await until(async () => (await job.getState()) === 'failed', 'the job to fail');
    const failed = await scheduler.queue.getJob(job.id!);
    expect(failed?.failedReason).toBe('no handler for job call-back: schedule actions are not implemented yet');
  });

  it('close() closes the worker and the queue, and releases their Redis connections', async () => {
    expect(scheduler.worker.isRunning()).toBe(true);
    expect(await ourConnections()).toBeGreaterThan(1);
    await scheduler.close();
    expect(scheduler.worker.isRunning()).toBe(false);
    // Only the test's own connection is left.
    await until(async () => (await ourConnections()) === 1, 'the scheduler connections to close', 3000);
  });
});
