import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { FakeTwilioRest } from '@switchboard/testing';
import { TwilioRest } from './twilio-rest.ts';

const TO = '+15557654321';
const FROM = '+15550001234';
let fake: FakeTwilioRest;
let rest: TwilioRest;

async function failure(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwitchboardError);
  return err as SwitchboardError;
}

/** A call the fake knows and that is live (answered), created through the adapter. */
async function liveCall(): Promise<string> {
  const { sid } = await rest.createCall({ to: TO, from: FROM, twiml: '<Response><Pause length="60"/></Response>' });
  await fake.answer(sid, { ring: false });
  return sid;
}

beforeAll(async () => {
  fake = await FakeTwilioRest.start();
  rest = new TwilioRest({ accountSid: fake.accountSid, authToken: fake.authToken, baseUrl: fake.url });
});

afterAll(async () => {
  await fake.close();
});

describe('TwilioRest.createCall', () => {
  it('POSTs Calls.json with the form Twilio documents and Basic auth, and returns the new CallSid', async () => {
    const before = fake.requests.length;
    const created = await rest.createCall({
      to: TO,
      from: FROM,
      url: 'https://gw.example.test/twilio/voice?callId=call_x',
      statusCallback: 'https://gw.example.test/twilio/status?callId=call_x',
      statusCallbackEvents: ['initiated', 'ringing', 'answered', 'completed'],
      timeoutS: 30,
      timeLimitS: 600,
    });
    expect(created).toEqual({ sid: expect.stringMatching(/^CA[0-9a-f]{32}$/), status: 'queued' });
    const req = fake.requests[before]!;
    expect(req).toMatchObject({ method: 'POST', path: `/2010-04-01/Accounts/${fake.accountSid}/Calls.json`, authorized: true, status: 201 });
    expect(req.form).toEqual({
      To: TO,
      From: FROM,
      Url: 'https://gw.example.test/twilio/voice?callId=call_x',
      Method: 'POST',
      StatusCallback: 'https://gw.example.test/twilio/status?callId=call_x',
      StatusCallbackMethod: 'POST',
      StatusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
      Timeout: '30',
      TimeLimit: '600',
    });
    expect(fake.calls.get(created.sid)).toMatchObject({ to: TO, from: FROM, status: expect.any(String), timeLimit: 600, statusCallbackEvents: ['initiated', 'ringing', 'answered', 'completed'] });
  });

  it('sends inline TwiML as Twiml', async () => {
    const twiml = '<Response><Say>Hi</Say></Response>';
    const { sid } = await rest.createCall({ to: TO, from: FROM, twiml });
    expect(fake.calls.get(sid)?.forms[0]).toEqual({ To: TO, From: FROM, Twiml: twiml });
  });

  it('refuses neither or both of url and twiml before calling Twilio', async () => {
    const before = fake.counters.create;
    expect((await failure(rest.createCall({ to: TO, from: FROM }))).code).toBe(ErrorCodes.REQUEST_INVALID);
    expect((await failure(rest.createCall({ to: TO, from: FROM, url: 'https://x.test/', twiml: '<Response/>' }))).code).toBe(ErrorCodes.REQUEST_INVALID);
    expect(fake.counters.create).toBe(before);
  });

  it.each<[string, number, number, boolean]>([
    ['a server error', 500, 20500, true],
    ['rate limiting', 429, 20429, true],
    ['an invalid number', 400, 21211, false],
  ])('maps %s (HTTP %i) to CARRIER_FAILED with the right retryability', async (_name, status, code, retryable) => {
    fake.failNext('create', { status, code, message: 'scripted' });
    const err = await failure(rest.createCall({ to: TO, from: FROM, url: 'https://gw.example.test/twilio/voice' }));
    expect(err.code).toBe(ErrorCodes.CARRIER_FAILED);
    expect(err.retryable).toBe(retryable);
    expect(err.details).toEqual({ status, twilioCode: code });
  });

  it('a wrong auth token is a non-retryable CARRIER_FAILED with HTTP 401', async () => {
    const wrong = new TwilioRest({ accountSid: fake.accountSid, authToken: 'not-the-token-000000000000000000', baseUrl: fake.url });
    const before = fake.counters.unauthorized;
    const err = await failure(wrong.createCall({ to: TO, from: FROM, url: 'https://gw.example.test/twilio/voice' }));
    expect(err).toMatchObject({ code: ErrorCodes.CARRIER_FAILED, retryable: false, details: { status: 401, twilioCode: 20003 } });
    expect(fake.counters.unauthorized).toBe(before + 1);
  });

  it('an unreachable API is a retryable CARRIER_FAILED', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const down = new TwilioRest({ accountSid: fake.accountSid, authToken: fake.authToken, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 2000 });
    const err = await failure(down.createCall({ to: TO, from: FROM, url: 'https://gw.example.test/twilio/voice' }));
    expect(err).toMatchObject({ code: ErrorCodes.CARRIER_FAILED, retryable: true });
  });
});

describe('TwilioRest.hangup', () => {
  it('updates the live call with Status=completed', async () => {
    const sid = await liveCall();
    expect(await rest.hangup(sid)).toEqual({ alreadyEnded: false });
    const call = fake.calls.get(sid)!;
    expect(call.forms.at(-1)).toEqual({ Status: 'completed' });
    expect(call.status).toBe('completed');
  });

  it('regression: an unknown or already removed call (404, code 20404) is not an error', async () => {
    const before = fake.counters.notFound;
    expect(await rest.hangup(`CA${'0'.repeat(32)}`)).toEqual({ alreadyEnded: true });
    expect(fake.counters.notFound).toBe(before + 1);
  });

  it('hanging up a completed call again succeeds', async () => {
    const sid = await liveCall();
    await rest.hangup(sid);
    await expect(rest.hangup(sid)).resolves.toEqual({ alreadyEnded: false });
    expect(fake.calls.get(sid)!.status).toBe('completed');
  });

  it('a Twilio 5xx is a retryable CARRIER_FAILED', async () => {
    const sid = await liveCall();
    fake.failNext('update', { status: 503, code: 20503 });
    expect(await failure(rest.hangup(sid))).toMatchObject({ code: ErrorCodes.CARRIER_FAILED, retryable: true });
    expect(fake.calls.get(sid)!.status).toBe('in-progress');
  });
});

describe('TwilioRest.transfer', () => {
  it('replaces the running TwiML with <Dial>destination</Dial>', async () => {
    const sid = await liveCall();
    await rest.transfer(sid, '+15559998888');
    const call = fake.calls.get(sid)!;
    expect(call.forms.at(-1)).toEqual({ Twiml: '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+15559998888</Dial></Response>' });
    expect(call.twiml).toContain('<Dial>+15559998888</Dial>');
    expect(call.status).toBe('in-progress');
  });

  it.each<[string, () => Promise<string>]>([
    ['unknown (404)', () => Promise.resolve(`CA${'1'.repeat(32)}`)],
    [
      'completed (21220)',
      async () => {
        const sid = await liveCall();
        await rest.hangup(sid);
        return sid;
      },
    ],
  ])('a call that is %s cannot be transferred: CALL_ALREADY_ENDED', async (_name, sid) => {
    expect((await failure(rest.transfer(await sid(), '+15559998888'))).code).toBe(ErrorCodes.CALL_ALREADY_ENDED);
  });
});
