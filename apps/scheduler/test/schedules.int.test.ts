import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contracts, SwitchboardError, type ScheduleCreate } from '@switchboard/contracts';
import { AccountStore, ApiKeyStore } from '@switchboard/session-store';
import { nextCronOccurrence } from '../src/schedules/timing.ts';
import { Harness, type Instance } from './harness.ts';

const h = new Harness();
let inst: Instance;
const HOUR = 3600_000;

beforeAll(async () => {
  await h.setup('schedules.int.test');
  inst = await h.start();
  await new AccountStore(h.redis).put({ accountId: h.accountId, timeZone: 'Europe/Berlin', allowedDestinations: ['+1555*'] });
});

afterAll(() => h.teardown());

const publish = (over: Partial<ScheduleCreate> = {}): ScheduleCreate => ({
  accountId: h.accountId,
  name: 'reminder',
  when: { delayMs: HOUR },
  action: { type: 'publish', subject: 'evt.reminder.due', payload: { orderId: 'ORD-1' } },
  ...over,
});

const create = (req: ScheduleCreate) => h.bus.request(contracts.scheduleCreate, req);
const ref = (id: string, accountId = h.accountId) => ({ accountId, id });

async function failure(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof SwitchboardError)) throw new Error(`expected a SwitchboardError, got ${String(err)}`);
  return err;
}

async function jobCount(): Promise<number> {
  const c = await inst.s.queue.getJobCounts('waiting', 'delayed', 'active', 'failed', 'completed');
  return Object.values(c).reduce((a, b) => a + b, 0);
}

describe('schedule operations over NATS', () => {
  it('create stores the schedule and queues its first run as one delayed job named after the run', async () => {
    const before = Date.now();
    const s = await create(publish());
    expect(s).toMatchObject({ accountId: h.accountId, name: 'reminder', status: 'active', runCount: 0, missedRunPolicy: 'fire-once', when: { delayMs: HOUR } });
    expect(s.id).toMatch(/^sch_[0-9a-z]{21}$/);
    const due = Date.parse(s.nextRunAt!);
    expect(due).toBeGreaterThanOrEqual(before + HOUR);
    expect(due).toBeLessThanOrEqual(Date.now() + HOUR);
    const job = await inst.s.queue.getJob(`${s.id}-${due}`);
    expect(await job?.getState()).toBe('delayed');
    expect(job?.data).toEqual({ scheduleId: s.id, dueMs: due, runAtMs: due });
    expect(await h.bus.request(contracts.scheduleGet, ref(s.id))).toEqual(s);
  });

  it('a cron schedule runs at the next occurrence in its time zone', async () => {
    const s = await create(publish({ name: 'morning', when: { cron: '0 9 * * *', timeZone: 'America/New_York' } }));
    const due = Date.parse(s.nextRunAt!);
    expect(due).toBe(nextCronOccurrence('0 9 * * *', 'America/New_York', Date.parse(s.createdAt)));
    const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(due);
    expect(local).toBe('09:00');
  });

  it('the same idempotency key twice returns the existing schedule and queues nothing more', async () => {
    const first = await create(publish({ idempotencyKey: 'order-42-reminder' }));
    const jobs = await jobCount();
    const again = await create(publish({ idempotencyKey: 'order-42-reminder', name: 'renamed' }));
    expect(again).toEqual(first);
    expect(await jobCount()).toBe(jobs);
    // Keys are per account.
    const theirs = await create(publish({ accountId: h.otherAccountId, idempotencyKey: 'order-42-reminder' }));
    expect(theirs.id).not.toBe(first.id);
  });

  it("get, cancel, pause and resume of another account's schedule answer SCHEDULE_NOT_FOUND", async () => {
    const s = await create(publish());
    for (const c of [contracts.scheduleGet, contracts.scheduleCancel, contracts.schedulePause, contracts.scheduleResume]) {
      const err = await failure(h.bus.request(c, ref(s.id, h.otherAccountId)));
      expect(err.code).toBe('SCHEDULE_NOT_FOUND');
    }
    expect((await failure(h.bus.request(contracts.scheduleGet, ref('sch_000000000000000000000')))).code).toBe('SCHEDULE_NOT_FOUND');
  });

  it('pause removes the pending run, resume queues it again, cancel removes it for good', async () => {
    const s = await create(publish());
    const due = Date.parse(s.nextRunAt!);
    const jobId = `${s.id}-${due}`;

    const paused = await h.bus.request(contracts.schedulePause, ref(s.id));
    expect(paused.status).toBe('paused');
    expect(paused.nextRunAt).toBeUndefined();
    expect(await inst.s.queue.getJob(jobId)).toBeUndefined();
    expect((await h.bus.request(contracts.schedulePause, ref(s.id))).status).toBe('paused');

    const resumed = await h.bus.request(contracts.scheduleResume, ref(s.id));
    expect(resumed).toMatchObject({ status: 'active', nextRunAt: s.nextRunAt });
    expect(await (await inst.s.queue.getJob(jobId))?.getState()).toBe('delayed');
    expect((await h.bus.request(contracts.scheduleResume, ref(s.id))).status).toBe('active');

    const cancelled = await h.bus.request(contracts.scheduleCancel, ref(s.id));
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.nextRunAt).toBeUndefined();
    expect(await inst.s.queue.getJob(jobId)).toBeUndefined();
    expect((await h.bus.request(contracts.scheduleCancel, ref(s.id))).status).toBe('cancelled');
  });

  it.each([
    ['resume', contracts.scheduleResume],
    ['pause', contracts.schedulePause],
  ] as const)('%s of a cancelled schedule is SCHEDULE_CONFLICT', async (op, c) => {
    const s = await create(publish());
    await h.bus.request(contracts.scheduleCancel, ref(s.id));
    const err = await failure(h.bus.request(c, ref(s.id)));
    expect(err.code).toBe('SCHEDULE_CONFLICT');
    expect(err.message).toBe(`cannot ${op} schedule ${s.id}: it is cancelled`);
  });

  it('list pages through an account newest first, filters by status, and shows no other account', async () => {
    const acct = `${h.accountId}-list`;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(publish({ accountId: acct, name: `r${i}` }))).id);
    await h.bus.request(contracts.schedulePause, ref(ids[1]!, acct));
    await h.bus.request(contracts.scheduleCancel, ref(ids[3]!, acct));

    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 5; page++) {
      const res = await h.bus.request(contracts.scheduleList, { accountId: acct, limit: 2, ...(cursor ? { cursor } : {}) });
      expect(res.items.length).toBeLessThanOrEqual(2);
      seen.push(...res.items.map((s) => s.id));
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual([...ids].reverse());

    const byStatus = async (status: 'active' | 'paused' | 'cancelled') => (await h.bus.request(contracts.scheduleList, { accountId: acct, status })).items.map((s) => s.id);
    expect(await byStatus('paused')).toEqual([ids[1]]);
    expect(await byStatus('cancelled')).toEqual([ids[3]]);
    expect(await byStatus('active')).toEqual([ids[4], ids[2], ids[0]]);
    expect((await h.bus.request(contracts.scheduleList, { accountId: `${acct}-nobody` })).items).toEqual([]);
    const bad = await failure(h.bus.request(contracts.scheduleList, { accountId: acct, cursor: 'not-a-cursor' }));
    expect(bad.code).toBe('REQUEST_INVALID');
  });
});

describe('bad input gets a clear error and creates nothing', () => {
  const inPast = () => new Date(Date.now() - HOUR).toISOString();
  const cases: Array<[string, () => ScheduleCreate, string, string]> = [
    ['an unknown action', () => publish({ action: { type: 'email', to: 'x' } as never }), 'BUS_INVALID_MESSAGE', '/action/type must be one of outbound_call, callback, publish, tool_call'],
    ['a bad cron', () => publish({ when: { cron: 'every day at 9' } }), 'REQUEST_INVALID', 'when.cron: "every day at 9" must have five or six fields (got 4)'],
    ['a cron with a bad field', () => publish({ when: { cron: '61 * * * *' } }), 'REQUEST_INVALID', 'when.cron: "61 * * * *" is not a valid cron expression'],
    ['a cron that never fires', () => publish({ when: { cron: '0 0 30 2 *' } }), 'REQUEST_INVALID', 'is not a valid cron expression'],
    ['an unknown time zone', () => publish({ when: { cron: '0 9 * * *', timeZone: 'Mars/Olympus' } }), 'REQUEST_INVALID', 'when.timeZone: "Mars/Olympus" is not an IANA time zone'],
    ['a time zone without cron', () => publish({ when: { delayMs: 1000, timeZone: 'UTC' } }), 'REQUEST_INVALID', 'when.timeZone applies only to cron'],
    ['a past time', () => publish({ when: { at: inPast() } }), 'REQUEST_INVALID', 'is in the past'],
    ['a time without an offset', () => publish({ when: { at: '2099-01-01T10:00:00' } }), 'REQUEST_INVALID', 'is not an ISO 8601 time with an offset'],
    ['two kinds of when', () => publish({ when: { delayMs: 1000, everyMs: 60_000 } }), 'REQUEST_INVALID', 'when: give exactly one of at, delayMs, cron, everyMs (got delayMs, everyMs)'],
    ['an interval under a second', () => publish({ when: { everyMs: 10 } }), 'BUS_INVALID_MESSAGE', '/when/everyMs must be >= 1000'],
    ['an unknown agent', () => publish({ action: { type: 'outbound_call', agentId: 'nobody', to: '+15551230000' } }), 'AGENT_NOT_FOUND', 'agent "nobody" not found'],
    ["another account's agent", () => publish({ action: { type: 'callback', agentId: 'theirs', to: '+15551230000', reason: 'x' } }), 'AGENT_NOT_FOUND', 'agent "theirs" not found'],
    ['an oversized payload', () => publish({ action: { type: 'publish', subject: 'evt.big.thing', payload: { blob: 'x'.repeat(70_000) } } }), 'REQUEST_INVALID', 'bytes; the limit is 65536'],
    ['a platform event subject', () => publish({ action: { type: 'publish', subject: 'evt.call.ended', payload: {} } }), 'REQUEST_INVALID', 'scheduled publishes may not use the "call" domain'],
    ['a wildcard subject', () => publish({ action: { type: 'publish', subject: 'evt.>', payload: {} } }), 'BUS_INVALID_MESSAGE', '/action/subject must match pattern'],
    ['an unknown MCP server', () => publish({ action: { type: 'tool_call', agentId: 'sales', server: 'erp', tool: 'x' } }), 'REQUEST_INVALID', 'agent "sales" has no MCP server "erp"'],
    ['a tool outside allowedTools', () => publish({ action: { type: 'tool_call', agentId: 'sales', server: 'crm', tool: 'drop_tables' } }), 'REQUEST_INVALID', '"drop_tables" is not in the allowedTools of server "crm"'],
    ['a destination the account does not allow', () => publish({ action: { type: 'outbound_call', agentId: 'sales', to: '+442071234567' } }), 'AUTH_FORBIDDEN', '+442071234567 is not in the allowed destinations'],
  ];

  it.each(cases)('%s', async (_what, req, code, message) => {
    const jobs = await jobCount();
    const before = (await h.bus.request(contracts.scheduleList, { accountId: h.accountId, limit: 500 })).items.length;
    const err = await failure(create(req()));
    expect(err.code).toBe(code);
    expect(err.message).toContain(message);
    expect((await h.bus.request(contracts.scheduleList, { accountId: h.accountId, limit: 500 })).items.length).toBe(before);
    expect(await jobCount()).toBe(jobs);
  });
});

describe('HTTP /v1/schedules', () => {
  let key: string;
  let otherKey: string;
  let readOnlyKey: string;
  const body = { name: 'call back Ada', when: { delayMs: HOUR }, action: { type: 'publish', subject: 'evt.crm.followup', payload: { lead: 7 } } };

  beforeAll(async () => {
    const keys = new ApiKeyStore(h.redis);
    key = (await keys.create(h.accountId)).key;
    otherKey = (await keys.create(h.otherAccountId)).key;
    readOnlyKey = (await keys.create(h.accountId, ['calls:read'])).key;
  });

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, opts: { key?: string; bearer?: string; payload?: unknown } = {}) =>
    inst.s.app.inject({
      method,
      url,
      headers: { ...(opts.key ? { 'x-api-key': opts.key } : {}), ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}) },
      ...(opts.payload !== undefined ? { payload: opts.payload as object } : {}),
    });

  it.each([
    ['no key', {}, 401, 'AUTH_MISSING_KEY'],
    ['an unknown key', { key: 'sk_nope' }, 401, 'AUTH_INVALID_KEY'],
    ['a key without the schedules scope', { readOnly: true }, 403, 'AUTH_FORBIDDEN'],
  ] as const)('refuses %s', async (_what, k, status, code) => {
    const res = await inject('GET', '/v1/schedules', { key: 'readOnly' in k ? readOnlyKey : 'key' in k ? k.key : undefined });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code, retryable: false });
  });

  it('creates for the key’s account (201), and a replayed idempotency key returns the same schedule (200)', async () => {
    const res = await inject('POST', '/v1/schedules', { key, payload: { ...body, idempotencyKey: 'http-1' } });
    expect(res.statusCode).toBe(201);
    const s = res.json();
    expect(s).toMatchObject({ accountId: h.accountId, status: 'active', name: 'call back Ada' });
    const again = await inject('POST', '/v1/schedules', { bearer: key, payload: { ...body, idempotencyKey: 'http-1' } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(s);
  });

  it("refuses a body naming another account, and hides other accounts' schedules", async () => {
    const res = await inject('POST', '/v1/schedules', { key, payload: { ...body, accountId: h.otherAccountId } });
    expect(res.statusCode).toBe(403);
    expect(res.json().code).toBe('AUTH_FORBIDDEN');
    const mine = (await inject('POST', '/v1/schedules', { key, payload: body })).json();
    const peek = await inject('GET', `/v1/schedules/${mine.id}`, { key: otherKey });
    expect(peek.statusCode).toBe(404);
    expect(peek.json()).toEqual({ code: 'SCHEDULE_NOT_FOUND', message: `no schedule ${mine.id}`, retryable: false });
    const theirList = (await inject('GET', '/v1/schedules', { key: otherKey })).json();
    expect(theirList.items.map((s: { id: string }) => s.id)).not.toContain(mine.id);
    expect((await inject('GET', `/v1/schedules?accountId=${h.otherAccountId}`, { key })).statusCode).toBe(403);
  });

  it('lists with status, limit and cursor', async () => {
    const page = await inject('GET', '/v1/schedules?status=active&limit=1', { key });
    expect(page.statusCode).toBe(200);
    const first = page.json();
    expect(first.items).toHaveLength(1);
    expect(first.nextCursor).toEqual(expect.any(String));
    const next = (await inject('GET', `/v1/schedules?status=active&limit=1&cursor=${first.nextCursor}`, { key })).json();
    expect(next.items[0].id).not.toBe(first.items[0].id);
    expect((await inject('GET', '/v1/schedules?status=bogus', { key })).statusCode).toBe(400);
    expect((await inject('GET', '/v1/schedules?limit=many', { key })).json().code).toBe('REQUEST_INVALID');
  });

  it('pauses, resumes and cancels (POST /:id/<op>, DELETE /:id); a conflict is 409', async () => {
    const s = (await inject('POST', '/v1/schedules', { key, payload: body })).json();
    expect((await inject('POST', `/v1/schedules/${s.id}/pause`, { key })).json().status).toBe('paused');
    expect((await inject('POST', `/v1/schedules/${s.id}/resume`, { key })).json().status).toBe('active');
    expect((await inject('GET', `/v1/schedules/${s.id}`, { key })).json().status).toBe('active');
    expect((await inject('DELETE', `/v1/schedules/${s.id}`, { key })).json().status).toBe('cancelled');
    const conflict = await inject('POST', `/v1/schedules/${s.id}/resume`, { key });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('SCHEDULE_CONFLICT');
    expect((await inject('POST', `/v1/schedules/${s.id}/cancel`, { key })).json().status).toBe('cancelled');
  });

  it.each([
    ['a bad cron', { ...body, when: { cron: 'nope nope' } }, 400, 'REQUEST_INVALID', 'five or six fields'],
    ['an unknown action', { ...body, action: { type: 'fax' } }, 400, 'REQUEST_INVALID', '/action/type must be one of'],
    ['an unknown agent', { ...body, action: { type: 'outbound_call', agentId: 'ghost', to: '+15550000001' } }, 404, 'AGENT_NOT_FOUND', 'agent "ghost" not found'],
    ['a body that is not an object', [1, 2], 400, 'REQUEST_INVALID', 'a JSON object is required'],
  ])('answers %s with an error envelope', async (_what, payload, status, code, message) => {
    const res = await inject('POST', '/v1/schedules', { key, payload });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code, retryable: false });
    expect(res.json().message).toContain(message);
  });
});
