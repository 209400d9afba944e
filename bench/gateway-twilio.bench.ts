/**
 * Twilio Media Streams at scale: N concurrent calls (100, 500, 1,000) against one media-gateway
 * process, with the load generator (bench/twilio-loadgen.ts) in a separate process.
 *
 *   npx tsx bench/gateway-twilio.bench.ts            (or `npm run bench gateway-twilio`)
 *   GW_BENCH_CALLS=100,500 GW_BENCH_WINDOW_S=5 …     (other sizes / a shorter window)
 *   GW_BENCH_PROFILE_DIR=/tmp/prof …                 (a V8 CPU profile of the gateway per size)
 *
 * Needs NATS (JetStream) and Redis (`NATS_URL`, `REDIS_URL`) and the gateway bundle in dist/ (built
 * here when missing). The gateway runs `node dist/apps/media-gateway/main.js`, pinned with
 * `taskset -c 1` when taskset exists and the machine has a second core; the load generator is pinned
 * to core 0. This process plays the orchestrator on the bus: it claims every call and publishes the
 * agent's audio on `media.<callId>.out` as 20 ms frames at real time on average (a 600 ms burst, then
 * 100 ms every 100 ms, as streamed TTS arrives), so the gateway's pacer, not the source, sets the
 * outbound timing. Per N, over a steady window:
 *
 * - gateway CPU per call (/proc/<pid>/stat, % of one core) and in total;
 * - gateway RSS per call (VmRSS under load minus idle, / N);
 * - p99 outbound frame-interval error (load generator: |gap − 20 ms| between agent frames of a call,
 *   leaving out the frames sent ahead at the start of a run);
 * - p99 latency from sending a caller frame to its publication on NATS (first 100 calls, both ends
 *   in the load generator).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, loadavg, setPriority } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { pcm16ToBuffer } from '@switchboard/audio';
import { audioSubjects, contracts } from '@switchboard/contracts';
import { recordResults, type BenchResult, cpuSeconds as procCpuSeconds, rssMb } from './lib.ts';

/** CPU seconds of a process (NaN when unknown), for arithmetic. */
const cpuSeconds = (pid: number | undefined): number => procCpuSeconds(pid) ?? Number.NaN;
import type { LoadgenOptions, LoadgenReport } from './twilio-loadgen.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SIZES = (process.env.GW_BENCH_CALLS ?? '100,500,1000').split(',').map(Number).filter((n) => n > 0);
/** Steady window per size (s), after the warm-up. */
const WINDOW_S = Number(process.env.GW_BENCH_WINDOW_S ?? 0) || undefined;
const WARMUP_MS = 2500;
const LEAD_MS = 80;
const SAMPLE_CALLS = 100;
const DEMO_NUMBER = '+15550001234';
const STARTUP_TIMEOUT_MS = 20_000;
/** The whole run is abandoned (children stopped, exit 1) past this. */
const RUN_TIMEOUT_MS = 180_000;
const BIN_MS = 0.1;
const log = pino({ level: 'warn' });

const pinning = existsSync('/usr/bin/taskset') && availableParallelism() >= 2;
/**
 * On a machine shared with other work, a pinned gateway gets only its scheduler share of its core and
 * the figures measure the neighbours. When allowed (root), the bench's processes run at nice -10 so
 * they get the CPU they ask for; with Linux autogroups (a nice value only ranks processes inside their
 * session's group) the bench's group is given that nice too. GW_BENCH_NICE=0 turns both off.
 */
const NICE = process.env.GW_BENCH_NICE !== undefined ? Number(process.env.GW_BENCH_NICE) : process.getuid?.() === 0 ? -10 : 0;
const children = new Set<ChildProcess>();

function windowFor(n: number): number {
  return WINDOW_S ?? (n >= 1000 ? 12 : n >= 500 ? 8 : 6);
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

function start(cmd: string, args: string[], env: Record<string, string>, core: number | undefined, ipc = false): { proc: ChildProcess; tail: string[] } {
  const pinned: [string, string[]] = pinning && core !== undefined ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
  const [file, argv] = NICE !== 0 ? ['nice', ['-n', String(NICE), pinned[0], ...pinned[1]]] : pinned;
  const proc = spawn(file, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (b: Buffer) => {
    for (const line of b.toString().split('\n')) if (line.trim()) tail.push(line.slice(0, 300));
    if (tail.length > 30) tail.splice(0, tail.length - 30);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return { proc, tail };
}

async function stop(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill(signal);
  const t = setTimeout(() => proc.kill('SIGKILL'), 8000);
  await exited;
  clearTimeout(t);
}



function histPercentile(hist: number[], p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    seen += hist[i]!;
    if (seen >= rank) return (i + 1) * BIN_MS;
  }
  return hist.length * BIN_MS;
}

/** Starts a gateway on free ports and waits for /readyz. */
async function startGateway(instanceId: string): Promise<{ proc: ChildProcess; tail: string[]; url: string }> {
  const bundle = join(ROOT, 'dist/apps/media-gateway/main.js');
  const port = await freePort();
  // GW_BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of the gateway there when it exits.
  const profile = process.env.GW_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GW_BENCH_PROFILE_DIR}`] : [];
  const g = start(process.execPath, [...profile, bundle], {
    NATS_URL,
    REDIS_URL,
    PORT: String(port),
    SIP_PORT: String(await freePort()),
    HOST: '127.0.0.1',
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    TWILIO_VALIDATE_SIGNATURES: 'false',
    LOG_LEVEL: 'warn',
    INSTANCE_ID: instanceId,
    OUTBOUND_LEAD_MS: String(LEAD_MS),
    AGENTS_DIR: join(ROOT, 'config/agents'),
  }, 1);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (g.proc.exitCode !== null) throw new Error(`media-gateway exited during startup:\n  ${g.tail.join('\n  ')}`);
    try {
      if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).ok) return { ...g, url };
    } catch {
      // not yet
    }
    await sleep(100);
  }
  throw new Error(`media-gateway not ready within ${STARTUP_TIMEOUT_MS} ms:\n  ${g.tail.join('\n  ')}`);
}

/**
 * The orchestrator's side: claims calls and streams agent audio into them until stopped. Claims and
 * audio use separate NATS connections, as the real orchestrator's control never queues behind audio:
 * when the gateway falls behind, the server slows the connection that floods it, not the claims.
 */
class FakeOrchestrator {
  private readonly calls: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private tick = 0;
  /** 20 ms frames of a 16 kHz tone (immutable: NATS may hold them until its next flush). */
  private readonly frames: Buffer[];
  published = 0;

  constructor(
    private readonly bus: Bus,
    private readonly audio: Bus,
  ) {
    this.frames = Array.from({ length: 10 }, (_, f) => pcm16ToBuffer(Int16Array.from({ length: 320 }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 440 * (f * 320 + i)) / 16000)))));
  }

  private sub: ReturnType<Bus['handle']> | undefined;

  start(): void {
    this.sub = this.bus.handle(contracts.startSession, (req) => {
      this.calls.push(req.callId);
      // The opening of the reply arrives faster than real time, as streamed TTS does.
      this.send(req.callId, 30);
      return { callId: req.callId, instanceId: 'bench-orchestrator' };
    });
    // Every 10 ms, a tenth of the calls get their next 100 ms: real time on average for every call.
    const origin = performance.now();
    const pump = () => {
      const slot = this.tick % 10;
      for (let i = slot; i < this.calls.length; i += 10) this.send(this.calls[i]!, 5);
      this.tick++;
      this.timer = setTimeout(pump, Math.max(0, origin + this.tick * 10 - performance.now()));
    };
    pump();
  }

  private send(callId: string, frames: number): void {
    const subject = audioSubjects.mediaOut(callId);
    for (let f = 0; f < frames; f++) this.audio.publishRaw(subject, this.frames[(this.published + f) % this.frames.length]!);
    this.published += frames;
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.sub?.unsubscribe();
    this.calls.length = 0;
  }
}

async function runSize(bus: Bus, audio: Bus, n: number): Promise<BenchResult> {
  const gw = await startGateway(`media-gateway-bench-${process.pid}-${n}`);
  const pid = gw.proc.pid!;
  await sleep(500);
  const idleRss = rssMb(pid);
  const orchestrator = new FakeOrchestrator(bus, audio);
  orchestrator.start();
  await bus.nc.flush();

  const options: LoadgenOptions = { gatewayUrl: gw.url, natsUrl: NATS_URL, calls: n, sampleCalls: Math.min(SAMPLE_CALLS, n), leadFrames: LEAD_MS / 20, to: DEMO_NUMBER };
  const lgProfile = process.env.GW_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.GW_BENCH_PROFILE_DIR}`] : [];
  const lg = start(process.execPath, [...lgProfile, '--import', 'tsx', join(ROOT, 'bench/twilio-loadgen.ts'), JSON.stringify(options)], {}, 0, true);
  const reports: LoadgenReport[] = [];
  const next = (type: LoadgenReport['type'], timeoutMs: number) =>
    new Promise<LoadgenReport>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`load generator: no ${type} within ${timeoutMs} ms:\n  ${lg.tail.join('\n  ')}`)), timeoutMs);
      const check = () => {
        const found = reports.find((r) => r.type === type);
        if (found) {
          clearTimeout(t);
          resolve(found);
        } else if (lg.proc.exitCode !== null) {
          clearTimeout(t);
          reject(new Error(`load generator exited (${lg.proc.exitCode}):\n  ${lg.tail.join('\n  ')}`));
        } else setTimeout(check, 50);
      };
      check();
    });
  lg.proc.on('message', (m: LoadgenReport) => reports.push(m));
  try {
    const ready = await next('ready', 90_000);
    if (ready.type !== 'ready') throw new Error('unexpected report');
    console.log(`  N=${n}: ${ready.connected} streams up in ${(ready.setupMs / 1000).toFixed(1)} s${ready.failed ? `, ${ready.failed} failed (${ready.firstError})` : ''}`);
    await sleep(WARMUP_MS);
    const windowS = windowFor(n);
    const cpu0 = cpuSeconds(pid);
    const published0 = orchestrator.published;
    const t0 = performance.now();
    lg.proc.send({ type: 'measure-start' });
    await sleep(windowS * 1000);
    lg.proc.send({ type: 'measure-stop' });
    const cpu1 = cpuSeconds(pid);
    const elapsedS = (performance.now() - t0) / 1000;
    const publishedRatio = (orchestrator.published - published0) / (ready.connected * elapsedS * 50);
    const loadedRss = rssMb(pid);
    const results = await next('results', 10_000);
    if (results.type !== 'results') throw new Error('unexpected report');
    const cpuPct = ((cpu1 - cpu0) / elapsedS) * 100;
    const health = await bus.requestAll(contracts.health, {}, { param: 'media-gateway', maxWaitMs: 2000 });
    const details = health.find((h) => h.instanceId === `media-gateway-bench-${process.pid}-${n}`)?.details as { activeCalls?: number; pacer?: { latenessP99Ms: number; lateTicks: number } } | undefined;
    const active = Number(details?.activeCalls ?? Number.NaN);
    const pacerLateP99 = Number(details?.pacer?.latenessP99Ms ?? Number.NaN);
    const p99Interval = histPercentile(results.intervalErrorHist, 99);
    // CPU per frame actually handled (one caller frame in + one agent frame out makes a pair), scaled to
    // 1,000 calls at 50 pairs a second: the efficiency figure that holds when a starved load generator
    // or orchestrator delivered less than real time.
    const pairsPerS = (results.framesSent + results.framesReceived) / 2 / (results.windowMs / 1000);
    const projected1000 = pairsPerS > 0 ? ((((cpu1 - cpu0) / elapsedS) * (1000 * 50)) / pairsPerS) * 100 : Number.NaN;
    const p99Latency = histPercentile(results.latencyHist, 99);
    const expectedFrames = ready.connected * (results.windowMs / 20);
    console.log(
      `  N=${n}: gateway CPU ${cpuPct.toFixed(1)}% of a core (${projected1000.toFixed(0)}% projected for 1,000 calls at full rate), RSS ${idleRss.toFixed(0)} → ${loadedRss.toFixed(0)} MB, active ${active}; ` +
        `interval error p50 ${histPercentile(results.intervalErrorHist, 50).toFixed(1)} p99 ${p99Interval.toFixed(1)} ms (gateway pacer tick lateness p99 ${pacerLateP99.toFixed(1)} ms); latency p50 ${histPercentile(results.latencyHist, 50).toFixed(1)} p99 ${p99Latency.toFixed(1)} ms; ` +
        `caller frames sent ${((results.framesSent / expectedFrames) * 100).toFixed(0)}% of real time; agent frames received ${results.framesReceived} of ${Math.round(expectedFrames)} expected (orchestrator published ${(publishedRatio * 100).toFixed(0)}% of real time); load generator loop delay p99 ${results.loopDelayP99Ms.toFixed(1)} ms`,
    );
    if (process.env.GW_BENCH_VERBOSE) console.log(`  gateway output:\n    ${gw.tail.slice(-10).join('\n    ')}`);
    return {
      name: `gateway-twilio-${n}`,
      metrics: {
        calls: ready.connected,
        gateway_cpu_pct: cpuPct,
        cpu_pct_per_call: cpuPct / ready.connected,
        rss_mb_per_call: (loadedRss - idleRss) / ready.connected,
        p99_frame_interval_error_ms: p99Interval,
        p50_frame_interval_error_ms: histPercentile(results.intervalErrorHist, 50),
        p99_caller_frame_to_nats_ms: p99Latency,
        p50_caller_frame_to_nats_ms: histPercentile(results.latencyHist, 50),
        agent_frames_delivered_ratio: expectedFrames ? results.framesReceived / expectedFrames : Number.NaN,
        orchestrator_published_ratio: publishedRatio,
        gateway_pacer_tick_lateness_p99_ms: pacerLateP99,
        projected_cpu_pct_1000_calls: projected1000,
        caller_frames_sent_ratio: expectedFrames ? results.framesSent / expectedFrames : Number.NaN,
        loadgen_loop_delay_p99_ms: results.loopDelayP99Ms,
        load_avg_1m: loadavg()[0]!,
      },
      target: { p99_frame_interval_error_ms: '≤ 5', projected_cpu_pct_1000_calls: '≤ 100', ...(n >= 1000 ? { gateway_cpu_pct: '≤ 100' } : {}) },
      notes:
        `${ready.connected} concurrent Twilio media streams for ${windowS} s (after ${WARMUP_MS / 1000} s warm-up) against one gateway process` +
        `${pinning ? ' pinned to core 1 (taskset), load generator on core 0' : ' (not pinned: no taskset or one core)'}${NICE ? `, bench processes at nice ${NICE}` : ''}; ` +
        `agent audio at real time in bursts from a fake orchestrator; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} cores shared with other work.`,
    };
  } finally {
    orchestrator.stop();
    if (lg.proc.exitCode === null) {
      lg.proc.send({ type: 'stop' });
      await Promise.race([new Promise((r) => lg.proc.once('exit', r)), sleep(5000)]);
      await stop(lg.proc, 'SIGKILL');
    }
    await stop(gw.proc);
  }
}

async function main(): Promise<void> {
  if (NICE !== 0) {
    setPriority(NICE);
    try {
      // The bench's own autogroup (its session: this process and the children it starts).
      if (existsSync('/proc/self/autogroup')) writeFileSync('/proc/self/autogroup', String(NICE));
    } catch (err) {
      console.log(`could not set the autogroup nice (${(err as Error).message}); figures include the scheduler's share`);
    }
  }
  if (!existsSync(join(ROOT, 'dist/apps/media-gateway/main.js'))) {
    console.log('building dist/ (node scripts/build.mjs apps/media-gateway)');
    const b = spawn(process.execPath, ['scripts/build.mjs', 'apps/media-gateway'], { cwd: ROOT, stdio: 'inherit' });
    await new Promise((r) => b.once('exit', r));
  }
  const bus = await Bus.connect({ url: NATS_URL, name: `gateway-twilio-bench-${process.pid}`, log });
  const others = await bus.requestAll(contracts.health, {}, { param: 'agent-orchestrator', maxWaitMs: 300 });
  if (others.length) throw new Error(`agent-orchestrator instances share this NATS (${others.map((o) => o.instanceId).join(', ')}): they would claim the bench's calls`);
  console.log(`gateway-twilio bench: NATS ${NATS_URL}, Redis ${REDIS_URL}; sizes ${SIZES.join(', ')}; ${pinning ? 'gateway pinned to core 1' : 'no pinning'}; nice ${NICE}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const audio = await Bus.connect({ url: NATS_URL, name: `gateway-twilio-bench-audio-${process.pid}`, log });
  const results: BenchResult[] = [];
  try {
    for (const n of SIZES) results.push(await runSize(bus, audio, n));
  } finally {
    await audio.drain(2000);
    await bus.drain(2000);
  }
  const big = results.find((r) => r.metrics.calls! >= 1000);
  if (big) {
    const fits = big.metrics.gateway_cpu_pct! < 100 && big.metrics.p99_frame_interval_error_ms! <= 5 && big.metrics.agent_frames_delivered_ratio! > 0.98;
    console.log(`\n1,000 streams on one core: ${fits ? 'fit' : 'do NOT fit'} (CPU ${big.metrics.gateway_cpu_pct!.toFixed(0)}%, p99 interval error ${big.metrics.p99_frame_interval_error_ms!.toFixed(1)} ms, ${(big.metrics.agent_frames_delivered_ratio! * 100).toFixed(1)}% of agent frames delivered)`);
  }
  recordResults(results);
}

const watchdog = setTimeout(() => {
  console.error(`gateway-twilio bench: gave up after ${RUN_TIMEOUT_MS / 1000} s`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();

main()
  .then(() => process.exit(0))
  .catch(async (err: unknown) => {
    console.error(err);
    for (const c of children) await stop(c, 'SIGKILL');
    process.exit(1);
  });
