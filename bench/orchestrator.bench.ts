/**
 * Agent response latency: the platform's own share of `agent_response_ms` (end of the caller's speech
 * to the first agent audio frame) with fake providers of fixed, known latency, for 1 call and for 100
 * concurrent calls on one orchestrator instance; and memory per call.
 *
 *   npx tsx bench/orchestrator.bench.ts        (or `npm run bench`, which builds and finds NATS/Redis)
 *
 * The orchestrator (dist bundle, Silero VAD) and the fake OpenAI server (fixed STT, model and TTS
 * latency) run as child processes. This process plays the callers and the media gateway on NATS: it
 * publishes each caller's 16 kHz frames on `media.<id>.in` every 20 ms (espeak speech, then silence),
 * watches `media.<id>.out` for the agent's audio, and acknowledges each mark when its audio would have
 * finished playing, as the gateway does. Per turn:
 *
 *   platform_ms = agent_response_ms - endpointing silence - STT - model TTFT - TTS TTFB
 *
 * with agent_response_ms as the orchestrator measures it (from the caller's last speech frame as its
 * VAD judged it, to the first agent frame published; the gateway adds one NATS hop) and the provider
 * latencies the fake's configured ones, so HTTP overheads count as the platform's. `own_ms`
 * subtracts the provider times the orchestrator measured instead (HTTP overheads then count as the
 * providers'). `caller_ms` is platform_ms seen from this process (the last speech frame sent to the
 * first agent frame received), which also includes the VAD's judgement of where speech ended.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Redis } from 'ioredis';
import { Bus } from '@switchboard/bus';
import { pcm16ToBuffer } from '@switchboard/audio';
import { audioSubjects, contracts, Headers, type CallStarted, type HealthReply, type TurnMetrics } from '@switchboard/contracts';
import { findEspeak, synthesizeSpeech } from '@switchboard/testing';
import { percentile, recordResults, summarize, type BenchResult, cpuSeconds as procCpuSeconds, rssMb } from './lib.ts';

/** CPU seconds of a process (NaN when unknown), for arithmetic. */
const cpuSeconds = (pid: number | undefined): number => procCpuSeconds(pid) ?? Number.NaN;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** The fake providers' fixed latencies (ms) and the agent's end-of-turn silence. */
const LATENCY = { sttMs: 60, chatTtftMs: 120, ttsTtfbMs: 80 } as const;
const MIN_SILENCE_MS = 400;
const PROVIDERS_MS = LATENCY.sttMs + LATENCY.chatTtftMs + LATENCY.ttsTtfbMs;
const UTTERANCE = 'Is my order ready?';
const ANSWER = 'Yes, it is.';

const SINGLE_TURNS = 16;
/** First turns of the single call left out: the first connections to the providers and cold code paths. */
const WARMUP_TURNS = 2;
const CONCURRENT_CALLS = 100;
const CONCURRENT_TURNS = 3;
/** Callers of the concurrent phase start spread over this window, so their turns do not all coincide. */
const STAGGER_MS = 3000;
const FRAME_MS = 20;
/** Longest one turn may wait for the agent's first frame before it counts as lost. */
const TURN_TIMEOUT_MS = 10_000;
const RUN_TIMEOUT_MS = 150_000;
const INSTANCE_ID = `orchestrator-bench-${process.pid}`;

// ---------------------------------------------------------------------------------------------
// Child processes

interface Child {
  name: string;
  proc: ChildProcess;
  tail: string[];
  /** pino warn/error records counted by message, so a run says what went wrong without a log dump. */
  warnings: Map<string, number>;
  exited: Promise<void>;
}
const children: Child[] = [];

function startChild(name: string, bundle: string, env: Record<string, string>): Child {
  const file = join(ROOT, 'dist', bundle, 'main.js');
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  // BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of each child there when it exits.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const proc = spawn(process.execPath, [...profile, file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const warnings = new Map<string, number>();
  const keep = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      const m = /"level":(40|50|60).*"msg":"([^"]*)"/.exec(line);
      if (m && warnings.size < 50) {
        const kind = m[2]!.replace(/\d+/g, 'N').slice(0, 160);
        warnings.set(kind, (warnings.get(kind) ?? 0) + 1);
      }
    }
    if (tail.length > 60) tail.splice(0, tail.length - 60);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const child = { name, proc, tail, warnings, exited: new Promise<void>((r) => proc.once('exit', () => r())) };
  children.push(child);
  return child;
}

async function stopAll(): Promise<void> {
  for (const c of [...children].reverse()) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
    c.proc.kill('SIGTERM');
    const t = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
    await c.exited;
    clearTimeout(t);
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHttp(c: Child, url: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (c.proc.exitCode !== null) throw new Error(`${c.name} exited:\n${c.tail.join('\n')}`);
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(1000) })).ok) return;
    } catch {
      // not up yet
    }
    await sleep(100);
  }
  throw new Error(`${c.name} not ready at ${url}:\n${c.tail.join('\n')}`);
}


// ---------------------------------------------------------------------------------------------
// Simulated callers (and the gateway's side of the media subjects)

type Phase = 'lead' | 'speech' | 'wait' | 'listen' | 'gap' | 'done';

class SimCaller {
  phase: Phase = 'lead';
  private phaseFrames: number;
  private speechPos = 0;
  turn = 0;
  speechEndAt = 0;
  /** Caller-side latency per turn: last speech frame sent → first agent frame received. */
  readonly observed: number[] = [];
  private firstFrameSeen = false;
  private lastOutAt = 0;
  private playUntil = 0;
  lost = 0;
  private readonly inSubject: string;

  constructor(
    readonly callId: string,
    private readonly bus: Bus,
    private readonly speech: Int16Array,
    private readonly turns: number,
    leadMs: number,
  ) {
    this.inSubject = audioSubjects.mediaIn(callId);
    this.phaseFrames = Math.max(1, Math.round(leadMs / FRAME_MS));
    bus.subscribeRaw(audioSubjects.mediaOut(callId), (data, headers) => this.onAgentFrame(data, headers?.has(Headers.mark) ? headers.get(Headers.mark) : undefined));
  }

  private onAgentFrame(data: Uint8Array, mark: string | undefined): void {
    const now = performance.now();
    if (this.phase === 'wait' && !this.firstFrameSeen) {
      this.firstFrameSeen = true;
      this.observed.push(now - this.speechEndAt);
      this.phase = 'listen';
    }
    this.lastOutAt = now;
    // Playout: 20 ms per frame, after whatever is still playing.
    this.playUntil = Math.max(this.playUntil, now) + (data.length / 640) * FRAME_MS;
    if (mark) {
      const at = this.playUntil;
      setTimeout(() => this.bus.publish(contracts.mediaEvents, { type: 'mark-played', name: mark, at: Date.now() }, { param: this.callId }), Math.max(0, at - now));
    }
  }

  /** Sends this caller's next 20 ms frame. */
  tick(silence: Buffer): void {
    const now = performance.now();
    switch (this.phase) {
      case 'lead':
      case 'gap':
        this.bus.publishRaw(this.inSubject, silence);
        if (--this.phaseFrames <= 0) {
          this.phase = 'speech';
          this.speechPos = 0;
        }
        return;
      case 'speech': {
        const frame = this.speech.subarray(this.speechPos, this.speechPos + 320);
        this.bus.publishRaw(this.inSubject, pcm16ToBuffer(frame));
        this.speechPos += 320;
        if (this.speechPos + 320 > this.speech.length) {
          this.speechEndAt = performance.now();
          this.firstFrameSeen = false;
          this.phase = 'wait';
        }
        return;
      }
      case 'wait':
        this.bus.publishRaw(this.inSubject, silence);
        if (now - this.speechEndAt > TURN_TIMEOUT_MS) {
          this.lost++;
          this.endTurn();
        }
        return;
      case 'listen':
        this.bus.publishRaw(this.inSubject, silence);
        if (now > this.playUntil + 150 && now - this.lastOutAt > 150) this.endTurn();
        return;
      case 'done':
        return;
    }
  }

  private endTurn(): void {
    this.turn++;
    if (this.turn >= this.turns) {
      this.phase = 'done';
      return;
    }
    this.phase = 'gap';
    this.phaseFrames = 15;
  }
}

/** One 20 ms clock for every caller: sends each active caller's next frame, catching up after a stall. */
async function drive(callers: SimCaller[], deadlineMs: number): Promise<void> {
  const silence = Buffer.alloc(640);
  const start = performance.now();
  let k = 0;
  while (callers.some((c) => c.phase !== 'done')) {
    if (performance.now() - start > deadlineMs) throw new Error(`callers still talking after ${deadlineMs} ms`);
    const due = Math.floor((performance.now() - start) / FRAME_MS);
    // At most 5 frames of catch-up per caller after a stall; beyond that the audio is late, not bunched.
    for (let n = 0; k <= due && n < 5; k++, n++) for (const c of callers) c.tick(silence);
    if (k <= due) k = due + 1;
    await sleep(Math.max(0, start + k * FRAME_MS - performance.now()));
  }
}

// ---------------------------------------------------------------------------------------------

function started(callId: string): CallStarted {
  return { callId, accountId: 'default', agentId: 'bench', direction: 'inbound', carrier: 'twilio', from: '+15557654321', to: '+15550009999', startedAt: new Date().toISOString() };
}

async function startCall(bus: Bus, callId: string): Promise<void> {
  const claimed = await bus.request(contracts.startSession, started(callId), { timeoutMs: 5000 });
  if (claimed.instanceId !== INSTANCE_ID) throw new Error(`call ${callId} was claimed by ${claimed.instanceId}, not this benchmark's orchestrator: another orchestrator listens on ${NATS_URL}; run the benchmark on a NATS of its own`);
}

async function endCalls(bus: Bus, redis: Redis, ids: string[], turns: number): Promise<TurnMetrics[]> {
  for (const id of ids) bus.publish(contracts.callEnded, { callId: id, reason: 'caller-hangup', endedAt: new Date().toISOString() }, { callId: id });
  const out: TurnMetrics[] = [];
  const deadline = Date.now() + 10_000;
  for (const id of ids) {
    let list: string[] = [];
    while (Date.now() < deadline) {
      list = await redis.lrange(`sb:session:${id}:turns`, 0, -1);
      if (list.length >= turns) break;
      await sleep(50);
    }
    out.push(...list.map((s) => JSON.parse(s) as TurnMetrics));
  }
  return out;
}

async function health(bus: Bus): Promise<HealthReply | undefined> {
  const replies = await bus.requestAll(contracts.health, {}, { param: 'agent-orchestrator', maxWaitMs: 500 });
  return replies.find((r) => r.instanceId === INSTANCE_ID);
}

/** Drops the silence espeak leaves before and after the words, so "end of speech" is where the words end. */
function trimSilence(pcm: Int16Array): Int16Array {
  const loud = (i: number) => Math.abs(pcm[i]!) > 300;
  let a = 0;
  let b = pcm.length - 1;
  while (a < b && !loud(a)) a++;
  while (b > a && !loud(b)) b--;
  return pcm.slice(a, b + 1);
}


const platform = (t: TurnMetrics) => (t.agent_response_ms ?? NaN) - MIN_SILENCE_MS - PROVIDERS_MS;
/** The same with the provider times the orchestrator itself measured (HTTP overheads then count as the providers'). */
const own = (t: TurnMetrics) => (t.agent_response_ms ?? NaN) - (t.endpoint_ms ?? NaN) - (t.stt_ms ?? NaN) - (t.llm_ttft_ms ?? NaN) - (t.tts_ttfb_ms ?? NaN);
const round = (v: number) => Math.round(v * 10) / 10;

async function main(): Promise<void> {
  const espeak = findEspeak() !== null;
  const speech = trimSilence(await synthesizeSpeech(UTTERANCE, { sampleRate: 16000, engine: espeak ? 'espeak' : 'synthetic' }));
  const tmp = mkdtempSync(join(tmpdir(), 'sb-orch-bench-'));
  const script = join(tmp, 'script.json');
  const transcripts = Array.from({ length: SINGLE_TURNS + CONCURRENT_CALLS * CONCURRENT_TURNS + 50 }, () => UTTERANCE);
  writeFileSync(script, JSON.stringify({ transcripts, latency: { sttMs: LATENCY.sttMs, chatTtftMs: LATENCY.chatTtftMs, ttsTtfbMs: LATENCY.ttsTtfbMs, chatTokenMs: 0 }, rules: [{ say: ANSWER }] }));

  const openaiPort = await freePort();
  const orchPort = await freePort();
  const fake = startChild('fake-openai', 'libs/testing/fake-openai', { PORT: String(openaiPort), HOST: '127.0.0.1', FAKE_OPENAI_SCRIPT: script });
  await waitHttp(fake, `http://127.0.0.1:${openaiPort}/v1/models`);
  const vad = espeak ? 'silero' : 'energy';
  const orch = startChild('agent-orchestrator', 'apps/agent-orchestrator', {
    NATS_URL,
    REDIS_URL,
    PORT: String(orchPort),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    INSTANCE_ID,
    AGENTS_DIR: join(ROOT, 'bench/fixtures/agents'),
    OPENAI_BASE_URL: `http://127.0.0.1:${openaiPort}/v1`,
    VAD: vad,
  });
  await waitHttp(orch, `http://127.0.0.1:${orchPort}/readyz`);
  const bus = await Bus.connect({ url: NATS_URL, name: 'orchestrator-bench', log: pino({ level: 'silent' }) });
  const redis = new Redis(REDIS_URL);
  const results: BenchResult[] = [];
  try {
    // 1 call, turns one after another.
    const single = `bench_single_${process.pid}`;
    await startCall(bus, single);
    const one = new SimCaller(single, bus, speech, SINGLE_TURNS, 300);
    let cpu0 = cpuSeconds(orch.proc.pid);
    let t0 = performance.now();
    await drive([one], 60_000);
    const cpu1 = (cpuSeconds(orch.proc.pid) - cpu0) / ((performance.now() - t0) / 1000);
    const singleTurns = (await endCalls(bus, redis, [single], SINGLE_TURNS)).filter((t) => !t.interrupted && t.turn > WARMUP_TURNS);
    one.observed.splice(0, WARMUP_TURNS);
    const share1 = singleTurns.map(platform).filter(Number.isFinite);
    if (process.env.BENCH_VERBOSE) for (const t of singleTurns) console.log(JSON.stringify(t));

    // 100 calls at once on the same orchestrator.
    const idle = await health(bus);
    const ids = Array.from({ length: CONCURRENT_CALLS }, (_, i) => `bench_${process.pid}_${i}`);
    for (const id of ids) await startCall(bus, id);
    const callers = ids.map((id) => new SimCaller(id, bus, speech, CONCURRENT_TURNS, 200 + Math.random() * STAGGER_MS));
    await sleep(500);
    const loaded = await health(bus);
    const rssLoaded = rssMb(orch.proc.pid);
    cpu0 = cpuSeconds(orch.proc.pid);
    t0 = performance.now();
    await drive(callers, 90_000);
    const cpuN = (cpuSeconds(orch.proc.pid) - cpu0) / ((performance.now() - t0) / 1000);
    const during = await health(bus);
    const manyTurns = (await endCalls(bus, redis, ids, CONCURRENT_TURNS)).filter((t) => !t.interrupted);
    const shareN = manyTurns.map(platform).filter(Number.isFinite);
    const lost = callers.reduce((n, c) => n + c.lost, 0) + one.lost;

    const p = (values: number[], q: number) => round(percentile(values.filter(Number.isFinite).sort((a, b) => a - b), q));
    const fields = (turns: TurnMetrics[]) => ({
      own_ms_p50: p(turns.map(own), 50),
      own_ms_p95: p(turns.map(own), 95),
      endpoint_ms_p50: p(turns.map((t) => t.endpoint_ms ?? NaN), 50),
      stt_ms_p50: p(turns.map((t) => t.stt_ms ?? NaN), 50),
      llm_ttft_ms_p50: p(turns.map((t) => t.llm_ttft_ms ?? NaN), 50),
      tts_ttfb_ms_p50: p(turns.map((t) => t.tts_ttfb_ms ?? NaN), 50),
    });
    const s1 = summarize(share1);
    const sN = summarize(shareN);
    const resp1 = summarize(singleTurns.map((t) => t.agent_response_ms ?? NaN).filter(Number.isFinite));
    const respN = summarize(manyTurns.map((t) => t.agent_response_ms ?? NaN).filter(Number.isFinite));
    const obs1 = summarize(one.observed.map((v) => v - MIN_SILENCE_MS - PROVIDERS_MS));
    const obsN = summarize(callers.flatMap((c) => c.observed).map((v) => v - MIN_SILENCE_MS - PROVIDERS_MS));
    const perCall = loaded && idle ? (loaded.details as { memory: { rss: number; heapUsed: number } }).memory : undefined;
    const idleMem = idle ? (idle.details as { memory: { rss: number; heapUsed: number } }).memory : undefined;
    const duringMem = during ? (during.details as { memory: { rss: number; heapUsed: number } }).memory : undefined;
    const load = loadavg().map((l) => l.toFixed(2)).join(' ');
    const notes = `fake providers: STT ${LATENCY.sttMs} ms, model TTFT ${LATENCY.chatTtftMs} ms, TTS TTFB ${LATENCY.ttsTtfbMs} ms; endpointing ${MIN_SILENCE_MS} ms; VAD ${vad}; caller speech ${espeak ? 'espeak' : 'synthetic'}; load average ${load} (2 shared cores)`;
    results.push({
      name: 'orchestrator: 1 call',
      metrics: { turns: singleTurns.length, platform_ms_p50: round(s1.p50), platform_ms_p95: round(percentile([...share1].sort((a, b) => a - b), 95)), agent_response_ms_p50: round(resp1.p50), agent_response_ms_p95: round(percentile(singleTurns.map((t) => t.agent_response_ms!).sort((a, b) => a - b), 95)), caller_ms_p95: round(percentile(one.observed.map((v) => v - MIN_SILENCE_MS - PROVIDERS_MS).sort((a, b) => a - b), 95)), ...fields(singleTurns), orchestrator_cpu_cores: round(cpu1 * 100) / 100 },
      target: { platform_ms_p95: '≤ 20' },
      notes: `${notes}; the first ${WARMUP_TURNS} turns are warm-up, not counted; caller_ms p50 ${round(obs1.p50)}`,
    });
    results.push({
      name: `orchestrator: ${CONCURRENT_CALLS} concurrent calls`,
      metrics: {
        turns: manyTurns.length,
        lost_turns: lost,
        platform_ms_p50: round(sN.p50),
        platform_ms_p95: round(percentile([...shareN].sort((a, b) => a - b), 95)),
        agent_response_ms_p50: round(respN.p50),
        agent_response_ms_p95: round(percentile(manyTurns.map((t) => t.agent_response_ms!).sort((a, b) => a - b), 95)),
        caller_ms_p95: round(percentile(callers.flatMap((c) => c.observed).map((v) => v - MIN_SILENCE_MS - PROVIDERS_MS).sort((a, b) => a - b), 95)),
        ...fields(manyTurns),
        ...(perCall && idleMem ? { rss_mb_per_call: round((perCall.rss - idleMem.rss) / CONCURRENT_CALLS), heap_mb_per_call: round((perCall.heapUsed - idleMem.heapUsed) / CONCURRENT_CALLS) } : {}),
        ...(duringMem && idleMem ? { rss_mb_per_call_talking: round((duringMem.rss - idleMem.rss) / CONCURRENT_CALLS) } : {}),
        ...(rssLoaded !== undefined ? { orchestrator_rss_mb: round(rssLoaded) } : {}),
        orchestrator_cpu_cores: round(cpuN * 100) / 100,
      },
      target: { platform_ms_p95: '≤ 50', lost_turns: '≤ 0' },
      notes: `${notes}; caller_ms p50 ${round(obsN.p50)}; memory per call = (RSS and heap with ${CONCURRENT_CALLS} live sessions - idle) / ${CONCURRENT_CALLS}, "talking" measured after every call's last turn`,
    });
    recordResults(results);
    for (const c of children) for (const [msg, n] of c.warnings) console.log(`${c.name} logged ${n} × ${msg}`);
  } finally {
    await bus.close();
    redis.disconnect();
    await stopAll();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const watchdog = setTimeout(() => {
  console.error(`orchestrator bench: no result after ${RUN_TIMEOUT_MS} ms; stopping`);
  void stopAll().finally(() => process.exit(1));
}, RUN_TIMEOUT_MS);
watchdog.unref();
main().then(
  () => process.exit(0),
  async (err: unknown) => {
    console.error(`orchestrator bench failed: ${(err as Error).message}`);
    for (const c of children) console.error(`--- ${c.name}\n${c.tail.slice(-20).join('\n')}`);
    await stopAll();
    process.exit(1);
  },
);
