import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contracts } from '@switchboard/contracts';
import { Harness, until, type Instance } from './harness.ts';

const h = new Harness();
let inst: Instance;

/** Redis clients named after the instance (BullMQ's duplicates inherit the name). */
async function connectionsNamed(name: string): Promise<number> {
  const list = (await h.redis.client('LIST')) as string;
  return list.split('\n').filter((l) => l.includes(` name=${name} `)).length;
}

beforeAll(async () => {
  await h.setup('scheduler.int.test');
  inst = await h.start();
});

afterAll(() => h.teardown());

describe('scheduler process', () => {
  it('is ready: /readyz 200 with NATS and Redis ok', async () => {
    const res = await inst.s.app.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', draining: false, checks: { nats: 'ok', redis: 'ok' } });
    expect((await inst.s.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });

  it('answers health over the bus as service scheduler, with its queue counts', async () => {
    const replies = await h.bus.requestAll(contracts.health, {}, { param: 'scheduler', maxWaitMs: 500 });
    const ours = replies.find((r) => r.instanceId === inst.name);
    expect(ours).toEqual({ service: 'scheduler', instanceId: inst.name, status: 'ok', uptimeS: expect.any(Number), details: { waiting: 0, delayed: 0, active: 0, failed: 0, wakeups: 0 } });
  });

  it('fails a job that is not a schedule run with a clear reason instead of dropping it', async () => {
    const job = await inst.s.queue.add('call-back', { to: '+15557654321' } as never, { attempts: 3 });
    await until(async () => (await job.getState()) === 'failed', 'the job to fail');
    const failed = await inst.s.queue.getJob(job.id!);
    expect(failed?.failedReason).toBe('unknown job call-back: the scheduler queue carries only schedule runs');
    // Not retried: no attempt can fix an unknown job.
    expect(failed?.attemptsMade).toBe(1);
  });

  it('close() closes the worker and the queue, and releases their Redis connections', async () => {
    const { name } = inst;
    expect(inst.s.worker.isRunning()).toBe(true);
    expect(await connectionsNamed(name)).toBeGreaterThan(1);
    await inst.close();
    expect(inst.s.worker.isRunning()).toBe(false);
    await until(async () => (await connectionsNamed(name)) === 0, 'the scheduler connections to close', 3000);
  });
});
