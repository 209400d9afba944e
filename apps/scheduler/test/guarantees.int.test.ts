import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contracts, type ScheduleCreate } from '@switchboard/contracts';
import { AccountStore } from '@switchboard/session-store';
import { FakeGateway, Harness, sleep, until, type Instance } from './harness.ts';

/**
 * The scheduler's guarantees, each against real Redis and NATS: once per due time with two
 * instances, schedules surviving a restart with their missed-run policy, cancel stopping every
 * future run while a run in progress finishes.
 */
const h = new Harness();
const gateway = new FakeGateway();
const MISFIRE_MS = 500;

beforeAll(async () => {
  await h.setup('guarantees.int.test');
  gateway.serve(h.bus);
  await new AccountStore(h.redis).put({ accountId: h.accountId, timeZone: 'UTC', allowedDestinations: ['+1555*'] });
});

afterAll(() => h.teardown());

const subject = `evt.guarantee.${randomBytes(3).toString('hex')}`;
const create = (when: ScheduleCreate['when'], extra: Partial<ScheduleCreate> = {}) =>
  h.bus.request(contracts.scheduleCreate, { accountId: h.accountId, name: 'g', when, action: { type: 'publish', subject, payload: { n: 1 } }, ...extra });
const get = (id: string) => h.bus.request(contracts.scheduleGet, { accountId: h.accountId, id });
const cancel = (id: string) => h.bus.request(contracts.scheduleCancel, { accountId: h.accountId, id });
const runsOf = (id: string) => h.events.of('fired', id).map((e) => `${e.dueAt}`);

describe('two scheduler instances on one Redis', () => {
  let a: Instance;
  let b: Instance;
  const processed = new Map<string, number>();

  beforeAll(async () => {
    a = await h.start();
    b = await h.start();
    for (const i of [a, b]) i.s.worker.on('completed', () => processed.set(i.name, (processed.get(i.name) ?? 0) + 1));
  });

  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('fire each schedule once per due time', async () => {
    const start = Date.now();
    const oneOffs = await Promise.all(Array.from({ length: 40 }, (_, i) => create({ at: new Date(start + 500 + i * 25).toISOString() })));
    const recurring = await Promise.all([create({ everyMs: 1000 }), create({ everyMs: 1000 })]);
    await until(() => oneOffs.every((s) => runsOf(s.id).length === 1), 'every one-off to fire', 8000);
    await until(() => recurring.every((s) => runsOf(s.id).length >= 3), 'three runs of each recurring schedule', 8000);
    for (const s of recurring) await cancel(s.id);
    await sleep(300);

    for (const s of oneOffs) expect(runsOf(s.id)).toEqual([s.nextRunAt]);
    for (const s of recurring) {
      const dues = runsOf(s.id).map(Date.parse);
      expect(new Set(dues).size).toBe(dues.length);
      // On the interval's grid, one run per step, none skipped or repeated.
      dues.forEach((d, i) => expect(d - Date.parse(s.nextRunAt!)).toBe(i * 1000));
    }
    const total = [...processed.values()].reduce((x, y) => x + y, 0);
    console.log(`two instances: runs processed per instance ${JSON.stringify(Object.fromEntries(processed))}`);
    expect(total).toBeGreaterThanOrEqual(40 + 6);
  });

  it('a duplicated job of the same run (a replay) does not fire it again', async () => {
    const s = await create({ delayMs: 300 });
    const dueMs = Date.parse(s.nextRunAt!);
    // A second job for the very same run, on the other instance's side of the queue.
    await b.s.queue.add('run', { scheduleId: s.id, dueMs, runAtMs: dueMs }, { jobId: `replay-${s.id}`, delay: 300 });
    await until(() => runsOf(s.id).length === 1, 'the run');
    await until(async () => ['completed', 'delayed'].includes(await (await a.s.queue.getJob(`replay-${s.id}`))!.getState()), 'the replayed job to be handled');
    await sleep(300);
    expect(runsOf(s.id)).toEqual([s.nextRunAt]);
  });
});

describe('restart', () => {
  it('schedules survive a restart, and runs due while no scheduler ran follow their missed-run policy', async () => {
    const first = await h.start({ SCHEDULER_MISFIRE_THRESHOLD_MS: String(MISFIRE_MS) });
    const dueAt = new Date(Date.now() + 400).toISOString();
    const fireOnce = await create({ at: dueAt }, { missedRunPolicy: 'fire-once' });
    const skip = await create({ at: dueAt }, { missedRunPolicy: 'skip' });
    const everyFireOnce = await create({ everyMs: 1000 }, { missedRunPolicy: 'fire-once' });
    const everySkip = await create({ everyMs: 1000 }, { missedRunPolicy: 'skip' });
    const later = await create({ delayMs: 60_000 });
    await first.close();

    // Down for several occurrences of the recurring schedules.
    await sleep(2500);
    expect(h.events.fired.filter((e) => [fireOnce, skip, everyFireOnce, everySkip].some((s) => s.id === e.scheduleId))).toEqual([]);
    const restartedAt = Date.now();
    const second = await h.start({ SCHEDULER_MISFIRE_THRESHOLD_MS: String(MISFIRE_MS) });

    await until(async () => (await get(fireOnce.id)).status === 'completed' && (await get(skip.id)).status === 'completed', 'the one-offs to settle');
    await until(() => h.events.of('fired', everySkip.id).length >= 1, 'the skipping schedule to run again on time', 3000);
    await sleep(1200);
    for (const s of [everyFireOnce, everySkip]) await cancel(s.id);

    // fire-once: the missed one-off fires once, late.
    expect(h.events.of('fired', fireOnce.id).map((e) => [e.dueAt, e.late])).toEqual([[dueAt, true]]);
    // skip: the missed one-off does not fire; the schedule completes and says when it skipped.
    expect(h.events.of('fired', skip.id)).toEqual([]);
    expect(h.events.of('skipped', skip.id).map((e) => e.dueAt)).toEqual([dueAt]);
    expect(await get(skip.id)).toMatchObject({ status: 'completed', runCount: 0, lastSkippedAt: expect.any(String) });

    // Recurring fire-once: one late run for all the missed occurrences, never a burst, then on time.
    const fired = h.events.of('fired', everyFireOnce.id);
    expect(fired[0]).toMatchObject({ dueAt: everyFireOnce.nextRunAt, late: true });
    expect(fired.filter((e) => e.late)).toHaveLength(1);
    for (const e of fired.slice(1)) expect(Date.parse(e.dueAt)).toBeGreaterThan(restartedAt);
    // Recurring skip: the missed occurrence is skipped; the runs after the restart are on time.
    expect(h.events.of('skipped', everySkip.id).map((e) => e.dueAt)).toEqual([everySkip.nextRunAt]);
    const skipRuns = h.events.of('fired', everySkip.id);
    expect(skipRuns.every((e) => !e.late && Date.parse(e.dueAt) > restartedAt)).toBe(true);

    // The schedule not yet due survived untouched and is still pending.
    expect(await get(later.id)).toMatchObject({ status: 'active', nextRunAt: later.nextRunAt, runCount: 0 });
    expect(await (await second.s.queue.getJob(`${later.id}-${Date.parse(later.nextRunAt!)}`))?.getState()).toBe('delayed');
    await cancel(later.id);
    await second.close();
  });

  it('a restart requeues an active schedule whose job was lost (the reconciliation)', async () => {
    const first = await h.start();
    const s = await create({ delayMs: 800 });
    await first.s.queue.remove(`${s.id}-${Date.parse(s.nextRunAt!)}`);
    await first.close();
    const second = await h.start();
    await until(() => runsOf(s.id).length === 1, 'the lost run to fire after the restart', 3000);
    expect(runsOf(s.id)).toEqual([s.nextRunAt]);
    await second.close();
  });
});

describe('pause, resume and cancel around runs', () => {
  let inst: Instance;
  beforeAll(async () => {
    inst = await h.start({ SCHEDULER_MISFIRE_THRESHOLD_MS: String(MISFIRE_MS) });
  });
  afterAll(() => inst.close());

  it('cancelling stops every future run; the run in progress finishes', async () => {
    gateway.delayMs = 700;
    const s = await h.bus.request(contracts.scheduleCreate, { accountId: h.accountId, name: 'dialer', when: { everyMs: 1000 }, action: { type: 'outbound_call', agentId: 'sales', to: '+15552220001' } });
    await until(() => gateway.requests.some((r) => r.requestId?.startsWith(s.id)), 'the first run to start dialling', 3000);
    const cancelled = await cancel(s.id);
    expect(cancelled.status).toBe('cancelled');
    await until(() => h.events.of('fired', s.id).length === 1, 'the run in progress to finish');
    gateway.delayMs = 0;
    // Long enough for the next occurrence (one second after the first) and then some.
    await sleep(1600);
    expect(gateway.requests.filter((r) => r.requestId?.startsWith(s.id))).toHaveLength(1);
    expect(await get(s.id)).toMatchObject({ status: 'cancelled', runCount: 1 });
    const pending = await inst.s.queue.getJobs(['delayed', 'waiting']);
    expect(pending.filter((j) => j.data.scheduleId === s.id)).toEqual([]);
  });

  it.each([
    ['fire-once', 1, 'completed'],
    ['skip', 0, 'completed'],
  ] as const)('resuming a one-off whose time passed while paused follows %s', async (policy, runs, status) => {
    const s = await create({ delayMs: 300 }, { missedRunPolicy: policy });
    await h.bus.request(contracts.schedulePause, { accountId: h.accountId, id: s.id });
    await sleep(600);
    expect(runsOf(s.id)).toEqual([]);
    await h.bus.request(contracts.scheduleResume, { accountId: h.accountId, id: s.id });
    await until(async () => (await get(s.id)).status === status, `the schedule to be ${status}`);
    await sleep(200);
    expect(runsOf(s.id)).toHaveLength(runs);
    expect((await get(s.id)).runCount).toBe(runs);
  });
});
