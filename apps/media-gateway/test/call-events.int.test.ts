import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Bus, rawHeaders } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { decodeWav, pcm16ToBuffer, rmsDbfs } from '@switchboard/audio';
import { CALL_EVENTS_STREAM, ErrorCodes, Headers, SwitchboardError, audioSubjects, contracts } from '@switchboard/contracts';
import type { CallEnded, CallStarted } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { TwilioStreamCaller, infraUrls, parseTwimlStream } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import type { Gateway } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

/** Lifecycle events on JetStream (a consumer that was down misses none) and per-call recording. */

const AGENTS_DIR = fileURLToPath(new URL('../../../config/agents', import.meta.url));
const INSTANCE = 'gw-events-test';
const log = createLogger('media-gateway-test', 'silent');
let bus: Bus;
let probe: Bus;
let redis: Redis;
let gw: Gateway;
let streamUrl = '';
let recordings = '';
const ours = new Set<string>();
const ended: CallEnded[] = [];
const callers: TwilioStreamCaller[] = [];

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function tone(ms: number, rate: number, amplitude = 8000): Int16Array {
  return Int16Array.from({ length: (ms * rate) / 1000 }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * 400 * i) / rate)));
}

/** An inbound call to the demo number: webhook, then the media stream. */
async function placeCall(): Promise<{ callId: string; caller: TwilioStreamCaller }> {
  const res = await gw.app.inject({
    method: 'POST',
    url: '/twilio/voice',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ From: '+15557654321', To: '+15550001234', CallSid: `CA${randomBytes(16).toString('hex')}`, Direction: 'inbound' }).toString(),
  });
  const params = parseTwimlStream(res.body)!.parameters;
  const callId = params.callId!;
  ours.add(callId);
  await probe.nc.flush();
  const caller = await TwilioStreamCaller.connect({ url: streamUrl, customParameters: params });
  callers.push(caller);
  return { callId, caller };
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`call-events.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-events-test', log });
  probe = await Bus.connect({ url: infra.natsUrl, name: 'media-gateway-events-test-probe', log });
  redis = await connectRedis(infra.redisUrl, { name: 'media-gateway-events-test' });
  recordings = await mkdtemp(join(tmpdir(), 'sb-recordings-'));
  const agents = new AgentRegistry(await loadAgents(AGENTS_DIR, {}));
  const config = loadConfig({ TWILIO_VALIDATE_SIGNATURES: 'false', AGENTS_DIR, RECORDINGS_DIR: recordings, LOG_LEVEL: 'silent' });
  gw = await buildApp({ config, bus, redis, agents, log, instanceId: INSTANCE });
  streamUrl = `${(await gw.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws')}/twilio/stream`;
  probe.handle(contracts.startSession, (req) => {
    if (!ours.has(req.callId)) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, 'not a call of this test', { retryable: true });
    return { callId: req.callId, instanceId: 'fake-orchestrator' };
  });
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
  await rm(recordings, { recursive: true, force: true });
});

describe('lifecycle events on JetStream', () => {
  it('a durable consumer that was down receives every event of a call that started and ended meanwhile', async () => {
    const durable = `gw-events-test-${randomBytes(4).toString('hex')}`;
    const admin = await Bus.connect({ url: (await infraUrls()).natsUrl, name: 'events-admin', log });
    const jsm = await jetstreamManager(admin.nc);
    await jsm.consumers.add(CALL_EVENTS_STREAM.name, { durable_name: durable, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.New, filter_subject: 'evt.call.>' });
    // The consumer's process is down: nothing pulls while the call runs.
    await admin.close();
    try {
      const { callId, caller } = await placeCall();
      caller.dtmf('3');
      await new Promise((r) => setTimeout(r, 200));
      await caller.hangup();
      await until(() => ended.some((e) => e.callId === callId), 'evt.call.ended');

      // The consumer comes back (new connection, same durable) and catches up.
      const back = await Bus.connect({ url: (await infraUrls()).natsUrl, name: 'events-consumer', log });
      try {
        const consumer = await jetstream(back.nc).consumers.get(CALL_EVENTS_STREAM.name, durable);
        const mine: Array<{ subject: string; callId: string | undefined; body: Record<string, unknown> }> = [];
        // Bounded: at most 20 batches of other tests' events before ours are all in.
        for (let batch = 0; batch < 20 && !mine.some((m) => m.subject === 'evt.call.ended'); batch++) {
          for await (const m of await consumer.fetch({ max_messages: 100, expires: 1000 })) {
            m.ack();
            if (m.headers?.get(Headers.callId) === callId) mine.push({ subject: m.subject, callId: m.headers.get(Headers.callId), body: m.json<Record<string, unknown>>() });
          }
        }
        expect(mine.map((m) => m.subject)).toEqual(['evt.call.started', 'evt.call.answered', 'evt.call.dtmf-received', 'evt.call.ended']);
        expect(mine.map((m) => m.body.callId)).toEqual([callId, callId, callId, callId]);
        expect(mine[2]!.body).toMatchObject({ digit: '3' });
        expect(mine[3]!.body).toMatchObject({ reason: 'caller-hangup' });
      } finally {
        await back.close();
      }
    } finally {
      const cleanup = await Bus.connect({ url: (await infraUrls()).natsUrl, name: 'events-cleanup', log });
      await (await jetstreamManager(cleanup.nc)).consumers.delete(CALL_EVENTS_STREAM.name, durable).catch(() => false);
      await cleanup.close();
    }
  });

  it('evt.call.started is stored in CALL_EVENTS with the call id header', async () => {
    const { callId } = await placeCall();
    const jsm = await jetstreamManager(probe.nc);
    let stored: CallStarted | undefined;
    for (let i = 0; i < 50 && !stored; i++) {
      const m = await jsm.streams.getMessage(CALL_EVENTS_STREAM.name, { last_by_subj: 'evt.call.started' }).catch(() => null);
      const body = m?.json<CallStarted>();
      if (body?.callId === callId) stored = body;
      else await new Promise((r) => setTimeout(r, 20));
    }
    expect(stored).toMatchObject({ callId, direction: 'inbound', carrier: 'twilio', gatewayInstance: INSTANCE });
  });
});

describe('recording (RECORDINGS_DIR)', () => {
  it('writes <callId>-caller.wav and <callId>-agent.wav, 8 kHz PCM16, lined up in time', async () => {
    const { callId, caller } = await placeCall();
    const t0 = Date.now();
    await caller.say(tone(400, 8000));
    // Agent audio: 300 ms of tone at 16 kHz, published as the orchestrator does, ending with a mark.
    const agentAt = Date.now() - t0;
    const pcm = tone(300, 16000);
    for (let i = 0; i < pcm.length; i += 320) {
      probe.publishRaw(audioSubjects.mediaOut(callId), pcm16ToBuffer(pcm.slice(i, i + 320)), i + 320 >= pcm.length ? rawHeaders({ [Headers.mark]: 'end' }) : undefined);
    }
    await caller.waitForMark('end', 3000);
    await new Promise((r) => setTimeout(r, 200));
    await caller.hangup();
    await until(() => ended.some((e) => e.callId === callId), 'evt.call.ended');

    const callerPath = join(recordings, `${callId}-caller.wav`);
    const agentPath = join(recordings, `${callId}-agent.wav`);
    // The files are finished asynchronously after the end: wait for the header to carry the size.
    let callerWav: ReturnType<typeof decodeWav> | undefined;
    for (let i = 0; i < 100 && !callerWav?.samples.length; i++) {
      try {
        if ((await stat(callerPath)).size > 44) callerWav = decodeWav(await readFile(callerPath));
      } catch {
        // Not there yet.
      }
      if (!callerWav?.samples.length) await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100));
    callerWav = decodeWav(await readFile(callerPath));
    const agentWav = decodeWav(await readFile(agentPath));
    expect(callerWav.sampleRate).toBe(8000);
    expect(agentWav.sampleRate).toBe(8000);
    expect(callerWav.channels).toBe(1);

    /** 20 ms windows louder than -30 dBFS. */
    const loudWindows = (s: Int16Array) => {
      const out: number[] = [];
      for (let i = 0; i + 160 <= s.length; i += 160) if (rmsDbfs(s.subarray(i, i + 160)) > -30) out.push(i / 160);
      return out;
    };
    const callerLoud = loudWindows(callerWav.samples);
    const agentLoud = loudWindows(agentWav.samples);
    // 400 ms of caller tone is 20 windows; 300 ms of agent tone is 15 (one more where a window straddles an edge).
    expect(callerLoud.length).toBeGreaterThanOrEqual(19);
    expect(callerLoud.length).toBeLessThanOrEqual(21);
    expect(agentLoud.length).toBeGreaterThanOrEqual(15);
    expect(agentLoud.length).toBeLessThanOrEqual(16);
    // The agent audio sits where it played: not before the caller's tone ended (it was published after
    // the last tone frame was sent; the two files line up within a 20 ms frame), near when it was published.
    const agentStartMs = agentLoud[0]! * 20;
    expect(agentStartMs).toBeGreaterThanOrEqual(callerLoud.at(-1)! * 20);
    expect(Math.abs(agentStartMs - agentAt)).toBeLessThan(300);
    // The caller file covers the whole call (media every 20 ms from start to hang-up).
    expect(callerWav.samples.length / 8).toBeGreaterThanOrEqual(agentStartMs + 300);
  });

  it('records nothing when RECORDINGS_DIR is unset', async () => {
    const config = loadConfig({ TWILIO_VALIDATE_SIGNATURES: 'false', AGENTS_DIR, LOG_LEVEL: 'silent' });
    expect(config.RECORDINGS_DIR).toBeUndefined();
  });
});
