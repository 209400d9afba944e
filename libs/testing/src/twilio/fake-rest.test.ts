import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import twilio from 'twilio';
import { WebSocketServer } from 'ws';
import { FakeTwilioRest } from './fake-rest.ts';

/** What a webhook receiver saw: path with query, form, and whether Twilio's signature verified. */
interface Hook {
  url: string;
  form: Record<string, string>;
  signatureValid: boolean;
}

const PUBLIC = 'https://gw.example.test';
let fake: FakeTwilioRest;
let hooks: Hook[] = [];
let hookServer: ReturnType<typeof createServer>;
let hookBase = '';
let voiceReply = '<Response><Say>Hello</Say></Response>';

const auth = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

function rest(path: string, form: Record<string, string | string[]> | undefined, authorization = auth(fake.accountSid, fake.authToken)) {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(form ?? {})) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  return fetch(`${fake.url}/2010-04-01/Accounts/${fake.accountSid}${path}`, {
    method: form ? 'POST' : 'GET',
    headers: { authorization, ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    ...(form ? { body: body.toString() } : {}),
  });
}

async function createCall(extra: Record<string, string | string[]> = {}): Promise<string> {
  const res = await rest('/Calls.json', { To: '+15557654321', From: '+15550001234', Url: `${PUBLIC}/twilio/voice?callId=call_1`, ...extra });
  expect(res.status).toBe(201);
  return ((await res.json()) as { sid: string }).sid;
}

beforeAll(async () => {
  // The "gateway": records webhooks and checks signatures against the public URL, as the real one does.
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      const url = `${PUBLIC}${req.url}`;
      const signatureValid = twilio.validateRequest(fake.authToken, String(req.headers['x-twilio-signature']), url, form);
      hooks.push({ url: req.url ?? '', form, signatureValid });
      res.writeHead(200, { 'content-type': 'text/xml' });
      res.end(req.url?.startsWith('/twilio/voice') ? voiceReply : '');
    });
  });
  await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', () => r()));
  hookBase = `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}`;
  fake = await FakeTwilioRest.start({ deliverTo: hookBase });
});

afterEach(() => {
  hooks = [];
  voiceReply = '<Response><Say>Hello</Say></Response>';
});

afterAll(async () => {
  await fake.close();
  await new Promise<void>((r) => hookServer.close(() => r()));
});

describe('FakeTwilioRest: REST wire format', () => {
  it('creates a call: 201 with a Twilio-shaped body', async () => {
    const res = await rest('/Calls.json', { To: '+15557654321', From: '+15550001234', Url: `${PUBLIC}/twilio/voice` });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      sid: expect.stringMatching(/^CA[0-9a-f]{32}$/),
      account_sid: fake.accountSid,
      to: '+15557654321',
      from: '+15550001234',
      status: 'queued',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      date_created: expect.stringMatching(/^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000$/),
      uri: `/2010-04-01/Accounts/${fake.accountSid}/Calls/${body.sid as string}.json`,
    });
  });

  it.each<[string, string | undefined]>([
    ['no Authorization', ''],
    ['the wrong token', 'wrong'],
  ])('answers %s with 401 and code 20003', async (_name, token) => {
    const res = await rest('/Calls.json', { To: '+1', From: '+2', Url: 'https://x' }, token === '' ? '' : auth(fake.accountSid, token!));
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 20003, status: 401, message: 'Authenticate' });
  });

  it.each<[string, Record<string, string>, number]>([
    ['To', { From: '+15550001234', Url: 'https://x' }, 21201],
    ['From', { To: '+15557654321', Url: 'https://x' }, 21603],
    ['Url or Twiml', { To: '+15557654321', From: '+15550001234' }, 21205],
  ])('refuses a create without %s with 400 and Twilio code', async (_name, form, code) => {
    const res = await rest('/Calls.json', form);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code, status: 400 });
  });

  it('answers an unknown call with 404 code 20404', async () => {
    const res = await rest(`/Calls/CA${'0'.repeat(32)}.json`, { Status: 'completed' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 20404, status: 404 });
  });

  it('keeps repeated StatusCallbackEvent values; with none, completed only', async () => {
    const a = await createCall({ StatusCallback: `${PUBLIC}/twilio/status`, StatusCallbackEvent: ['ringing', 'answered'] });
    const b = await createCall({ StatusCallback: `${PUBLIC}/twilio/status` });
    expect(fake.calls.get(a)!.statusCallbackEvents).toEqual(['ringing', 'answered']);
    expect(fake.calls.get(b)!.statusCallbackEvents).toEqual(['completed']);
  });

  it('fails the scripted number of requests, then recovers, and counts them', async () => {
    const before = fake.counters.create;
    fake.failNext('create', { status: 500, code: 20500 }, 2);
    expect((await rest('/Calls.json', { To: '+1555', From: '+1555', Url: 'https://x' })).status).toBe(500);
    expect((await rest('/Calls.json', { To: '+1555', From: '+1555', Url: 'https://x' })).status).toBe(500);
    expect((await rest('/Calls.json', { To: '+1555', From: '+1555', Url: 'https://x' })).status).toBe(201);
    expect(fake.counters.create).toBe(before + 3);
  });

  it('refuses new TwiML for a call that is not in progress (21220) and Url with Twiml (21204)', async () => {
    const sid = await createCall();
    expect(await (await rest(`/Calls/${sid}.json`, { Twiml: '<Response/>' })).json()).toMatchObject({ code: 21220 });
    await fake.answer(sid, { ring: false });
    expect(await (await rest(`/Calls/${sid}.json`, { Twiml: '<Response/>', Url: 'https://x' })).json()).toMatchObject({ code: 21204 });
    expect((await rest(`/Calls/${sid}.json`, { Twiml: '<Response><Dial>+15550000000</Dial></Response>' })).status).toBe(200);
    expect(fake.calls.get(sid)!.twiml).toBe('<Response><Dial>+15550000000</Dial></Response>');
  });
});

describe('FakeTwilioRest: playing the carrier', () => {
  it('answer() sends signed status callbacks (initiated, ringing, answered) and the signed voice webhook', async () => {
    const sid = await createCall({ StatusCallback: `${PUBLIC}/twilio/status?callId=call_1`, StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'] });
    await new Promise((r) => setTimeout(r, 50));
    const result = await fake.answer(sid);
    expect(result).toEqual({ status: 200, twiml: voiceReply });
    expect(hooks.map((h) => [h.url, h.form.CallStatus])).toEqual([
      ['/twilio/status?callId=call_1', 'initiated'],
      ['/twilio/status?callId=call_1', 'ringing'],
      ['/twilio/status?callId=call_1', 'in-progress'],
      ['/twilio/voice?callId=call_1', 'in-progress'],
    ]);
    expect(hooks.every((h) => h.signatureValid)).toBe(true);
    expect(hooks.at(-1)!.form).toEqual({
      AccountSid: fake.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: sid,
      CallStatus: 'in-progress',
      Called: '+15557654321',
      Caller: '+15550001234',
      Direction: 'outbound-api',
      From: '+15550001234',
      To: '+15557654321',
    });
    await fake.finish(sid, 'completed');
    expect(hooks.at(-1)!.form).toMatchObject({ CallStatus: 'completed', CallDuration: expect.stringMatching(/^\d+$/) });
  });

  it('finish() with busy sends the final status callback only once', async () => {
    const sid = await createCall({ StatusCallback: `${PUBLIC}/twilio/status` });
    await fake.finish(sid, 'busy');
    await fake.finish(sid, 'completed');
    expect(hooks.map((h) => h.form.CallStatus)).toEqual(['busy']);
    expect(fake.calls.get(sid)!.callbacks).toEqual([{ status: 'busy', httpStatus: 200 }]);
  });

  it('answer({ connect }) opens the TwiML stream with its parameters and the call SID; Status=completed stops it', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const wsPort = (wss.address() as AddressInfo).port;
    const got: Array<Record<string, unknown>> = [];
    wss.on('connection', (ws) => ws.on('message', (d) => got.push(JSON.parse(d.toString()) as Record<string, unknown>)));
    // Twilio is told the public wss URL; deliverTo maps it to where the test listens.
    const local = await FakeTwilioRest.start({ deliverTo: `http://127.0.0.1:${wsPort}` });
    try {
      voiceReply = `<Response><Connect><Stream url="wss://gw.example.test/twilio/stream"><Parameter name="callId" value="call_9"/></Stream></Connect></Response>`;
      const res = await fetch(`${local.url}/2010-04-01/Accounts/${local.accountSid}/Calls.json`, {
        method: 'POST',
        headers: { authorization: auth(local.accountSid, local.authToken), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ To: '+15557654321', From: '+15550001234', Twiml: voiceReply }).toString(),
      });
      const sid = ((await res.json()) as { sid: string }).sid;
      const answered = await local.answer(sid, { connect: true });
      expect(answered.stream).toEqual({ url: 'wss://gw.example.test/twilio/stream', parameters: { callId: 'call_9' } });
      await answered.caller!.waitFor(() => got.some((m) => m.event === 'start'), 2000, 'start');
      const start = got.find((m) => m.event === 'start') as { start: { callSid: string; customParameters: Record<string, string> } };
      expect(start.start.callSid).toBe(sid);
      expect(start.start.customParameters).toEqual({ callId: 'call_9' });

      await fetch(`${local.url}/2010-04-01/Accounts/${local.accountSid}/Calls/${sid}.json`, {
        method: 'POST',
        headers: { authorization: auth(local.accountSid, local.authToken), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Status=completed',
      });
      expect(await answered.caller!.waitForClose()).toMatchObject({ code: 1000 });
      expect(got.at(-1)).toMatchObject({ event: 'stop' });
      expect(local.calls.get(sid)!.status).toBe('completed');
    } finally {
      await local.close();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});
