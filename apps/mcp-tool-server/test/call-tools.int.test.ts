import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contracts, ErrorCodes, SwitchboardError, type CallToolRequest, type DialRequest, type ListenRequest, type Schedule, type ScheduleCreate, type SpeakRequest } from '@switchboard/contracts';
import { AccountStore, CallStore } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import { agent, Clients, liveCall, startFixture, type Fixture } from './fixture.ts';

/**
 * Outbound calls (make_phone_call, get_call, get_transcript) and the agtOS tools (voice.*, system.health,
 * session.status, workflow.*, schedule.*) over real HTTP, with small fake gateway, orchestrator,
 * scheduler and broker handlers on the bus.
 */

let fx: Fixture;
const clients = new Clients(() => fx.url);
const subs: Array<{ unsubscribe(): void }> = [];

const h = (extra: Record<string, string> = {}) => ({ 'X-API-Key': fx.key, account_id: fx.account, persona_id: 'front-desk', ...extra });
const otherH = (extra: Record<string, string> = {}) => ({ 'X-API-Key': fx.otherKey, account_id: fx.other, persona_id: 'other-desk', ...extra });

async function fake(sub: { unsubscribe(): void }): Promise<void> {
  subs.push(sub);
  await fx.probe.nc.flush();
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`call-tools.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  fx = await startFixture({
    agents: (a, o) => [
      agent('front-desk', a, { mcpServers: [{ name: 'orders', url: 'http://127.0.0.1:3901/mcp', headers: { 'X-Call': '{{call.id}}' } }] }),
      agent('closer', a),
      agent('other-desk', o),
    ],
    workflows: (a, o) => [
      {
        name: 'qualify',
        description: 'Ask what the caller wants and log a lead',
        accountId: a,
        input: { type: 'object', required: ['topic'], properties: { topic: { type: 'string' } } },
        steps: [
          { id: 'ask', speak: 'Are you calling about {{input.topic}}?' },
          { id: 'answer', listen: { timeoutMs: 4000 } },
          { id: 'route', branch: { value: '{{steps.answer.text}}', cases: [{ contains: 'yes', goto: 'lead' }], default: 'bye' } },
          { id: 'lead', tool: { name: 'create_lead', arguments: { name: 'Caller', intent: '{{input.topic}}', notes: '{{steps.answer.text}}' } } },
          { id: 'bye', speak: 'Thanks, goodbye.' },
        ],
      },
      { name: 'health-check', description: 'Shared by every account', steps: [{ id: 'h', tool: { name: 'system.health' } }] },
      { name: 'orders-lookup', accountId: a, steps: [{ id: 'o', tool: { server: 'orders', name: 'check_order_status', arguments: { order_id: '{{input.order}}' } } }] },
      { name: 'theirs', accountId: o, steps: [{ id: 's', speak: 'hello' }] },
    ],
  });
  await new AccountStore(fx.redis).put({ accountId: fx.account, timeZone: 'Europe/Berlin', allowedDestinations: ['+1555987*'] });
});

afterEach(async () => {
  for (const s of subs.splice(0)) s.unsubscribe();
  await clients.closeAll();
});

afterAll(async () => {
  await fx?.close();
});

describe('make_phone_call', () => {
  it('normalises the number, checks it and asks the gateway to dial; returns the call id', async () => {
    const got: DialRequest[] = [];
    await fake(fx.probe.handle(contracts.dial, (req) => (got.push(req), { callId: 'call_dialled_1', status: 'queued' as const })));
    const r = await clients.call(h(), 'make_phone_call', { phone_number: '(555) 987-0001', goal: 'Confirm the delivery', first_message: 'Hi, this is Acme', max_duration_sec: 120 });
    expect(r).toMatchObject({ isError: false, text: 'Calling +15559870001: call call_dialled_1 is queued', structured: { callId: 'call_dialled_1', status: 'queued', to: '+15559870001', agentId: 'front-desk' } });
    expect(got).toEqual([{ accountId: fx.account, agentId: 'front-desk', to: '+15559870001', goal: 'Confirm the delivery', firstMessage: 'Hi, this is Acme', maxDurationSec: 120 }]);
  });

  it('runs the call with another agent of the account', async () => {
    const got: DialRequest[] = [];
    await fake(fx.probe.handle(contracts.dial, (req) => (got.push(req), { callId: 'call_dialled_2', status: 'ringing' as const })));
    expect((await clients.call(h(), 'make_phone_call', { phone_number: '+15559870002', agent_id: 'closer' })).structured).toMatchObject({ agentId: 'closer', status: 'ringing' });
    expect(got[0]?.agentId).toBe('closer');
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a number outside the allowed destinations', { phone_number: '+15551234567' }, '+15551234567 is not an allowed outbound destination for this account'],
    ["another account's agent", { phone_number: '+15559870001', agent_id: 'other-desk' }, 'No agent other-desk in this account'],
    ['an unknown agent', { phone_number: '+15559870001', agent_id: 'ghost' }, 'No agent ghost in this account'],
    ['something that is no phone number', { phone_number: 'call mom' }, 'call mom is not a valid phone number'],
  ])('refuses %s without dialling', async (_n, args, text) => {
    let asked = 0;
    await fake(fx.probe.handle(contracts.dial, () => (asked++, { callId: 'x', status: 'queued' as const })));
    expect(await clients.call(h(), 'make_phone_call', args)).toMatchObject({ isError: true, text });
    expect(asked).toBe(0);
  });

  it('refuses a max_duration_sec out of range', async () => {
    expect(await clients.call(h(), 'make_phone_call', { phone_number: '+15559870001', max_duration_sec: 5 })).toMatchObject({ isError: true, text: expect.stringMatching(/Input validation error/) });
  });

  it('names the gateway when none answers', async () => {
    expect(await clients.call(h(), 'make_phone_call', { phone_number: '+15559870001' })).toMatchObject({ isError: true, text: 'The media gateway is not reachable' });
  });

  it("passes on the gateway's own refusal", async () => {
    await fake(fx.probe.handle(contracts.dial, () => Promise.reject(new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'Twilio refused the call: invalid From number'))));
    expect(await clients.call(h(), 'make_phone_call', { phone_number: '+15559870001' })).toMatchObject({ isError: true, text: 'Twilio refused the call: invalid From number' });
  });
});

describe('get_call, get_transcript, session.status', () => {
  it('reads a call of this account with its transcript', async () => {
    const callId = await liveCall(fx, fx.account, { startedAt: new Date(Date.now() - 65_000).toISOString(), orchestrator: 'orch-1' });
    const store = new CallStore(fx.redis);
    await store.append(callId, { role: 'agent', text: 'Hi, this is Acme.', at: new Date().toISOString() });
    await store.append(callId, { role: 'caller', text: 'Where is my order?', at: new Date().toISOString() });
    await store.append(callId, { role: 'tool', text: 'shipped', at: new Date().toISOString(), tool: { server: 'orders', name: 'check_order_status', arguments: { id: 1 }, result: 'shipped', isError: false, latencyMs: 42 } });
    await store.append(callId, { role: 'agent', text: 'It has shipped and', at: new Date().toISOString(), interrupted: true });

    const call = await clients.call(h(), 'get_call', { call_id: callId });
    expect(call.structured).toMatchObject({ callId, agentId: 'front-desk', direction: 'inbound', from: '+15557654321', state: 'active' });
    expect((call.structured as { durationS: number }).durationS).toBeGreaterThanOrEqual(64);

    const t = await clients.call(h(), 'get_transcript', { call_id: callId });
    expect(t.text).toBe('agent: Hi, this is Acme.\ncaller: Where is my order?\ntool: shipped\nagent: It has shipped and [interrupted]');
    expect((t.structured as { entries: unknown[] }).entries[2]).toMatchObject({ role: 'tool', tool: { server: 'orders', name: 'check_order_status', isError: false, latencyMs: 42 } });

    await store.end(callId, 'caller-hangup');
    const status = await clients.call(h({ call_id: callId }), 'session.status');
    expect(status.structured).toMatchObject({ callId, state: 'ended', endReason: 'caller-hangup', turns: 4, orchestrator: 'orch-1' });
    expect(status.text).toMatch(new RegExp(`^Call ${callId} is ended: 4 transcript lines`));
  });

  it.each(['get_call', 'get_transcript', 'session.status'])("%s refuses another account's call like a missing one", async (tool) => {
    const theirs = await liveCall(fx, fx.other);
    expect(await clients.call(h(), tool, { call_id: theirs })).toMatchObject({ isError: true, text: `No call ${theirs} in this account` });
    expect(await clients.call(h(), tool, { call_id: 'call_never' })).toMatchObject({ isError: true, text: 'No call call_never in this account' });
  });

  it('session.status needs a call', async () => {
    expect(await clients.call(h(), 'session.status')).toMatchObject({ isError: true, text: 'Give call_id, or send the call_id header' });
  });
});

describe('voice.speak and voice.listen', () => {
  it('speaks on the call through the orchestrator that runs it', async () => {
    const callId = await liveCall(fx, fx.account);
    const got: SpeakRequest[] = [];
    await fake(fx.probe.handle(contracts.speak, (req) => (got.push(req), { ok: true, durationMs: 1250 }), { param: callId }));
    const r = await clients.call(h({ call_id: callId }), 'voice.speak', { text: 'One moment please.', interrupt: true });
    expect(r).toMatchObject({ isError: false, text: `Said it on call ${callId} (1.3 s of audio)`, structured: { ok: true, durationMs: 1250 } });
    expect(got).toEqual([{ text: 'One moment please.', interrupt: true }]);
  });

  it("returns the caller's next utterance, or that nothing was said", async () => {
    const callId = await liveCall(fx, fx.account);
    const asked: ListenRequest[] = [];
    const answers = [{ text: 'I want a refund', timedOut: false }, { timedOut: true }];
    await fake(fx.probe.handle(contracts.listen, async (req) => (asked.push(req), await new Promise((r) => setTimeout(r, 50)), answers.shift()!), { param: callId }));
    expect(await clients.call(h({ call_id: callId }), 'voice.listen', { timeout_ms: 5000 })).toMatchObject({ isError: false, text: 'I want a refund', structured: { text: 'I want a refund', timedOut: false } });
    expect(await clients.call(h({ call_id: callId }), 'voice.listen', { timeout_ms: 800 })).toMatchObject({ isError: false, text: 'The caller said nothing within 800 ms', structured: { timedOut: true } });
    expect(asked).toEqual([{ timeoutMs: 5000 }, { timeoutMs: 800 }]);
  });

  it.each(['voice.speak', 'voice.listen'])('%s names the orchestrator when none runs the call', async (tool) => {
    const callId = await liveCall(fx, fx.account);
    const args = tool === 'voice.speak' ? { text: 'hello' } : { timeout_ms: 500 };
    expect(await clients.call(h({ call_id: callId }), tool, args)).toMatchObject({ isError: true, text: `The agent orchestrator is not reachable for call ${callId}` });
  });

  it.each(['voice.speak', 'voice.listen'])("%s refuses another account's call", async (tool) => {
    const theirs = await liveCall(fx, fx.other);
    let asked = 0;
    await fake(fx.probe.handle(contracts.speak, () => (asked++, { ok: true }), { param: theirs }));
    const args = tool === 'voice.speak' ? { text: 'hello' } : { timeout_ms: 500 };
    expect(await clients.call(h({ call_id: theirs }), tool, args)).toMatchObject({ isError: true, text: `No call ${theirs} in this account` });
    expect(asked).toBe(0);
  });
});

describe('system.health', () => {
  it("gathers each service's instances from the bus and names the ones that are down", async () => {
    await fake(fx.probe.handle(contracts.health, () => ({ service: 'media-gateway', instanceId: 'gw-1', status: 'ok' as const, uptimeS: 12 }), { param: 'media-gateway', queue: false }));
    await fake(fx.probe.handle(contracts.health, () => ({ service: 'scheduler', instanceId: 'sch-1', status: 'degraded' as const }), { param: 'scheduler', queue: false }));
    const r = await clients.call(h(), 'system.health');
    const byName = Object.fromEntries((r.structured as { services: Array<{ service: string; status: string; instances: unknown[] }> }).services.map((s) => [s.service, s]));
    expect(r.structured).toMatchObject({ status: 'degraded' });
    expect(byName['media-gateway']).toEqual({ service: 'media-gateway', status: 'ok', instances: [{ instanceId: 'gw-1', status: 'ok', uptimeS: 12 }] });
    expect(byName.scheduler).toMatchObject({ status: 'degraded' });
    expect(byName['agent-orchestrator']).toEqual({ service: 'agent-orchestrator', status: 'down', instances: [] });
    expect(byName['mcp-tool-server']).toMatchObject({ status: 'ok' });
    expect(r.text).toMatch(/^media-gateway: ok \(1 instance\)\nagent-orchestrator: down \(no instance answered\)/);
  });
});

describe('schedule.create, schedule.list, schedule.cancel', () => {
  /** A fake scheduler that keeps schedules per account, as the real one does. */
  async function fakeScheduler(): Promise<ScheduleCreate[]> {
    const created: ScheduleCreate[] = [];
    const store = new Map<string, Schedule>();
    await fake(
      fx.probe.handle(contracts.scheduleCreate, (req) => {
        created.push(req);
        const s: Schedule = { id: `sch_${store.size + 1}`, accountId: req.accountId, name: req.name, status: 'active', when: req.when, action: req.action, runCount: 0, createdAt: new Date().toISOString(), nextRunAt: '2030-01-01T08:00:00.000Z' };
        store.set(s.id, s);
        return s;
      }),
    );
    await fake(fx.probe.handle(contracts.scheduleList, (req) => ({ items: [...store.values()].filter((s) => s.accountId === req.accountId && (!req.status || s.status === req.status)) })));
    await fake(
      fx.probe.handle(contracts.scheduleCancel, (req) => {
        const s = store.get(req.id);
        if (!s || s.accountId !== req.accountId) throw new SwitchboardError(ErrorCodes.SCHEDULE_NOT_FOUND, `No schedule ${req.id} in this account`);
        s.status = 'cancelled';
        return s;
      }),
    );
    return created;
  }

  it.each<[string, Record<string, unknown>, ScheduleCreate['when']]>([
    ['once at a time', { schedule_type: 'once', at: '2030-01-01T09:00:00+01:00' }, { at: '2030-01-01T09:00:00+01:00' }],
    ['once after a delay', { schedule_type: 'once', delay_ms: 60000 }, { delayMs: 60000 }],
    ['on a cron in the account time zone', { schedule_type: 'cron', cron: '0 9 * * 1-5' }, { cron: '0 9 * * 1-5', timeZone: 'Europe/Berlin' }],
    ['on a cron in a given zone', { schedule_type: 'cron', cron: '0 9 * * 1-5', time_zone: 'Asia/Tokyo' }, { cron: '0 9 * * 1-5', timeZone: 'Asia/Tokyo' }],
    ['every interval', { schedule_type: 'interval', interval_ms: 3_600_000 }, { everyMs: 3_600_000 }],
  ])('creates a schedule %s', async (_n, when, expected) => {
    const created = await fakeScheduler();
    const r = await clients.call(h(), 'schedule.create', { name: 'Reminder', ...when, action: { type: 'publish', subject: 'evt.reminder.due', payload: { n: 1 } } });
    expect(r).toMatchObject({ isError: false, structured: { schedule: { id: 'sch_1', name: 'Reminder', status: 'active', action: 'publish', runCount: 0 } } });
    expect(created).toEqual([{ accountId: fx.account, name: 'Reminder', when: expected, action: { type: 'publish', subject: 'evt.reminder.due', payload: { n: 1 } } }]);
  });

  it.each<[string, Record<string, unknown>, ScheduleCreate['action']]>([
    ['an outbound call (number normalised, agent defaulted)', { type: 'outbound_call', phone_number: '555-987-0003', goal: 'Remind about the appointment' }, { type: 'outbound_call', agentId: 'front-desk', to: '+15559870003', goal: 'Remind about the appointment' }],
    ['a callback', { type: 'callback', phone_number: '+15559870004', reason: 'Asked to be called back', customer_name: 'Ann', agent_id: 'closer' }, { type: 'callback', agentId: 'closer', to: '+15559870004', reason: 'Asked to be called back', customer: { name: 'Ann' } }],
    ['a tool call', { type: 'tool_call', server: 'orders', tool: 'sync', arguments: { full: true } }, { type: 'tool_call', agentId: 'front-desk', server: 'orders', tool: 'sync', arguments: { full: true } }],
  ])('schedules %s', async (_n, action, expected) => {
    const created = await fakeScheduler();
    const r = await clients.call(h(), 'schedule.create', { name: 'Job', schedule_type: 'once', delay_ms: 1000, action, idempotency_key: 'k-1' });
    expect(r.isError).toBe(false);
    expect(created[0]).toEqual({ accountId: fx.account, name: 'Job', when: { delayMs: 1000 }, action: expected, idempotencyKey: 'k-1' });
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['once with both at and delay_ms', { schedule_type: 'once', at: '2030-01-01T09:00:00Z', delay_ms: 5, action: { type: 'publish', subject: 'evt.x.y' } }, /^A once schedule needs exactly one of at and delay_ms$/],
    ['cron without an expression', { schedule_type: 'cron', action: { type: 'publish', subject: 'evt.x.y' } }, /^A cron schedule needs cron$/],
    ['a call to a number outside the allowed destinations', { schedule_type: 'once', delay_ms: 5, action: { type: 'outbound_call', phone_number: '+15551112222' } }, /^\+15551112222 is not an allowed outbound destination/],
    ["another account's agent", { schedule_type: 'once', delay_ms: 5, action: { type: 'tool_call', server: 's', tool: 't', agent_id: 'other-desk' } }, /^No agent other-desk in this account$/],
    ['a publish outside evt.', { schedule_type: 'once', delay_ms: 5, action: { type: 'publish', subject: 'cmd.media-gateway.dial' } }, /Input validation error/],
  ])('refuses %s before asking the scheduler', async (_n, args, text) => {
    const created = await fakeScheduler();
    expect(await clients.call(h(), 'schedule.create', { name: 'Bad', ...args })).toMatchObject({ isError: true, text: expect.stringMatching(text) });
    expect(created).toEqual([]);
  });

  it('lists and cancels only this account’s schedules', async () => {
    await fakeScheduler();
    const mine = await clients.call(h(), 'schedule.create', { name: 'Mine', schedule_type: 'once', delay_ms: 5, action: { type: 'publish', subject: 'evt.a.b' } });
    const theirs = await clients.call(otherH(), 'schedule.create', { name: 'Theirs', schedule_type: 'once', delay_ms: 5, action: { type: 'publish', subject: 'evt.a.b' } });
    const listed = await clients.call(h(), 'schedule.list');
    expect((listed.structured as { schedules: Array<{ name: string }> }).schedules.map((s) => s.name)).toEqual(['Mine']);
    const theirId = (theirs.structured as { schedule: { id: string } }).schedule.id;
    expect(await clients.call(h(), 'schedule.cancel', { schedule_id: theirId })).toMatchObject({ isError: true, text: `No schedule ${theirId} in this account` });
    const myId = (mine.structured as { schedule: { id: string } }).schedule.id;
    expect(await clients.call(h(), 'schedule.cancel', { schedule_id: myId })).toMatchObject({ isError: false, structured: { schedule: { id: myId, status: 'cancelled' } } });
  });

  it.each<[string, Record<string, unknown>]>([
    ['schedule.create', { name: 'X', schedule_type: 'once', delay_ms: 5, action: { type: 'publish', subject: 'evt.a.b' } }],
    ['schedule.list', {}],
    ['schedule.cancel', { schedule_id: 'sch_1' }],
  ])('%s says so when the scheduler is down', async (tool, args) => {
    expect(await clients.call(h(), tool, args)).toMatchObject({ isError: true, text: 'The scheduler is not reachable' });
  });
});

describe('workflow.list and workflow.run', () => {
  it("lists the account's own workflows and the shared ones, never another account's", async () => {
    const r = await clients.call(h(), 'workflow.list');
    expect((r.structured as { workflows: Array<{ name: string }> }).workflows.map((w) => w.name)).toEqual(['health-check', 'orders-lookup', 'qualify']);
    const theirs = await clients.call(otherH(), 'workflow.list');
    expect((theirs.structured as { workflows: Array<{ name: string }> }).workflows.map((w) => w.name)).toEqual(['health-check', 'theirs']);
    expect(await clients.call(h(), 'workflow.run', { name: 'theirs' })).toMatchObject({ isError: true, text: 'No workflow theirs in this account (see workflow.list)' });
  });

  it('speaks, listens, branches and calls a Switchboard tool in-process', async () => {
    const callId = await liveCall(fx, fx.account, { from: '+15557778888' });
    const said: string[] = [];
    await fake(fx.probe.handle(contracts.speak, (req) => (said.push(req.text), { ok: true }), { param: callId }));
    await fake(fx.probe.handle(contracts.listen, () => ({ text: 'Yes, about my invoice', timedOut: false }), { param: callId }));
    const r = await clients.call(h({ call_id: callId }), 'workflow.run', { name: 'qualify', input: { topic: 'billing' } });
    expect(r.isError).toBe(false);
    expect(r.structured).toMatchObject({ workflow: 'qualify', status: 'completed' });
    const steps = (r.structured as { steps: Array<{ id: string; ok: boolean; text: string }> }).steps;
    expect(steps.map((s) => s.id)).toEqual(['ask', 'answer', 'route', 'lead', 'bye']);
    expect(steps[3]?.text).toMatch(/^Lead created \(lead_/);
    expect(said).toEqual(['Are you calling about billing?', 'Thanks, goodbye.']);
    const leads = await fx.services.leads.list(fx.account);
    expect(leads.find((l) => l.phoneNumber === '+15557778888')?.cases[0]).toMatchObject({ intent: 'billing', notes: 'Yes, about my invoice', callId });
  });

  it('fails at a speak step without a call, naming why', async () => {
    const r = await clients.call(h(), 'workflow.run', { name: 'qualify', input: { topic: 'x' } });
    expect(r).toMatchObject({ isError: true, structured: { status: 'failed', error: 'step ask failed: This tool acts on a call: the call_id header is required' } });
  });

  it('checks the input against the workflow input schema', async () => {
    expect(await clients.call(h(), 'workflow.run', { name: 'qualify', input: {} })).toMatchObject({ isError: true, text: "Invalid input for workflow qualify: input must have required property 'topic'" });
  });

  it('calls a tool of the persona MCP server through the broker', async () => {
    const got: CallToolRequest[] = [];
    await fake(fx.probe.handle(contracts.callTool, (req) => (got.push(req), { isError: false, text: 'ORD-7 shipped', latencyMs: 3 })));
    const r = await clients.call(h(), 'workflow.run', { name: 'orders-lookup', input: { order: 'ORD-7' } });
    expect(r).toMatchObject({ isError: false, structured: { status: 'completed', steps: [{ id: 'o', type: 'tool', ok: true, text: 'ORD-7 shipped' }] } });
    expect(got[0]).toMatchObject({ context: { agentId: 'front-desk', accountId: fx.account }, server: { name: 'orders', url: 'http://127.0.0.1:3901/mcp', transport: 'streamable-http' }, tool: 'check_order_status', arguments: { order_id: 'ORD-7' } });
  });

  it('names the broker when it is down', async () => {
    expect(await clients.call(h(), 'workflow.run', { name: 'orders-lookup', input: { order: '1' } })).toMatchObject({ isError: true, structured: { status: 'failed', error: 'step o failed: The MCP broker is not reachable' } });
  });

  it('runs a shared workflow with a read-only tool', async () => {
    const r = await clients.call(h(), 'workflow.run', { name: 'health-check' });
    expect(r).toMatchObject({ isError: false, structured: { status: 'completed' } });
    expect((r.structured as { steps: Array<{ text: string }> }).steps[0]?.text).toMatch(/mcp-tool-server: ok/);
  });
});
