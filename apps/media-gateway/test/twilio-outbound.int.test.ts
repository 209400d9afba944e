import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import twilio from 'twilio';
import { Bus } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { DIAL_VARIABLES, ErrorCodes, SwitchboardError, contracts } from '@switchboard/contracts';
import type { CallAnswered, CallDtmfReceived, CallEnded, CallRinging, CallStarted, DialReply, DialRequest } from '@switchboard/contracts';
import { AccountStore } from '@switchboard/session-store';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { FakeTwilioRest, StreamHandshakeError, TwilioStreamCaller, infraUrls } from '@switchboard/testing';
import type { FakeTwilioCall } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import type { Gateway } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { signStreamToken } from '../src/adapters/stream-token.ts';

/**
 * Outbound calls and Twilio call control end to end over real sockets: `cmd.media-gateway.dial` on
 * NATS → the official twilio client → the fake Twilio REST server → (as Twilio) signed status
 * callbacks and voice webhook to the gateway → TwiML → a Twilio media stream → lifecycle events on
 * JetStream; hang-up and transfer back through the REST API.
 */

const AGENTS_DIR = fileURLToPath(new URL('../../../config/agents', import.meta.url));
const PUBLIC_URL = 'https://gw.example.test';
const STREAM_SECRET = 'outbound-test-stream-secret-0123456789';
const INSTANCE = 'gw-outbound-test';
/** Accounts of this run only: settings written here cannot meet another test's. */
const RUN = randomBytes(4).toString('hex');
const ACCOUNT = `acct-dial-${RUN}`;
const OTHER_ACCOUNT = `acct-other-${RUN}`;
const AGENT_NUMBER = '+15550003333';
const CALLEE = '+15557650001';

const log = createLogger('media-gateway-test', 'silent');
let bus: Bus;
let probe: Bus;
let redis: Redis;
let gw: Gateway;
let fake: FakeTwilioRest;
let address = '';

const started: CallStarted[] = [];
const ended: CallEnded[] = [];
const answered: CallAnswered[] = [];
const ringing: CallRinging[] = [];
const dtmf: CallDtmfReceived[] = [];
const claims: CallStarted[] = [];
/** Calls this test placed: the only ones its stand-in orchestrator claims (other test files may share the NATS). */
const ours = new Set<string>();
const callers: TwilioStreamCaller[] = [];

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function failure(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwitchboardError);
  return err as SwitchboardError;
}

async function dial(req: Partial<DialRequest> = {}): Promise<DialReply> {
  const reply = await probe.request(contracts.dial, { accountId: ACCOUNT, agentId: 'dialer', to: CALLEE, ...req }, { timeoutMs: 8000 });
  ours.add(reply.callId);
  return reply;
}

/** Dials, lets the fake callee pick up and open the media stream; resolves once the call has started. */
async function dialAndAnswer(req: Partial<DialRequest> = {}): Promise<{ reply: DialReply; call: FakeTwilioCall; caller: TwilioStreamCaller }> {
  const reply = await dial(req);
  const call = fake.calls.get(reply.carrierCallId!)!;
  const result = await fake.answer(call.sid, { connect: true });
  expect(result.status).toBe(200);
  const caller = result.caller!;
  callers.push(caller);
  await until(() => started.some((s) => s.callId === reply.callId), `evt.call.started for ${reply.callId}`);
  return { reply, call, caller };
}

/** POSTs a status callback as Twilio would, signed over the public URL. */
function statusCallback(form: Record<string, string>, query = '', signature?: string) {
  const url = `${PUBLIC_URL}/twilio/status${query}`;
  return gw.app.inject({
    method: 'POST',
    url: `/twilio/status${query}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature ?? twilio.getExpectedTwilioSignature(fake.authToken, url, form) },
    payload: new URLSearchParams(form).toString(),
  });
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`twilio-outbound.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-outbound-test', log });
  probe = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-outbound-test-probe', log });
  redis = await connectRedis(infra.redisUrl, { name: 'media-gateway-outbound-test' });
  const [demo] = await loadAgents(AGENTS_DIR, {});
  const agents = new AgentRegistry([
    { ...demo!, id: 'dialer', accountId: ACCOUNT, phoneNumbers: [AGENT_NUMBER] },
    { ...demo!, id: 'other', accountId: OTHER_ACCOUNT, phoneNumbers: ['+15550004444'] },
    { ...demo!, id: 'mute', accountId: ACCOUNT, phoneNumbers: [] },
  ]);
  const accounts = new AccountStore(redis);
  await accounts.put({ accountId: ACCOUNT, timeZone: 'UTC', allowedDestinations: ['+1555765*'] });

  fake = await FakeTwilioRest.start();
  const config = loadConfig({
    PUBLIC_URL,
    AGENTS_DIR,
    STREAM_TOKEN_SECRET: STREAM_SECRET,
    TWILIO_AUTH_TOKEN: fake.authToken,
    TWILIO_ACCOUNT_SID: fake.accountSid,
    TWILIO_API_BASE_URL: fake.url,
    DIAL_RING_TIMEOUT_S: '25',
    LOG_LEVEL: 'silent',
  });
  gw = await buildApp({ config, bus, redis, agents, log, instanceId: INSTANCE });
  address = await gw.app.listen({ port: 0, host: '127.0.0.1' });
  // Twilio is configured with the public URL; the fake delivers to where the gateway listens.
  fake.deliverTo = address;

  const others = await probe.requestAll(contracts.health, {}, { param: 'media-gateway', maxWaitMs: 300 });
  if (others.some((o) => o.instanceId !== INSTANCE)) throw new Error(`other media-gateway instances share this NATS (${others.map((o) => o.instanceId).join(', ')}): they would take this test's dial requests`);

  probe.handle(contracts.startSession, (req) => {
    if (!ours.has(req.callId)) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, 'not a call of this test', { retryable: true });
    claims.push(req);
    return { callId: req.callId, instanceId: 'fake-orchestrator' };
  });
  probe.subscribe(contracts.callStarted, (e) => void started.push(e), { queue: false });
  probe.subscribe(contracts.callEnded, (e) => void ended.push(e), { queue: false });
  probe.subscribe(contracts.callAnswered, (e) => void answered.push(e), { queue: false });
  probe.subscribe(contracts.callRinging, (e) => void ringing.push(e), { queue: false });
  probe.subscribe(contracts.callDtmfReceived, (e) => void dtmf.push(e), { queue: false });
  await probe.nc.flush();
});

afterEach(async () => {
  await Promise.all(callers.splice(0).map((c) => c.hangup()));
});

afterAll(async () => {
  await gw?.app.close();
  await fake?.close();
  await redis?.del(`sb:account:${ACCOUNT}`);
  await probe?.drain(2000);
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('cmd.media-gateway.dial', () => {
  it('creates the call through the Twilio REST API with the webhook, status callbacks, ring timeout and time limit', async () => {
    const reply = await dial({ maxDurationSec: 300 });
    expect(reply).toEqual({ callId: expect.stringMatching(/^call_[A-Za-z0-9]{16}$/), status: 'queued', carrier: 'twilio', carrierCallId: expect.stringMatching(/^CA[0-9a-f]{32}$/) });
    const call = fake.calls.get(reply.carrierCallId!)!;
    expect(call.forms[0]).toEqual({
      To: CALLEE,
      From: AGENT_NUMBER,
      Url: `${PUBLIC_URL}/twilio/voice?callId=${reply.callId}`,
      Method: 'POST',
      StatusCallback: `${PUBLIC_URL}/twilio/status?callId=${reply.callId}`,
      StatusCallbackMethod: 'POST',
      StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      Timeout: '25',
      TimeLimit: '300',
    });
    await fake.finish(call.sid, 'no-answer');
  });

  it('a dialled call answers, streams, and starts with its identity and variables (goal, firstMessage as reserved names)', async () => {
    const { reply, call, caller } = await dialAndAnswer({
      variables: { customer_name: 'Ana' },
      goal: 'Confirm the delivery slot',
      firstMessage: 'Hi Ana, this is Acme Store.',
      maxDurationSec: 120,
      requestId: `req-${RUN}-vars`,
    });
    const s = started.find((e) => e.callId === reply.callId)!;
    expect(s).toEqual({
      callId: reply.callId,
      accountId: ACCOUNT,
      agentId: 'dialer',
      direction: 'outbound',
      carrier: 'twilio',
      from: AGENT_NUMBER,
      to: CALLEE,
      carrierCallId: call.sid,
      startedAt: expect.any(String),
      gatewayInstance: INSTANCE,
      variables: {
        customer_name: 'Ana',
        [DIAL_VARIABLES.goal]: 'Confirm the delivery slot',
        [DIAL_VARIABLES.firstMessage]: 'Hi Ana, this is Acme Store.',
        [DIAL_VARIABLES.maxDurationSec]: '120',
        [DIAL_VARIABLES.requestId]: `req-${RUN}-vars`,
      },
    });
    await until(() => claims.some((c) => c.callId === reply.callId), 'the orchestrator claim');
    expect(claims.find((c) => c.callId === reply.callId)?.variables).toEqual(s.variables);
    // Ringing from the status callback; answered once although the callback and the stream both saw it.
    await until(() => answered.some((a) => a.callId === reply.callId), 'evt.call.answered');
    await new Promise((r) => setTimeout(r, 100));
    expect(ringing.filter((r) => r.callId === reply.callId)).toEqual([{ callId: reply.callId, accountId: ACCOUNT, agentId: 'dialer', carrier: 'twilio', carrierCallId: call.sid, at: expect.any(String) }]);
    expect(answered.filter((a) => a.callId === reply.callId)).toHaveLength(1);
    expect(answered.find((a) => a.callId === reply.callId)).toMatchObject({ direction: 'outbound', carrier: 'twilio', carrierCallId: call.sid });
    expect(caller.violations).toEqual([]);
  });

  it('cmd.media-gateway.hangup ends the call at Twilio (Status=completed) and publishes one end: agent-hangup', async () => {
    const { reply, call, caller } = await dialAndAnswer();
    const res = await probe.request(contracts.hangup, { reason: 'done' }, { param: reply.callId, timeoutMs: 8000 });
    expect(res).toEqual({ ok: true });
    expect(call.forms.at(-1)).toEqual({ Status: 'completed' });
    expect(call.status).toBe('completed');
    await caller.waitForClose();
    await until(() => ended.some((e) => e.callId === reply.callId), 'evt.call.ended');
    // The completed status callback came too; the stream owns the end: still exactly one.
    await until(() => call.callbacks.some((c) => c.status === 'completed'), 'the completed callback');
    await new Promise((r) => setTimeout(r, 100));
    expect(ended.filter((e) => e.callId === reply.callId).map((e) => e.reason)).toEqual(['agent-hangup']);
  });

  it('regression: a transfer reports transferred although Twilio stops the stream before the REST call returns', async () => {
    const { reply, call, caller } = await dialAndAnswer();
    const res = await probe.request(contracts.transfer, { destination: '+15559990000' }, { param: reply.callId, timeoutMs: 8000 });
    expect(res).toEqual({ ok: true });
    expect(call.forms.at(-1)).toEqual({ Twiml: '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+15559990000</Dial></Response>' });
    // Twilio ran the new TwiML: the media stream got `stop` while the update was in flight.
    expect(await caller.waitForClose()).toMatchObject({ code: 1000 });
    await until(() => ended.some((e) => e.callId === reply.callId), 'evt.call.ended');
    await new Promise((r) => setTimeout(r, 100));
    expect(ended.filter((e) => e.callId === reply.callId).map((e) => e.reason)).toEqual(['transferred']);
  });

  it.each<['busy' | 'no-answer' | 'failed' | 'canceled']>([['busy'], ['no-answer'], ['failed'], ['canceled']])(
    'a call that ends %s before its stream starts publishes evt.call.ended with that reason',
    async (status) => {
      const reply = await dial();
      await fake.finish(reply.carrierCallId!, status);
      await until(() => ended.some((e) => e.callId === reply.callId), `evt.call.ended ${status}`);
      expect(ended.filter((e) => e.callId === reply.callId)).toEqual([{ callId: reply.callId, accountId: ACCOUNT, agentId: 'dialer', reason: status, endedAt: expect.any(String), durationMs: expect.any(Number) }]);
      expect(started.some((s) => s.callId === reply.callId)).toBe(false);
    },
  );

  it('the same requestId twice places one call and returns the same reply', async () => {
    const requestId = `req-${RUN}-idem`;
    const before = fake.counters.create;
    const [a, b] = await Promise.all([dial({ requestId }), dial({ requestId })]);
    const c = await dial({ requestId });
    expect(b).toEqual(a);
    expect(c).toEqual(a);
    expect(fake.counters.create).toBe(before + 1);
    await fake.finish(a.carrierCallId!, 'canceled');
  });

  it('a failed dial can be retried with the same requestId and then dials', async () => {
    const requestId = `req-${RUN}-retry`;
    fake.failNext('create', { status: 503, code: 20503 });
    const err = await failure(dial({ requestId }));
    expect(err).toMatchObject({ code: ErrorCodes.CARRIER_FAILED, retryable: true });
    const ok = await dial({ requestId });
    expect(ok.status).toBe('queued');
    await fake.finish(ok.carrierCallId!, 'canceled');
  });

  it.each<[string, Partial<DialRequest>, string]>([
    ['an agent that does not exist', { agentId: 'nobody' }, ErrorCodes.AGENT_NOT_FOUND],
    ["another account's agent", { agentId: 'other' }, ErrorCodes.AGENT_NOT_FOUND],
    ['a destination outside allowedDestinations (toll-fraud guard)', { to: '+447700900123' }, ErrorCodes.AUTH_FORBIDDEN],
    ['a reserved variable name', { variables: { 'sb.goal': 'spoofed' } }, ErrorCodes.REQUEST_INVALID],
    ['an agent without a number and no from', { agentId: 'mute' }, ErrorCodes.REQUEST_INVALID],
    ['carrier sip on a gateway without SIP dialling', { carrier: 'sip' }, ErrorCodes.CARRIER_FAILED],
  ])('refuses %s without calling Twilio', async (_name, req, code) => {
    const before = fake.counters.create;
    expect((await failure(dial(req))).code).toBe(code);
    expect(fake.counters.create).toBe(before);
  });

  it('an account that never configured allowedDestinations may call nowhere', async () => {
    const before = fake.counters.create;
    expect((await failure(probe.request(contracts.dial, { accountId: OTHER_ACCOUNT, agentId: 'other', to: CALLEE }, { timeoutMs: 5000 }))).code).toBe(ErrorCodes.AUTH_FORBIDDEN);
    expect(fake.counters.create).toBe(before);
  });
});

describe('POST /twilio/status', () => {
  it.each<[string, string | undefined]>([
    ['no signature', ''],
    ['a signature over other parameters', twilio.getExpectedTwilioSignature('x'.repeat(32), `${PUBLIC_URL}/twilio/status`, {})],
  ])('refuses %s with 403', async (_name, signature) => {
    const res = await statusCallback({ CallSid: `CA${'e'.repeat(32)}`, CallStatus: 'busy' }, '', signature);
    expect(res.statusCode).toBe(403);
  });

  it('refuses a callback without CallStatus with 400', async () => {
    expect((await statusCallback({ CallSid: `CA${'e'.repeat(32)}` })).statusCode).toBe(400);
  });

  it('accepts a callback for a call it never saw with 204 and publishes nothing', async () => {
    const before = ended.length;
    expect((await statusCallback({ CallSid: `CA${'f'.repeat(32)}`, CallStatus: 'completed' })).statusCode).toBe(204);
    await new Promise((r) => setTimeout(r, 100));
    expect(ended.length).toBe(before);
  });

  it('finds the call by CallSid when the callback URL carries no callId', async () => {
    const reply = await dial();
    const res = await statusCallback({ CallSid: reply.carrierCallId!, CallStatus: 'busy', AccountSid: fake.accountSid });
    expect(res.statusCode).toBe(204);
    await until(() => ended.some((e) => e.callId === reply.callId), 'evt.call.ended');
    expect(ended.find((e) => e.callId === reply.callId)?.reason).toBe('busy');
  });
});

describe('the voice webhook of a dialled call', () => {
  it('answers a dialled call whose dial record is gone with a polite message, not a stream', async () => {
    const form = { CallSid: `CA${'d'.repeat(32)}`, From: AGENT_NUMBER, To: CALLEE, Direction: 'outbound-api', CallStatus: 'in-progress' };
    const url = `${PUBLIC_URL}/twilio/voice?callId=call_doesnotexist00`;
    const res = await gw.app.inject({
      method: 'POST',
      url: '/twilio/voice?callId=call_doesnotexist00',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(fake.authToken, url, form) },
      payload: new URLSearchParams(form).toString(),
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<Say>Sorry, this call cannot be connected right now. Goodbye.</Say><Hangup/>');
    expect(res.body).not.toContain('<Stream');
  });

  it('refuses the webhook signed without the callId query (the signature covers the URL as Twilio called it)', async () => {
    const form = { CallSid: `CA${'d'.repeat(32)}`, From: AGENT_NUMBER, To: CALLEE, Direction: 'outbound-api' };
    const res = await gw.app.inject({
      method: 'POST',
      url: '/twilio/voice?callId=call_x',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(fake.authToken, `${PUBLIC_URL}/twilio/voice`, form) },
      payload: new URLSearchParams(form).toString(),
    });
    expect(res.statusCode).toBe(403);
  });
});

describe('media stream handshake signature', () => {
  const streamUrl = () => `${address.replace(/^http/, 'ws')}/twilio/stream`;
  const params = () => {
    const callId = `call_hs${randomBytes(4).toString('hex')}`;
    ours.add(callId);
    return { token: signStreamToken({ callId, agentId: 'dialer', accountId: ACCOUNT, exp: Math.floor(Date.now() / 1000) + 60 }, STREAM_SECRET) };
  };

  it('accepts a handshake signed over wss://<public host>/twilio/stream', async () => {
    const caller = await TwilioStreamCaller.connect({ url: streamUrl(), customParameters: params(), headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(fake.authToken, `wss://gw.example.test/twilio/stream`, {}) } });
    callers.push(caller);
    await until(() => started.some((s) => s.carrierCallId === caller.callSid), 'evt.call.started');
  });

  it.each<[string, string]>([
    ['over another URL', 'wss://evil.example.test/twilio/stream'],
    ['over the https URL', 'https://gw.example.test/twilio/stream'],
  ])('refuses a handshake signed %s with 403', async (_name, url) => {
    const rejected = gw.stats.rejectedStreams;
    const err = await TwilioStreamCaller.connect({ url: streamUrl(), customParameters: params(), headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(fake.authToken, url, {}) } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamHandshakeError);
    expect((err as StreamHandshakeError).status).toBe(403);
    expect(gw.stats.rejectedStreams).toBe(rejected + 1);
  });
});

describe('lifecycle events', () => {
  it('caller DTMF becomes evt.call.dtmf-received', async () => {
    const { reply, caller } = await dialAndAnswer();
    caller.dtmf('7');
    caller.dtmf('*');
    await until(() => dtmf.filter((d) => d.callId === reply.callId).length === 2, 'two dtmf lifecycle events');
    expect(dtmf.filter((d) => d.callId === reply.callId)).toEqual([
      { callId: reply.callId, accountId: ACCOUNT, agentId: 'dialer', digit: '7', at: expect.any(String) },
      { callId: reply.callId, accountId: ACCOUNT, agentId: 'dialer', digit: '*', at: expect.any(String) },
    ]);
  });
});
