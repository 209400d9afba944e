import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import twilio from 'twilio';
import type { Redis } from 'ioredis';
import { Bus } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { infraUrls, parseTwimlStream } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import { AgentStore } from '@switchboard/agents';
import type { Gateway } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { verifyStreamToken } from '../src/adapters/stream-token.ts';

const AGENTS_DIR = fileURLToPath(new URL('../../../config/agents', import.meta.url));
const PUBLIC_URL = 'https://gw.example.test';
const AUTH_TOKEN = 'twilio-auth-token-for-tests-0001';
const STREAM_SECRET = 'voice-test-stream-secret-0123456789';
const DEMO_NUMBER = '+15550001234';
const CALLER = '+15557654321';

const log = createLogger('media-gateway-test', 'silent');
let bus: Bus;
let redis: Redis;
let agents: AgentRegistry;
const apps: Gateway[] = [];

async function gateway(env: Record<string, string>): Promise<Gateway> {
  const config = loadConfig({ PUBLIC_URL, AGENTS_DIR, STREAM_TOKEN_SECRET: STREAM_SECRET, LOG_LEVEL: 'silent', ...env });
  const gw = await buildApp({ config, bus, redis, agents, log, instanceId: 'gw-voice-test' });
  apps.push(gw);
  return gw;
}

/** The form Twilio posts for an incoming call. */
function callForm(to = DEMO_NUMBER, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AccountSid: `AC${'a'.repeat(32)}`,
    ApiVersion: '2010-04-01',
    CallSid: `CA${'b'.repeat(32)}`,
    CallStatus: 'ringing',
    Called: to,
    Caller: CALLER,
    Direction: 'inbound',
    From: CALLER,
    To: to,
    ...extra,
  };
}

function post(gw: Gateway, form: Record<string, string>, signature?: string) {
  return gw.app.inject({
    method: 'POST',
    url: '/twilio/voice',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature === undefined ? {} : { 'x-twilio-signature': signature }) },
    payload: new URLSearchParams(form).toString(),
  });
}

const sign = (form: Record<string, string>, url = `${PUBLIC_URL}/twilio/voice`, token = AUTH_TOKEN) => twilio.getExpectedTwilioSignature(token, url, form);

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`twilio-voice.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-voice-test', log });
  redis = await connectRedis(infra.redisUrl, { name: 'media-gateway-voice-test' });
  agents = new AgentRegistry(await loadAgents(AGENTS_DIR, {}));
});

afterAll(async () => {
  for (const gw of apps) await gw.app.close();
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('POST /twilio/voice with signature validation on', () => {
  let gw: Gateway;
  beforeAll(async () => {
    gw = await gateway({ TWILIO_AUTH_TOKEN: AUTH_TOKEN });
  });

  it('answers a correctly signed call with <Connect><Stream> and the call parameters', async () => {
    const form = callForm();
    const before = Math.floor(Date.now() / 1000);
    const res = await post(gw, form, sign(form));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.body).toMatch(/<Response><Connect><Stream url="wss:\/\/gw\.example\.test\/twilio\/stream"><Parameter /);
    expect(res.body).toMatch(/<\/Stream><\/Connect><\/Response>$/);
    const stream = parseTwimlStream(res.body);
    expect(stream?.url).toBe('wss://gw.example.test/twilio/stream');
    const p = stream!.parameters;
    expect(Object.keys(p).sort()).toEqual(['accountId', 'agentId', 'callId', 'direction', 'from', 'to', 'token']);
    expect(p).toMatchObject({ agentId: 'demo', accountId: 'default', from: CALLER, to: DEMO_NUMBER, direction: 'inbound' });
    expect(p.callId).toMatch(/^call_[A-Za-z0-9]{16}$/);

    // The token is what the stream endpoint will check: it verifies with the secret and binds this call.
    const claims = verifyStreamToken(p.token, STREAM_SECRET);
    expect(claims).toMatchObject({ callId: p.callId, agentId: 'demo', accountId: 'default' });
    expect(claims!.exp).toBeGreaterThanOrEqual(before + 120);
    expect(claims!.exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 120);
    expect(verifyStreamToken(p.token, 'some-other-secret-0123456789')).toBeUndefined();
  });

  it('gives each call its own id and token', async () => {
    const form = callForm();
    const [a, b] = await Promise.all([post(gw, form, sign(form)), post(gw, form, sign(form))]);
    const pa = parseTwimlStream(a.body)!.parameters;
    const pb = parseTwimlStream(b.body)!.parameters;
    expect(pa.callId).not.toBe(pb.callId);
    expect(pa.token).not.toBe(pb.token);
  });

  it('marks an outbound-api call as outbound', async () => {
    const form = callForm(DEMO_NUMBER, { Direction: 'outbound-api' });
    const res = await post(gw, form, sign(form));
    expect(parseTwimlStream(res.body)!.parameters.direction).toBe('outbound');
  });

  it.each<[string, (form: Record<string, string>) => string | undefined]>([
    ['no signature', () => undefined],
    ['a signature made with another token', (f) => sign(f, `${PUBLIC_URL}/twilio/voice`, 'not-the-auth-token-000000000000')],
    ['a signature over another URL', (f) => sign(f, 'https://evil.example.test/twilio/voice')],
    ['a signature over other parameters', (f) => sign({ ...f, To: '+15559999999' })],
    ['garbage', () => 'bm90IGEgc2lnbmF0dXJl'],
  ])('refuses %s with 403 and no TwiML', async (_name, signature) => {
    const form = callForm();
    const res = await post(gw, form, signature(form));
    expect(res.statusCode).toBe(403);
    expect(res.body).toBe('Invalid Twilio signature');
    expect(res.body).not.toContain('<Stream');
  });

  it('answers a number no agent routes with a polite <Say> and <Hangup/>, status 200', async () => {
    const form = callForm('+15550009999');
    const res = await post(gw, form, sign(form));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/xml/);
    expect(res.body).toContain('<Say>Sorry, this number is not in service. Goodbye.</Say><Hangup/>');
    expect(res.body).not.toContain('<Stream');
  });
});

describe('POST /twilio/voice without an auth token', () => {
  it('refuses with 503 while validation is on, even with a signature', async () => {
    const gw = await gateway({});
    const form = callForm();
    const res = await post(gw, form, sign(form));
    expect(res.statusCode).toBe(503);
    expect(res.body).toBe('Twilio webhook validation is not configured');
  });

  it('answers unsigned webhooks with validation off', async () => {
    const gw = await gateway({ TWILIO_VALIDATE_SIGNATURES: 'false' });
    const res = await post(gw, callForm());
    expect(res.statusCode).toBe(200);
    const p = parseTwimlStream(res.body)!.parameters;
    expect(p.agentId).toBe('demo');
    expect(verifyStreamToken(p.token, STREAM_SECRET)?.callId).toBe(p.callId);
  });

  it('routes a number owned by an agent created over the API (stored in Redis, not in the files)', async () => {
    const store = new AgentStore(redis);
    const number = `+1555${String(Date.now()).slice(-7)}`;
    const id = `api-agent-${Date.now().toString(36)}`;
    await store.put({ id, accountId: 'acct-api', systemPrompt: 'hi', phoneNumbers: [number], stt: { provider: 'openai' }, llm: { provider: 'openai' }, tts: { provider: 'openai' }, tools: [], mcpServers: [], maxToolIterations: 10 }, 'api');
    try {
      const gw = await gateway({ TWILIO_VALIDATE_SIGNATURES: 'false' });
      const p = parseTwimlStream((await post(gw, callForm(number))).body)!.parameters;
      expect(p).toMatchObject({ agentId: id, accountId: 'acct-api', to: number });
    } finally {
      await store.delete(id);
    }
  });

  it('routes by Called when To is absent', async () => {
    const gw = await gateway({ TWILIO_VALIDATE_SIGNATURES: 'false' });
    const { To: _to, From: _from, ...form } = callForm();
    const res = await post(gw, form);
    const p = parseTwimlStream(res.body)!.parameters;
    expect(p).toMatchObject({ agentId: 'demo', to: DEMO_NUMBER, from: CALLER });
  });
});
