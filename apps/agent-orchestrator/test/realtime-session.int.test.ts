import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pcm16ToBuffer } from '@switchboard/audio';
import { Bus } from '@switchboard/bus';
import { Headers, audioSubjects, contracts, type CallStarted, type TranscriptAppended } from '@switchboard/contracts';
import { validateAgentDefinition } from '@switchboard/agents';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { AccountStore, CallStore } from '@switchboard/session-store';
import { infraUrls, startFakeOpenAI, startFakeRealtime, type FakeOpenAI, type FakeRealtime } from '@switchboard/testing';
import { providersFor } from '../src/adapters/providers.ts';
import { loadVad } from '../src/adapters/silero-vad.ts';
import { loadConfig } from '../src/config.ts';
import { RealtimeSession } from '../src/session/realtime-session.ts';
import { SessionState } from '../src/session/session-state.ts';

const log = createLogger('agent-orchestrator-test', 'silent');
let bus: Bus;
let redis: Redis;
let openai: FakeOpenAI;
let realtime: FakeRealtime;
let hook: Server;
const lines: TranscriptAppended[] = [];

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`realtime-session.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'realtime-session-test', log });
  redis = await connectRedis(infra.redisUrl);
  openai = await startFakeOpenAI();
  hook = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"points":1200}'));
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  bus.subscribe(contracts.transcriptAppended, (t) => void lines.push(t));
});

afterAll(async () => {
  await realtime?.close();
  await openai?.close();
  hook.closeAllConnections();
  await new Promise((r) => hook.close(r));
  await bus?.drain(2000);
  redis?.disconnect();
});

async function session(callId: string, fake: FakeRealtime): Promise<RealtimeSession> {
  const agent = validateAgentDefinition(
    {
      id: 'rt',
      systemPrompt: 'You are a realtime agent.',
      firstMessage: 'Hello from the model.',
      engine: { provider: 'openai-realtime', voice: 'marin' },
      tools: [{ name: 'lookup_loyalty', description: 'points', url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/points` }],
    },
    'test',
    {},
  );
  const started: CallStarted = { callId, accountId: 'default', agentId: 'rt', direction: 'inbound', carrier: 'twilio', from: '+15557654321', to: '+15550001234', startedAt: new Date().toISOString() };
  const config = loadConfig({ OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test', OPENAI_REALTIME_URL: fake.url, LOG_LEVEL: 'silent' });
  const { factory: vad } = await loadVad('energy');
  return new RealtimeSession(started, agent, {
    bus,
    store: new CallStore(redis),
    state: new SessionState(redis, callId, log),
    accounts: new AccountStore(redis),
    providers: providersFor(agent, config),
    log,
    vad,
    discoveryBudgetMs: 100,
    fillerAfterMs: 1000,
    webhook: { timeoutMs: 1000, allowPrivate: true },
    retentionS: 60,
    summaryTimeoutMs: 1000,
    timeZone: 'UTC',
  });
}

/** The gateway's side: plays agent frames in real time, echoes marks when played, honours clear. */
function gateway(callId: string): { frames: () => number; clears: () => number; stop: () => void } {
  let frames = 0;
  let clears = 0;
  let playUntil = 0;
  const timers = new Set<NodeJS.Timeout>();
  const pending = new Set<string>();
  const out = bus.subscribeRaw(audioSubjects.mediaOut(callId), (_d, headers) => {
    frames++;
    playUntil = Math.max(playUntil, performance.now()) + 20;
    const mark = headers?.has(Headers.mark) ? headers.get(Headers.mark) : undefined;
    if (!mark) return;
    pending.add(mark);
    const t = setTimeout(() => {
      timers.delete(t);
      pending.delete(mark);
      bus.publish(contracts.mediaEvents, { type: 'mark-played', name: mark, at: Date.now() }, { param: callId });
    }, playUntil - performance.now());
    timers.add(t);
  });
  const ctl = bus.subscribe(
    contracts.mediaControl,
    () => {
      clears++;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      playUntil = 0;
      for (const m of pending) bus.publish(contracts.mediaEvents, { type: 'mark-played', name: m, cleared: true, at: Date.now() }, { param: callId });
      pending.clear();
    },
    { param: callId },
  );
  return {
    frames: () => frames,
    clears: () => clears,
    stop: () => {
      out.unsubscribe();
      ctl.unsubscribe();
      for (const t of timers) clearTimeout(t);
    },
  };
}

/** Loud caller audio for `ms`, then silence, at 16 kHz on media.<id>.in. */
async function callerTalks(callId: string, ms: number, silenceMs = 800): Promise<void> {
  for (let i = 0; i < (ms + silenceMs) / 20; i++) {
    const f = new Int16Array(320);
    if (i * 20 < ms) for (let j = 0; j < 320; j++) f[j] = Math.round(Math.sin(j / 3) * 8000);
    bus.publishRaw(audioSubjects.mediaIn(callId), pcm16ToBuffer(f));
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('speech-to-speech calls (engine: openai-realtime)', () => {
  it('greets, passes caller audio as μ-law, runs a tool for the model and speaks its answer', async () => {
    realtime = await startFakeRealtime({ msPerChar: 20, userTranscripts: ['How many points do I have?'], turns: [{ say: 'Hello from the model.' }, { functionCall: { name: 'lookup_loyalty', arguments: {} } }, { say: 'You have {{output.points}} points.' }] });
    const callId = `call_rt_${randomBytes(4).toString('hex')}`;
    const gw = gateway(callId);
    const s = await session(callId, realtime);
    try {
      await s.start();
      await until(() => lines.some((l) => l.callId === callId && l.text === 'Hello from the model.'), 5000, 'the greeting');
      await callerTalks(callId, 600);
      await until(() => lines.some((l) => l.callId === callId && l.text === 'You have 1200 points.'), 8000, 'the answer');
      const mine = lines.filter((l) => l.callId === callId).map((l) => [l.role, l.tool?.name ?? l.text]);
      expect(mine).toEqual([
        ['agent', 'Hello from the model.'],
        ['caller', 'How many points do I have?'],
        ['tool', 'lookup_loyalty'],
        ['agent', 'You have 1200 points.'],
      ]);
      const fs = realtime.sessions[0]!;
      expect(fs.functionOutputs.map((o) => o.output)).toEqual(['{"points":1200}']);
      expect(fs.audioBytes).toBeGreaterThan(8000 * 0.5);
      expect((fs.session.audio as { input: { format: { type: string } } }).input.format.type).toBe('audio/pcmu');
      expect(gw.frames()).toBeGreaterThan(30);
    } finally {
      gw.stop();
      await s.stop('caller-hangup');
      await realtime.close();
    }
  });

  it('on barge-in clears the gateway, cancels the response and truncates it to what was heard', async () => {
    realtime = await startFakeRealtime({ msPerChar: 60, userTranscripts: ['wait'], turns: [{ say: 'This is a very long greeting that goes on and on about our opening hours and our many fine products.' }, { say: 'Yes?' }] });
    const callId = `call_rtb_${randomBytes(4).toString('hex')}`;
    const gw = gateway(callId);
    const s = await session(callId, realtime);
    try {
      await s.start();
      await until(() => gw.frames() > 0, 5000, 'agent audio');
      await new Promise((r) => setTimeout(r, 1000));
      await callerTalks(callId, 500);
      await until(() => realtime.counters.truncates > 0, 5000, 'the truncate');
      expect(gw.clears()).toBe(1);
      const t = realtime.sessions[0]!.truncates[0]!;
      expect(t.audio_end_ms).toBeGreaterThanOrEqual(600);
      expect(t.audio_end_ms).toBeLessThan(3000);
      await until(() => lines.some((l) => l.callId === callId && l.interrupted), 3000, 'the interrupted line');
      const cut = lines.find((l) => l.callId === callId && l.interrupted)!;
      expect(cut.text.length).toBeGreaterThan(0);
      expect('This is a very long greeting that goes on and on about our opening hours and our many fine products.'.startsWith(cut.text)).toBe(true);
      expect(cut.text.length).toBeLessThan(80);
    } finally {
      gw.stop();
      await s.stop('caller-hangup');
      await realtime.close();
    }
  });

  it('a model that drops mid-call gets a fallback line and a reconnect', async () => {
    realtime = await startFakeRealtime({ msPerChar: 20, turns: [{ say: 'Hello from the model.' }] });
    realtime.failNext('drop');
    const callId = `call_rtd_${randomBytes(4).toString('hex')}`;
    const gw = gateway(callId);
    const s = await session(callId, realtime);
    try {
      await s.start();
      await until(() => realtime.counters.connections === 2, 5000, 'the reconnect');
      await until(() => lines.some((l) => l.callId === callId && l.text === "Sorry, I'm having trouble right now. Could you say that again?"), 5000, 'the fallback line');
      await until(() => gw.frames() > 0, 5000, 'the fallback audio');
    } finally {
      gw.stop();
      await s.stop('caller-hangup');
      await realtime.close();
    }
  });
});
