import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Subscription } from '@nats-io/nats-core';
import { Bus } from '@switchboard/bus';
import { Headers, audioSubjects, contracts } from '@switchboard/contracts';
import { pcm16ToBuffer } from '@switchboard/audio';
import type { CallStarted, ListToolsReply } from '@switchboard/contracts';
import { validateAgentDefinition } from '@switchboard/agents';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { AccountStore, CallStore } from '@switchboard/session-store';
import { infraUrls, startFakeDeepgram, startFakeOpenAI, synthesizeSpeech } from '@switchboard/testing';
import type { FakeOpenAI } from '@switchboard/testing';
import { providersFor } from '../src/adapters/providers.ts';
import { loadConfig } from '../src/config.ts';
import { CallSession } from '../src/session/call-session.ts';
import { SessionState } from '../src/session/session-state.ts';
import { loadVad } from '../src/adapters/silero-vad.ts';

const log = createLogger('agent-orchestrator-test', 'silent');
let bus: Bus;
let redis: Redis;
let openai: FakeOpenAI;
/** An MCP endpoint that accepts connections and never answers. */
const hanging = createServer(() => undefined);
let hangingUrl: string;

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`call-session.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'agent-orchestrator-test', log });
  redis = await connectRedis(infra.redisUrl, { name: 'agent-orchestrator-test' });
  openai = await startFakeOpenAI();
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', () => r()));
  hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  hanging.closeAllConnections();
  await new Promise((r) => hanging.close(r));
  await openai?.close();
  await bus?.drain(2000);
  redis?.disconnect();
});

/** A session of a test agent (no greeting unless given) on the real bus and Redis, with the fake OpenAI providers. */
async function newSession(callId: string, extra: Record<string, unknown> = {}, discoveryBudgetMs = 500, env: Record<string, string> = {}): Promise<CallSession> {
  const agent = validateAgentDefinition({ id: 'demo', systemPrompt: 'Test agent.', stt: { provider: 'openai' }, llm: { provider: 'openai' }, tts: { provider: 'openai' }, ...extra }, 'test', {});
  const started: CallStarted = { callId, accountId: 'default', agentId: 'demo', direction: 'inbound', carrier: 'twilio', from: '+15557654321', to: '+15550001234', startedAt: new Date().toISOString() };
  const config = loadConfig({ OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test', LOG_LEVEL: 'silent', ...env });
  const { factory: vad } = await loadVad('energy');
  return new CallSession(started, agent, {
    bus,
    store: new CallStore(redis),
    state: new SessionState(redis, callId, log),
    accounts: new AccountStore(redis),
    providers: providersFor(agent, config),
    log,
    vad,
    discoveryBudgetMs,
    fillerAfterMs: 1000,
    webhook: { timeoutMs: 1000, allowPrivate: true },
    retentionS: 60,
    summaryTimeoutMs: 1000,
    timeZone: 'UTC',
  });
}

/**
 * Plays the gateway for a call: counts agent frames and echoes each mark, at once or (`realtime`)
 * when its audio would have finished playing; `clear` reports the marks not yet played as cleared.
 */
function fakeGateway(callId: string, realtime = false): { frames: () => number; marks: string[]; clears: () => number; stop: () => void } {
  let frames = 0;
  let clears = 0;
  let playUntil = 0;
  const marks: string[] = [];
  const timers = new Map<NodeJS.Timeout, string>();
  const played = (mark: string, cleared = false) => {
    marks.push(mark);
    bus.publish(contracts.mediaEvents, { type: 'mark-played', name: mark, ...(cleared ? { cleared } : {}), at: Date.now() }, { param: callId });
  };
  const sub = bus.subscribeRaw(audioSubjects.mediaOut(callId), (_data, headers) => {
    frames++;
    playUntil = Math.max(playUntil, performance.now()) + 20;
    const mark = headers?.has(Headers.mark) ? headers.get(Headers.mark) : undefined;
    if (!mark) return;
    if (!realtime) return played(mark);
    const t = setTimeout(() => {
      timers.delete(t);
      played(mark);
    }, playUntil - performance.now());
    timers.set(t, mark);
  });
  const ctl = bus.subscribe(
    contracts.mediaControl,
    () => {
      clears++;
      playUntil = 0;
      for (const [t, mark] of timers) {
        clearTimeout(t);
        played(mark, true);
      }
      timers.clear();
    },
    { param: callId },
  );
  return {
    frames: () => frames,
    marks,
    clears: () => clears,
    stop: () => {
      sub.unsubscribe();
      ctl.unsubscribe();
      for (const t of timers.keys()) clearTimeout(t);
    },
  };
}

/** Caller speech as the gateway sends it: 16 kHz 20 ms frames on media.<id>.in, then silence. */
async function callerSays(callId: string, text: string): Promise<void> {
  const pcm = await synthesizeSpeech(text, { sampleRate: 16000, engine: 'synthetic' });
  const frames = Math.ceil(pcm.length / 320) + 40;
  for (let i = 0; i < frames; i++) {
    const f = new Int16Array(320);
    f.set(pcm.subarray(i * 320, i * 320 + 320));
    bus.publishRaw(audioSubjects.mediaIn(callId), pcm16ToBuffer(f));
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 5));
  }
}

async function cleanup(callId: string): Promise<void> {
  await redis.del(`sb:call:${callId}`, `sb:call:${callId}:transcript`, `sb:session:${callId}`, `sb:session:${callId}:turns`, `sb:session:${callId}:tools`);
}

describe('voice.speak and voice.listen on a live call', () => {
  it('speak says the text on the call, records it and puts it in the model history', async () => {
    const callId = `call_speak_${randomBytes(4).toString('hex')}`;
    const session = await newSession(callId);
    const gw = fakeGateway(callId);
    try {
      await session.start();
      const reply = await bus.request(contracts.speak, { text: 'Your table is ready. Please come to the front desk.' }, { param: callId, timeoutMs: 5000 });
      expect(reply.ok).toBe(true);
      expect(reply.durationMs).toBeGreaterThan(500);
      expect(gw.frames() * 20).toBe(reply.durationMs);
      expect(gw.marks).toHaveLength(2);
      await new Promise((r) => setTimeout(r, 100));
      expect((await new CallStore(redis).transcript(callId)).map((l) => [l.role, l.text])).toEqual([['agent', 'Your table is ready. Please come to the front desk.']]);
      expect(session.messages.at(-1)).toEqual({ role: 'assistant', content: 'Your table is ready. Please come to the front desk.' });
    } finally {
      gw.stop();
      await session.stop('caller-hangup');
      await cleanup(callId);
    }
  });

  it('listen returns the caller’s next utterance and the model does not answer it', async () => {
    const callId = `call_listen_${randomBytes(4).toString('hex')}`;
    const session = await newSession(callId);
    try {
      await session.start();
      const chatsBefore = openai.counters.chat;
      openai.pushTranscripts('I would like a window seat');
      const listening = bus.request(contracts.listen, { timeoutMs: 10_000 }, { param: callId, timeoutMs: 12_000 });
      await new Promise((r) => setTimeout(r, 50));
      await callerSays(callId, 'I would like a window seat');
      expect(await listening).toEqual({ text: 'I would like a window seat', timedOut: false });
      await new Promise((r) => setTimeout(r, 200));
      expect(openai.counters.chat).toBe(chatsBefore);
      expect(session.messages.at(-1)).toEqual({ role: 'user', content: 'I would like a window seat' });
      expect(await bus.request(contracts.listen, { timeoutMs: 100 }, { param: callId })).toEqual({ timedOut: true });
    } finally {
      await session.stop('caller-hangup');
      await cleanup(callId);
    }
  });
});

describe('turn-taking', () => {
  it('a caller who goes on talking while the model is still thinking gets one answer to both parts', async () => {
    const callId = `call_think_${randomBytes(4).toString('hex')}`;
    const session = await newSession(callId, { endpointing: { minSilenceMs: 300 } });
    const gw = fakeGateway(callId);
    openai.setRules([{ whenUser: 'second part', say: 'Got both parts.' }, { say: 'Answer to the first part only.' }]);
    openai.setLatency({ chatTtftMs: 1500 });
    try {
      await session.start();
      openai.pushTranscripts('first part', 'second part');
      await callerSays(callId, 'I would like to book');
      // The first part is being answered (model slow); the caller adds the rest.
      await new Promise((r) => setTimeout(r, 300));
      await callerSays(callId, 'a table for two tonight');
      const deadline = Date.now() + 8000;
      while (!session.messages.some((m) => m.role === 'assistant') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(session.messages.slice(1)).toEqual([
        { role: 'user', content: 'first part' },
        { role: 'user', content: 'second part' },
        { role: 'assistant', content: 'Got both parts.' },
      ]);
    } finally {
      gw.stop();
      openai.setRules([]);
      openai.setLatency({});
      await session.stop('caller-hangup');
      await cleanup(callId);
    }
  });
});

describe('tools and barge-in', () => {
  it('a barge-in during a tool marked cancelOnBargeIn asks the broker to cancel it; the tool result still reaches the history', async () => {
    const callId = `call_cancel_${randomBytes(4).toString('hex')}`;
    const tool = { name: 'search_flights', originalName: 'search_flights', server: 'travel', description: 'Searches flights', inputSchema: { type: 'object', properties: {} } };
    const cancels: unknown[] = [];
    // Stands in for the broker for this call only: lists one tool, answers its call after 1.5 s.
    const subs: Subscription[] = [
      bus.nc.subscribe(contracts.listTools.subject(), {
        callback: (_e, msg) => {
          if (msg.headers?.get(Headers.callId) === callId) msg.respond(new TextEncoder().encode(JSON.stringify({ tools: [tool], pending: [], failed: [] })));
        },
      }),
      bus.nc.subscribe(contracts.callTool.subject(), {
        callback: (_e, msg) => {
          if (msg.headers?.get(Headers.callId) !== callId) return;
          setTimeout(() => msg.respond(new TextEncoder().encode(JSON.stringify({ isError: true, text: '{"error":"cancelled","fallback":true}', code: 'TOOL_CANCELLED', latencyMs: 1500 }))), 1500);
        },
      }),
    ];
    subs.push(bus.subscribe(contracts.toolCancelRequested, (c) => void cancels.push(c), { param: callId }));
    await bus.nc.flush();
    const session = await newSession(callId, { mcpServers: [{ name: 'travel', url: 'http://127.0.0.1:9/mcp', tools: { search_flights: { cancelOnBargeIn: true, fillerAfterMs: 100 } } }] });
    const gw = fakeGateway(callId, true);
    openai.setRules([{ afterTool: 'search_flights', say: 'Nothing found.' }, { whenUser: 'flight', toolCalls: [{ name: 'search_flights', arguments: {} }] }]);
    try {
      await session.start();
      openai.pushTranscripts('find me a flight', 'never mind');
      await callerSays(callId, 'Find me a flight to Lisbon');
      // The filler line plays while the tool runs; the caller talks over it.
      const deadline = Date.now() + 5000;
      while (gw.frames() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await callerSays(callId, 'Never mind, forget it');
      while (session.messages.filter((m) => m.role === 'user').length < 2 && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 20));
      expect(gw.clears()).toBeGreaterThanOrEqual(1);
      expect(cancels).toEqual([{ invocationId: expect.stringMatching(new RegExp(`^${callId}:`)), reason: 'barge-in' }]);
      const roles = session.messages.slice(1).map((m) => m.role);
      expect(roles.slice(0, 3)).toEqual(['user', 'assistant', 'tool']);
      expect(roles).toContain('user');
    } finally {
      for (const sub of subs) sub.unsubscribe();
      gw.stop();
      openai.setRules([]);
      await session.stop('caller-hangup');
      await cleanup(callId);
    }
  });
});

describe('streaming STT (stt.provider: deepgram)', () => {
  it('streams the caller audio as it comes and takes the final transcript at the end of the utterance', async () => {
    const deepgram = await startFakeDeepgram({ apiKey: 'dg-test', utterances: [{ text: 'I need a taxi to the airport', afterAudioMs: 1000 }] });
    const callId = `call_dg_${randomBytes(4).toString('hex')}`;
    const session = await newSession(callId, { stt: { provider: 'deepgram', model: 'nova-3' } }, 500, { DEEPGRAM_API_KEY: 'dg-test', DEEPGRAM_URL: deepgram.url });
    const gw = fakeGateway(callId);
    openai.setRules([{ whenUser: 'taxi', say: 'A taxi is on its way.' }]);
    const sttBefore = openai.counters.stt;
    try {
      await session.start();
      // The stream opens on the first audio; give it a moment before the caller starts.
      bus.publishRaw(audioSubjects.mediaIn(callId), pcm16ToBuffer(new Int16Array(320)));
      await new Promise((r) => setTimeout(r, 300));
      await callerSays(callId, 'I need a taxi to the airport');
      const deadline = Date.now() + 5000;
      while (gw.marks.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(session.messages.slice(-2)).toEqual([
        { role: 'user', content: 'I need a taxi to the airport' },
        { role: 'assistant', content: 'A taxi is on its way.' },
      ]);
      expect(openai.counters.stt).toBe(sttBefore);
      expect(deepgram.connections[0]!.params).toMatchObject({ encoding: 'linear16', sample_rate: '16000', model: 'nova-3' });
      expect(deepgram.counters.audioBytes).toBeGreaterThan(16000 * 2);
      expect(deepgram.counters.finalizes).toBeGreaterThanOrEqual(1);
    } finally {
      gw.stop();
      openai.setRules([]);
      await session.stop('caller-hangup');
      await deepgram.close();
      await cleanup(callId);
    }
  });
});

describe('session state in Redis', () => {
  it('keeps the agent snapshot, history, turn state and metrics, then the retention after the call', async () => {
    const callId = `call_state_${randomBytes(4).toString('hex')}`;
    const session = await newSession(callId, { firstMessage: 'Hello there, caller.' });
    const gw = fakeGateway(callId);
    openai.setRules([{ whenUser: 'open', say: 'We open at nine.' }]);
    try {
      await session.start();
      // The caller waits for the greeting to end (speaking over it would be a barge-in).
      while (gw.marks.length === 0) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      openai.pushTranscripts('When do you open');
      await callerSays(callId, 'When do you open');
      const deadline = Date.now() + 5000;
      while (gw.marks.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await session.stop('caller-hangup');
      const snap = await SessionState.read(redis, callId);
      expect(snap.agent?.id).toBe('demo');
      expect(snap.started?.callId).toBe(callId);
      expect(snap.messages?.map((m) => m.role)).toEqual(['system', 'assistant', 'user', 'assistant']);
      expect(snap.turn?.state).toBe('ended');
      expect(snap.vad).toBe('energy');
      expect(snap.turns).toHaveLength(1);
      expect(snap.turns[0]).toMatchObject({ turn: 1, interrupted: false, modelRounds: 1 });
      expect(snap.turns[0]!.agent_response_ms).toBeGreaterThan(0);
      const ttl = await redis.ttl(`sb:session:${callId}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
    } finally {
      gw.stop();
      openai.setRules([]);
      await session.stop('caller-hangup');
      await cleanup(callId);
    }
  });
});

describe('CallSession tool discovery', () => {
  it('re-asks for pending MCP servers while the call lasts and stops once it has ended (regression: the re-poll outlived the call)', async () => {
    const callId = `call_discovery_${randomBytes(4).toString('hex')}`;
    // Stands in for the broker for this call only: a plain subscription (no queue group) that answers
    // this call's list-tools requests with the server still pending and leaves every other request alone.
    const asked: number[] = [];
    const pending: ListToolsReply = { tools: [], pending: ['slow'], failed: [] };
    const sub: Subscription = bus.nc.subscribe(contracts.listTools.subject(), {
      callback: (_err, msg) => {
        if (msg.headers?.get(Headers.callId) !== callId) return;
        asked.push(Date.now());
        msg.respond(new TextEncoder().encode(JSON.stringify(pending)));
      },
    });
    await bus.nc.flush();

    const session = await newSession(callId, { mcpServers: [{ name: 'slow', url: hangingUrl }] }, 100);
    try {
      await session.start();
      await new Promise((r) => setTimeout(r, 1600));
      // Asked at start, then again about once a second while the server stays pending.
      expect(asked.length).toBeGreaterThanOrEqual(2);

      await session.stop('caller-hangup');
      const atStop = asked.length;
      await new Promise((r) => setTimeout(r, 2500));
      expect(asked.length).toBe(atStop);
    } finally {
      sub.unsubscribe();
      await session.stop('caller-hangup');
      await cleanup(callId);
    }
  });
});
