import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Bus, rawHeaders } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { pcm16ToBuffer, rmsDbfs } from '@switchboard/audio';
import { ErrorCodes, Headers, SwitchboardError, audioSubjects, contracts } from '@switchboard/contracts';
import type { CallEnded, CallStarted, MediaEvent } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { TwilioStreamCaller, infraUrls, parseTwimlStream } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import type { Gateway } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { signStreamToken } from '../src/adapters/stream-token.ts';

const AGENTS_DIR = fileURLToPath(new URL('../../../config/agents', import.meta.url));
const STREAM_SECRET = 'stream-test-stream-secret-0123456789';
const INSTANCE = 'gw-stream-test';
const DEMO_NUMBER = '+15550001234';
const CALLER = '+15557654321';
const MAX_BAD_FRAMES = 50;

const log = createLogger('media-gateway-test', 'silent');
let bus: Bus;
/** The test's own connection: it plays orchestrator and observer, as another process would. */
let probe: Bus;
let redis: Redis;
let gw: Gateway;
let streamUrl: string;

const started: CallStarted[] = [];
const ended: CallEnded[] = [];
/** Start-session requests the fake orchestrator received. */
const claims: CallStarted[] = [];
/** Calls the fake orchestrator refuses (non-retryable), to see the gateway end them. */
const refuse = new Set<string>();
/** Calls this test set up through the webhook: the only ones the fake orchestrator claims. */
const ours = new Set<string>();
const callers: TwilioStreamCaller[] = [];

/** Resolves once `pred` holds; polls every 10 ms. */
async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A 400 Hz tone at `rate`, loud enough to be told apart from silence after G.711 and resampling. */
function tone(ms: number, rate: number, amplitude = 8000): Int16Array {
  return Int16Array.from({ length: (ms * rate) / 1000 }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * 400 * i) / rate)));
}

/** Twilio's voice webhook for a call to the demo number: the TwiML's <Stream> parameters. */
async function answer(): Promise<Record<string, string>> {
  const res = await gw.app.inject({
    method: 'POST',
    url: '/twilio/voice',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ From: CALLER, To: DEMO_NUMBER, CallSid: `CA${'c'.repeat(32)}`, Direction: 'inbound' }).toString(),
  });
  expect(res.statusCode).toBe(200);
  const stream = parseTwimlStream(res.body);
  expect(stream?.url).toMatch(/\/twilio\/stream$/);
  ours.add(stream!.parameters.callId!);
  return stream!.parameters;
}

async function connect(customParameters: Record<string, string>): Promise<TwilioStreamCaller> {
  const caller = await TwilioStreamCaller.connect({ url: streamUrl, customParameters });
  callers.push(caller);
  return caller;
}

/** Places a call end to end: webhook, media stream, claimed by the fake orchestrator. */
async function placeCall(opts: { beforeConnect?: (callId: string) => Promise<void> } = {}): Promise<{ callId: string; caller: TwilioStreamCaller; params: Record<string, string> }> {
  const params = await answer();
  const callId = params.callId!;
  await opts.beforeConnect?.(callId);
  await probe.nc.flush();
  const caller = await connect(params);
  await until(() => started.some((s) => s.callId === callId), `evt.call.started for ${callId}`);
  return { callId, caller, params };
}

/** Collects `media.<callId>.evt` events. */
async function mediaEvents(callId: string): Promise<MediaEvent[]> {
  const out: MediaEvent[] = [];
  probe.subscribe(contracts.mediaEvents, (e) => void out.push(e), { param: callId });
  await probe.nc.flush();
  return out;
}

/** Publishes agent audio (16 kHz PCM16) on `media.<callId>.out` as 640-byte frames, the mark on the last one. */
function publishAgentAudio(callId: string, pcm16k: Int16Array, mark?: string): number {
  const frames = Math.ceil(pcm16k.length / 320);
  for (let i = 0; i < frames; i++) {
    const frame = new Int16Array(320);
    frame.set(pcm16k.subarray(i * 320, (i + 1) * 320));
    const last = i === frames - 1;
    probe.publishRaw(audioSubjects.mediaOut(callId), pcm16ToBuffer(frame), last && mark ? rawHeaders({ [Headers.mark]: mark }) : undefined);
  }
  return frames;
}

const mediaMessages = (c: TwilioStreamCaller) => c.events.filter((e) => e.message?.event === 'media');

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`twilio-stream.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-stream-test', log });
  probe = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-stream-test-probe', log });
  redis = await connectRedis(infra.redisUrl, { name: 'media-gateway-stream-test' });
  const agents = new AgentRegistry(await loadAgents(AGENTS_DIR, {}));
  const config = loadConfig({ TWILIO_VALIDATE_SIGNATURES: 'false', AGENTS_DIR, STREAM_TOKEN_SECRET: STREAM_SECRET, MAX_BAD_FRAMES: String(MAX_BAD_FRAMES), LOG_LEVEL: 'silent' });
  expect(config.OUTBOUND_LEAD_MS).toBe(80);
  gw = await buildApp({ config, bus, redis, agents, log, instanceId: INSTANCE });
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' });
  streamUrl = `${address.replace(/^http/, 'ws')}/twilio/stream`;

  // Another orchestrator in the queue group would take some of this test's calls and speak into them.
  const others = await probe.requestAll(contracts.health, {}, { param: 'agent-orchestrator', maxWaitMs: 300 });
  if (others.length) throw new Error(`agent-orchestrator instances share this NATS (${others.map((o) => o.instanceId).join(', ')}): stop them to run this test`);

  // A stand-in orchestrator on the real bus: claims this test's calls unless told to refuse one. A call
  // of anyone else sharing the NATS gets a retryable error, so that gateway asks again elsewhere.
  probe.handle(contracts.startSession, (req) => {
    if (!ours.has(req.callId)) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, 'not a call of this test', { retryable: true });
    claims.push(req);
    if (refuse.has(req.callId)) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, 'refused by the test', { retryable: false });
    return { callId: req.callId, instanceId: 'fake-orchestrator' };
  });
  probe.subscribe(contracts.callStarted, (e) => void started.push(e), { queue: false });
  probe.subscribe(contracts.callEnded, (e) => void ended.push(e), { queue: false });
  await probe.nc.flush();
});

afterEach(async () => {
  await Promise.all(callers.splice(0).map((c) => c.hangup()));
});

afterAll(async () => {
  await gw?.app.close();
  await probe?.drain(2000);
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('Twilio media stream: call set-up', () => {
  it('publishes evt.call.started with the call and asks an orchestrator to claim it', async () => {
    const { callId, caller } = await placeCall();
    expect(gw.legs.get(callId)?.callId).toBe(callId);
    const expected = {
      callId,
      accountId: 'default',
      agentId: 'demo',
      direction: 'inbound',
      carrier: 'twilio',
      from: CALLER,
      to: DEMO_NUMBER,
      carrierCallId: caller.callSid,
      startedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
      gatewayInstance: INSTANCE,
    };
    expect(started.find((s) => s.callId === callId)).toEqual(expected);
    await until(() => claims.some((c) => c.callId === callId), 'the start-session request');
    expect(claims.find((c) => c.callId === callId)).toEqual(expected);
    // Claimed: the call stays up rather than ending with reason error.
    await new Promise((r) => setTimeout(r, 300));
    expect(gw.legs.has(callId)).toBe(true);
    expect(ended.some((e) => e.callId === callId)).toBe(false);
  });

  it.each<[string, () => Record<string, string>]>([
    ['no token', () => ({ callId: 'call_notoken' })],
    ['a garbage token', () => ({ token: 'garbage' })],
    ['a token signed with another secret', () => ({ token: signStreamToken({ callId: 'call_forged', agentId: 'demo', accountId: 'default', exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-0123456789') })],
    ['an expired token', () => ({ token: signStreamToken({ callId: 'call_expired', agentId: 'demo', accountId: 'default', exp: Math.floor(Date.now() / 1000) - 1 }, STREAM_SECRET) })],
  ])('closes a start with %s with 1008 and starts no call', async (_name, params) => {
    const rejected = gw.stats.rejectedStreams;
    const legs = gw.legs.size;
    const caller = await connect(params());
    expect(await caller.waitForClose()).toEqual({ code: 1008, reason: 'invalid stream token' });
    expect(gw.stats.rejectedStreams).toBe(rejected + 1);
    expect(gw.legs.size).toBe(legs);
    expect(started.some((s) => s.carrierCallId === caller.callSid)).toBe(false);
  });

  it('ends the call with reason error when no orchestrator will claim it', async () => {
    const { callId, caller } = await placeCall({ beforeConnect: async (id) => void refuse.add(id) });
    expect(await caller.waitForClose()).toEqual({ code: 1000, reason: 'call ended' });
    await until(() => ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(ended.find((e) => e.callId === callId)).toMatchObject({ callId, reason: 'error', accountId: 'default', agentId: 'demo' });
    expect(gw.legs.has(callId)).toBe(false);
  });
});

describe('Twilio media stream: audio', () => {
  it('publishes caller audio on media.<callId>.in as 640-byte 16 kHz frames', async () => {
    const frames: Buffer[] = [];
    const { caller } = await placeCall({
      beforeConnect: async (id) => void probe.subscribeRaw(audioSubjects.mediaIn(id), (data) => void frames.push(Buffer.from(data))),
    });
    await until(() => frames.length >= 10, 'ten caller frames'); // idle line: μ-law silence every 20 ms
    await caller.say(tone(400, 8000));
    const loud = () => frames.filter((f) => rmsDbfs(new Int16Array(f.buffer, f.byteOffset, f.length / 2)) > -30);
    await until(() => loud().length >= 15, 'the spoken tone on media.<callId>.in');
    expect(frames.every((f) => f.length === 640)).toBe(true);
    // 400 ms of speech is 20 frames at 20 ms; resampler edges may blur one frame at each end.
    expect(loud().length).toBeGreaterThanOrEqual(18);
    expect(loud().length).toBeLessThanOrEqual(22);
  });

  it('plays agent audio from media.<callId>.out to the caller, then the mark, and reports it played', async () => {
    let evts: MediaEvent[] = [];
    const { callId, caller } = await placeCall({ beforeConnect: async (id) => void (evts = await mediaEvents(id)) });
    const sent = publishAgentAudio(callId, tone(300, 16000), 'm1');
    expect(sent).toBe(15);
    await caller.waitForMark('m1');
    await until(() => evts.some((e) => e.type === 'mark-played' && e.name === 'm1'), 'mark-played m1');

    const idx = caller.events.findIndex((e) => e.message?.event === 'mark');
    const media = mediaMessages(caller);
    expect(media.length).toBeGreaterThanOrEqual(15);
    expect(media.length).toBeLessThanOrEqual(16);
    expect(caller.events.slice(idx + 1).some((e) => e.message?.event === 'media')).toBe(false);
    expect(caller.events[idx]!.message).toEqual({ event: 'mark', streamSid: caller.streamSid, mark: { name: 'm1' } });
    expect(media[0]!.message).toEqual({ event: 'media', streamSid: caller.streamSid, media: { payload: expect.any(String) } });
    expect(caller.violations).toEqual([]);
    expect(caller.heardMs()).toBeGreaterThanOrEqual(300);
    // The tone survives resampling and μ-law: it is not silence.
    expect(rmsDbfs(caller.heardAudio())).toBeGreaterThan(-20);
    expect(evts.find((e) => e.name === 'm1')).toEqual({ type: 'mark-played', name: 'm1', at: expect.any(Number) });
  });

  it('paces outbound audio about 80 ms ahead of real time instead of sending it all at once', async () => {
    const { callId, caller } = await placeCall();
    publishAgentAudio(callId, tone(1000, 16000), 'paced');
    await caller.waitForMark('paced', 5000);
    const media = mediaMessages(caller);
    expect(media.length).toBeGreaterThanOrEqual(50);
    const first = media[0]!.at;
    const early = media.filter((m) => m.at - first <= 100).length;
    // 100 ms of real time plus an 80 ms lead is about 9 frames; all 50 would arrive at once unpaced.
    expect(early).toBeLessThan(20);
    // Paced sending cannot finish 1 s of audio faster than 1 s less the lead.
    expect(media.at(-1)!.at - first).toBeGreaterThanOrEqual(800);
  });

  it('clear on media.<callId>.ctl drops the queue, sends clear, and reports unsent marks as cleared', async () => {
    let evts: MediaEvent[] = [];
    const { callId, caller } = await placeCall({ beforeConnect: async (id) => void (evts = await mediaEvents(id)) });
    publishAgentAudio(callId, tone(2000, 16000), 'long');
    await caller.waitForAgentAudio(100, 3000);
    probe.publish(contracts.mediaControl, { type: 'clear' }, { param: callId });
    await caller.waitFor((c) => c.clears === 1, 2000, 'clear');
    await until(() => evts.some((e) => e.name === 'long'), 'mark-played long');
    expect(evts.filter((e) => e.name === 'long')).toEqual([{ type: 'mark-played', name: 'long', cleared: true, at: expect.any(Number) }]);

    const clearIdx = caller.events.findIndex((e) => e.message?.event === 'clear');
    expect(caller.events[clearIdx]!.message).toEqual({ event: 'clear', streamSid: caller.streamSid });
    await new Promise((r) => setTimeout(r, 200));
    // Nothing queued before the clear is sent after it, and the dropped mark never reaches the caller.
    expect(caller.events.slice(clearIdx + 1).filter((e) => e.message?.event === 'media' || e.message?.event === 'mark')).toEqual([]);
    expect(mediaMessages(caller).length).toBeLessThan(50);
    expect(caller.heardMs()).toBeLessThan(1000);
    expect(caller.violations).toEqual([]);

    // The line is usable after a clear.
    publishAgentAudio(callId, tone(100, 16000), 'after');
    await caller.waitForMark('after');
  });

  it('republishes caller DTMF on media.<callId>.evt', async () => {
    let evts: MediaEvent[] = [];
    const { caller } = await placeCall({ beforeConnect: async (id) => void (evts = await mediaEvents(id)) });
    caller.dtmf('5');
    caller.dtmf('#');
    await until(() => evts.filter((e) => e.type === 'dtmf').length === 2, 'two dtmf events');
    expect(evts.filter((e) => e.type === 'dtmf').map((e) => e.digit)).toEqual(['5', '#']);
  });
});

describe('Twilio media stream: malformed input', () => {
  it('closes a stream after MAX_BAD_FRAMES malformed frames with 1008, counts them, and keeps serving', async () => {
    const { callId, caller } = await placeCall();
    const before = gw.stats.badFrames;
    const bad: Array<string | Buffer> = [
      'not json',
      JSON.stringify({ event: 'play', streamSid: caller.streamSid }),
      JSON.stringify({ event: 'media', streamSid: caller.streamSid, media: {} }),
      JSON.stringify({ event: 'media', streamSid: caller.streamSid, media: { payload: '%%%' } }),
      JSON.stringify({ event: 'dtmf', streamSid: caller.streamSid, dtmf: { digit: 'X' } }),
      JSON.stringify({ event: 'mark', streamSid: caller.streamSid, mark: {} }),
      JSON.stringify({ event: 'media', streamSid: `MZ${'0'.repeat(32)}`, media: { payload: '/w==' } }),
      Buffer.from([1, 2, 3]),
    ];
    for (let i = 0; i < 60; i++) caller.sendRaw(bad[i % bad.length]!);
    expect(await caller.waitForClose()).toEqual({ code: 1008, reason: 'too many malformed frames' });
    const counted = gw.stats.badFrames - before;
    expect(counted).toBeGreaterThanOrEqual(MAX_BAD_FRAMES);
    expect(counted).toBeLessThanOrEqual(60);
    await until(() => ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(ended.find((e) => e.callId === callId)?.reason).toBe('stream-closed');

    // The process is fine: a second call connects and its audio flows.
    const frames: Buffer[] = [];
    const second = await placeCall({ beforeConnect: async (id) => void probe.subscribeRaw(audioSubjects.mediaIn(id), (d) => void frames.push(Buffer.from(d))) });
    await until(() => frames.length >= 5, 'audio of the second call');
    expect(second.callId).not.toBe(callId);
    expect((await gw.app.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('counts a few malformed frames without closing the stream', async () => {
    const { callId, caller } = await placeCall();
    const before = gw.stats.badFrames;
    for (let i = 0; i < 5; i++) caller.sendRaw('{');
    await until(() => gw.stats.badFrames - before === 5, 'five bad frames counted');
    await new Promise((r) => setTimeout(r, 100));
    expect(gw.legs.has(callId)).toBe(true);
    publishAgentAudio(callId, tone(60, 16000), 'still-up');
    await caller.waitForMark('still-up');
  });
});

describe('Twilio media stream: ending a call', () => {
  it('cmd.media-gateway.hangup.<callId> plays out queued audio, closes with 1000 and publishes agent-hangup', async () => {
    const { callId, caller } = await placeCall();
    publishAgentAudio(callId, tone(500, 16000), 'bye');
    await probe.nc.flush();
    const reply = await probe.request(contracts.hangup, { reason: 'test' }, { param: callId, timeoutMs: 8000 });
    expect(reply).toEqual({ ok: true });
    expect(await caller.waitForClose()).toEqual({ code: 1000, reason: 'call ended' });
    // The goodbye was heard before the line closed (without the play-out wait at most the 80 ms lead would be).
    expect(caller.heardMs()).toBeGreaterThanOrEqual(400);
    await until(() => ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(ended.find((e) => e.callId === callId)).toEqual({
      callId,
      accountId: 'default',
      agentId: 'demo',
      reason: 'agent-hangup',
      endedAt: expect.any(String),
      durationMs: expect.any(Number),
    });
    expect(gw.legs.has(callId)).toBe(false);

    // The call is gone: nobody answers its hang-up subject any more.
    const again = await probe.request(contracts.hangup, {}, { param: callId, timeoutMs: 2000 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(again).toBeInstanceOf(SwitchboardError);
    expect((again as SwitchboardError).code).toBe(ErrorCodes.BUS_NO_RESPONDERS);
    expect(ended.filter((e) => e.callId === callId)).toHaveLength(1);
  });

  // Regression: the play-out wait compared against a frame grid re-anchored ahead of `now` on every
  // tick, so it never finished and every hang-up waited for its 5 s safety cap.
  it('regression: a hang-up completes once the goodbye has played, not at the 5 s safety cap', async () => {
    const { callId, caller } = await placeCall();
    publishAgentAudio(callId, tone(400, 16000), 'bye');
    await probe.nc.flush();
    const t0 = performance.now();
    await probe.request(contracts.hangup, { reason: 'test' }, { param: callId, timeoutMs: 8000 });
    const elapsed = performance.now() - t0;
    expect(caller.heardMs()).toBeGreaterThanOrEqual(300);
    // 400 ms of audio plus slack; the cap would make this 5,000 ms.
    expect(elapsed).toBeLessThan(3000);
  });

  it('tells the orchestrator when agent audio starts to play after an idle line', async () => {
    let evts: MediaEvent[] = [];
    const { callId, caller } = await placeCall({ beforeConnect: async (id) => void (evts = await mediaEvents(id)) });
    const before = Date.now();
    publishAgentAudio(callId, tone(200, 16000), 'a1');
    await caller.waitForMark('a1');
    await until(() => evts.some((e) => e.type === 'mark-played' && e.name === 'a1'), 'mark-played a1');
    const started = evts.filter((e) => e.type === 'playout-started');
    expect(started).toHaveLength(1);
    expect(started[0]!.at).toBeGreaterThanOrEqual(before);
  });

  it('a caller stop ends the call with reason caller-hangup', async () => {
    const { callId, caller } = await placeCall();
    await caller.hangup();
    await until(() => ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(ended.filter((e) => e.callId === callId).map((e) => e.reason)).toEqual(['caller-hangup']);
    expect(gw.legs.has(callId)).toBe(false);
  });
});
