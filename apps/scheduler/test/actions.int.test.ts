import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contracts, ErrorCodes, SwitchboardError, type AccountSettings, type ScheduleCreate } from '@switchboard/contracts';
import { AccountStore } from '@switchboard/session-store';
import { FakeBroker, FakeGateway, Harness, until, type Instance } from './harness.ts';

const h = new Harness();
let inst: Instance;
let accounts: AccountStore;
const gateway = new FakeGateway();
const broker = new FakeBroker();
const RECHECK_MS = 300;
const settings: AccountSettings = { accountId: h.accountId, timeZone: 'UTC', allowedDestinations: ['+1555*'] };

beforeAll(async () => {
  await h.setup('actions.int.test');
  gateway.serve(h.bus);
  broker.serve(h.bus);
  accounts = new AccountStore(h.redis);
  await accounts.put(settings);
  inst = await h.start({ SCHEDULER_OUTBOUND_RECHECK_MS: String(RECHECK_MS), SCHEDULER_ATTEMPTS: '3', SCHEDULER_BACKOFF_MS: '50' });
});

afterEach(async () => {
  gateway.fail = undefined;
  gateway.delayMs = 0;
  broker.isError = false;
  await accounts.put(settings);
});

afterAll(() => h.teardown());

const create = (when: ScheduleCreate['when'], action: ScheduleCreate['action'], name = 'test') => h.bus.request(contracts.scheduleCreate, { accountId: h.accountId, name, when, action });
const get = (id: string) => h.bus.request(contracts.scheduleGet, { accountId: h.accountId, id });
const runId = (s: { id: string; nextRunAt?: string }) => `${s.id}-${Date.parse(s.nextRunAt!)}`;

describe('actions', () => {
  it('publish: puts the payload on the schedule’s subject, once, then completes the schedule', async () => {
    const subject = `evt.reminder.${randomBytes(3).toString('hex')}`;
    const got: unknown[] = [];
    h.bus.nc.subscribe(subject, { callback: (_e, m) => void got.push(m.json()) });
    await h.bus.nc.flush();
    const s = await create({ delayMs: 100 }, { type: 'publish', subject, payload: { orderId: 'ORD-7', items: [1, 2] } });
    await until(() => h.events.of('fired', s.id).length === 1, 'the fired event');
    await until(() => got.length === 1, 'the published event');
    expect(got).toEqual([{ orderId: 'ORD-7', items: [1, 2] }]);
    expect(h.events.of('fired', s.id)[0]).toMatchObject({ scheduleId: s.id, accountId: h.accountId, action: 'publish', dueAt: s.nextRunAt, late: false, runCount: 1 });
    await until(async () => (await get(s.id)).status === 'completed', 'the schedule to complete');
    const done = await get(s.id);
    expect(done).toMatchObject({ status: 'completed', runCount: 1, lastRunAt: expect.any(String) });
    expect(done.nextRunAt).toBeUndefined();
  });

  it('outbound_call: asks the gateway to dial with the run id as requestId', async () => {
    const s = await create({ delayMs: 50 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110001', from: '+15550001234', variables: { plan: 'gold' }, goal: 'Confirm the renewal' });
    await until(() => h.events.of('fired', s.id).length === 1, 'the fired event');
    const req = gateway.requests.find((r) => r.requestId === runId(s));
    expect(req).toEqual({ accountId: h.accountId, agentId: 'sales', to: '+15551110001', from: '+15550001234', variables: { plan: 'gold' }, goal: 'Confirm the renewal', requestId: runId(s) });
    expect(h.events.of('fired', s.id)[0]?.callId).toMatch(/^call-/);
  });

  it('callback: dials with the reason and the customer as prompt variables', async () => {
    const s = await create({ delayMs: 50 }, { type: 'callback', agentId: 'sales', to: '+15551110002', reason: 'invoice question', customer: { id: 'C-9', name: 'Ada' }, variables: { lang: 'en' } });
    await until(() => h.events.of('fired', s.id).length === 1, 'the fired event');
    expect(gateway.requests.find((r) => r.requestId === runId(s))).toEqual({
      accountId: h.accountId,
      agentId: 'sales',
      to: '+15551110002',
      variables: { lang: 'en', callback_reason: 'invoice question', customer_id: 'C-9', customer_name: 'Ada' },
      goal: 'Call back Ada: invoice question',
      requestId: runId(s),
    });
  });

  it("tool_call: calls the tool through the broker with the agent's server entry", async () => {
    const s = await create({ delayMs: 50 }, { type: 'tool_call', agentId: 'sales', server: 'crm', tool: 'log_note', arguments: { lead: 7, note: 'no answer' } });
    await until(() => h.events.of('fired', s.id).length === 1, 'the fired event');
    const id = runId(s);
    expect(broker.requests.find((r) => r.invocationId === id)).toEqual({
      context: { callId: id, agentId: 'sales', accountId: h.accountId },
      server: { name: 'crm', url: 'http://127.0.0.1:9/mcp', transport: 'streamable-http', headers: {}, allowedTools: ['create_lead', 'log_note'], tools: { log_note: { timeoutMs: 4000 } } },
      tool: 'log_note',
      arguments: { lead: 7, note: 'no answer' },
      timeoutMs: 4000,
      invocationId: id,
    });
    expect(h.events.of('fired', s.id)[0]?.toolResult).toEqual({ isError: false, text: 'done log_note' });
  });
});

describe('failures and retries', () => {
  it('a retryable failure is retried with backoff; the last attempt fails the one-off and keeps the job for inspection', async () => {
    gateway.fail = new SwitchboardError(ErrorCodes.DEPENDENCY_UNREACHABLE, 'trunk down');
    const s = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110003' });
    await until(async () => (await get(s.id)).status === 'failed', 'the schedule to fail', 8000);
    expect(h.events.of('failed', s.id).map((e) => [e.attempt, e.final, e.code])).toEqual([
      [1, false, 'DEPENDENCY_UNREACHABLE'],
      [2, false, 'DEPENDENCY_UNREACHABLE'],
      [3, true, 'DEPENDENCY_UNREACHABLE'],
    ]);
    expect(gateway.requests.filter((r) => r.requestId === runId(s))).toHaveLength(3);
    expect((await get(s.id)).lastError).toBe('DEPENDENCY_UNREACHABLE: trunk down');
    const job = await inst.s.queue.getJob(runId(s));
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(3);
    expect(h.events.of('fired', s.id)).toEqual([]);
  });

  it('a failure no retry can fix (carrier refused) fails at once', async () => {
    gateway.fail = new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'number not in service');
    const s = await create({ delayMs: 10 }, { type: 'callback', agentId: 'sales', to: '+15551110004', reason: 'x' });
    await until(async () => (await get(s.id)).status === 'failed', 'the schedule to fail');
    expect(h.events.of('failed', s.id).map((e) => [e.attempt, e.final])).toEqual([[1, true]]);
    expect((await inst.s.queue.getJob(runId(s)))?.failedReason).toBe('CARRIER_FAILED: number not in service');
  });

  it('a run that fails once then succeeds fires once and clears its last error', async () => {
    gateway.fail = new SwitchboardError(ErrorCodes.RATE_LIMITED, 'slow down');
    const s = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110005' });
    await until(() => h.events.of('failed', s.id).length === 1, 'the first failure');
    gateway.fail = undefined;
    await until(async () => (await get(s.id)).status === 'completed', 'the schedule to complete');
    expect(h.events.of('fired', s.id)).toHaveLength(1);
    const done = await get(s.id);
    expect(done.runCount).toBe(1);
    expect(done.lastError).toBeUndefined();
  });

  it('a tool that reports an error fails the run with TOOL_FAILED', async () => {
    broker.isError = true;
    const s = await create({ delayMs: 10 }, { type: 'tool_call', agentId: 'sales', server: 'crm', tool: 'create_lead' });
    await until(async () => (await get(s.id)).status === 'failed', 'the schedule to fail');
    expect(h.events.of('failed', s.id)[0]).toMatchObject({ code: 'TOOL_FAILED', final: true, message: 'tool crm/create_lead failed: {"error":"CRM down","fallback":true}' });
  });

  it('an account time zone Intl does not know fails the run with a clear reason instead of leaving it stuck', async () => {
    await accounts.put({ ...settings, timeZone: 'Mars/Olympus_Mons', callingHours: { start: '09:00', end: '17:00' } });
    const s = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110013' });
    await until(async () => (await get(s.id)).status === 'failed', 'the schedule to fail');
    expect(h.events.of('failed', s.id)).toEqual([
      expect.objectContaining({ code: 'CONFIG_INVALID', final: true, message: `account ${h.accountId}: time zone "Mars/Olympus_Mons" is not an IANA time zone, so its calling hours cannot be applied` }),
    ]);
    expect(gateway.requests.some((r) => r.requestId === runId(s))).toBe(false);
  });

  it('a recurring schedule whose run fails for good stays active and moves to its next occurrence', async () => {
    gateway.fail = new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'busy');
    const s = await create({ everyMs: 1000 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110006' });
    await until(() => h.events.of('failed', s.id).length === 1, 'the failure', 3000);
    await until(async () => (await get(s.id)).nextRunAt !== s.nextRunAt, 'the next occurrence');
    const after = await get(s.id);
    expect(after).toMatchObject({ status: 'active', runCount: 0, lastError: 'CARRIER_FAILED: busy' });
    expect(Date.parse(after.nextRunAt!) - Date.parse(s.nextRunAt!)).toBe(1000);
    await h.bus.request(contracts.scheduleCancel, { accountId: h.accountId, id: s.id });
  });
});

describe('outbound rules per account', () => {
  const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

  it('a call due outside calling hours is moved to the next allowed start, not dropped', async () => {
    const start = Math.ceil((Date.now() + 2 * 3600_000) / 60_000) * 60_000;
    await accounts.put({ ...settings, callingHours: { start: hhmm(start), end: hhmm(start + 3600_000) } });
    const s = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110007' });
    await until(async () => (await get(s.id)).nextRunAt !== s.nextRunAt, 'the run to move');
    expect((await get(s.id)).nextRunAt).toBe(new Date(start).toISOString());
    const job = await inst.s.queue.getJob(runId(s));
    expect(await job?.getState()).toBe('delayed');
    expect(job?.data.runAtMs).toBe(start);
    expect(gateway.requests.some((r) => r.requestId === runId(s))).toBe(false);
    await cancel(s.id);
  });

  const activeSlots = () => h.redis.zcard(`sb:sched:${h.queue}:out:${h.accountId}:active`);
  const cancel = async (id: string) => {
    if ((await get(id)).status === 'active') await h.bus.request(contracts.scheduleCancel, { accountId: h.accountId, id });
  };

  it('counts the calls it placed until they end, limits or not', async () => {
    gateway.endAll(h.bus);
    await until(async () => (await activeSlots()) === 0, 'earlier calls to end');
    const s = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110012' });
    await until(() => h.events.of('fired', s.id).length === 1, 'the call');
    expect(await activeSlots()).toBe(1);
    gateway.endAll(h.bus);
    await until(async () => (await activeSlots()) === 0, 'the call to end and free its slot');
  });

  it('at the concurrent-call cap a due call waits for a slot and dials once a call ends', async () => {
    gateway.endAll(h.bus);
    await until(async () => (await activeSlots()) === 0, 'earlier calls to end');
    await accounts.put({ ...settings, maxConcurrentOutbound: 1 });
    const a = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110008' });
    await until(() => h.events.of('fired', a.id).length === 1, 'the first call');
    const b = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110009' });
    await until(async () => (await get(b.id)).nextRunAt !== b.nextRunAt, 'the second call to wait');
    await new Promise((r) => setTimeout(r, RECHECK_MS * 2));
    expect(gateway.requests.some((r) => r.requestId === runId(b))).toBe(false);
    const endedAt = Date.now();
    h.bus.publish(contracts.callEnded, { callId: h.events.of('fired', a.id)[0]!.callId!, reason: 'caller-hangup', endedAt: new Date().toISOString() });
    await until(() => h.events.of('fired', b.id).length === 1, 'the second call', 3000);
    expect(Date.parse(h.events.of('fired', b.id)[0]!.firedAt)).toBeGreaterThanOrEqual(endedAt);
    expect(h.events.of('fired', b.id)[0]!.late).toBe(false);
  });

  it('pacing: over the per-minute limit a call waits until the minute has room', async () => {
    await accounts.put({ ...settings, outboundPerMinute: 1 });
    // Earlier tests started calls within this minute, so the first call may already have to wait.
    const a = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110010' });
    await until(async () => (await get(a.id)).nextRunAt !== a.nextRunAt || h.events.of('fired', a.id).length === 1, 'the first call to fire or wait');
    const b = await create({ delayMs: 10 }, { type: 'outbound_call', agentId: 'sales', to: '+15551110011' });
    await until(async () => (await get(b.id)).nextRunAt !== b.nextRunAt, 'the second call to wait');
    const movedTo = Date.parse((await get(b.id)).nextRunAt!);
    expect(movedTo - Date.parse(b.nextRunAt!)).toBeGreaterThan(30_000);
    expect(movedTo - Date.now()).toBeLessThanOrEqual(60_001);
    expect(gateway.requests.some((r) => r.requestId === runId(b))).toBe(false);
    for (const s of [a, b]) await cancel(s.id);
  });
});
