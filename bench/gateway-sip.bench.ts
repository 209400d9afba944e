/**
 * SIP/RTP at scale: N concurrent sipp `uac_pcap` calls (30 ms A-law packets from g711a.pcap, then an
 * RFC 4733 "1") against one media-gateway process.
 *
 *   npx tsx bench/gateway-sip.bench.ts               (or `npm run bench gateway-sip`)
 *   SIP_BENCH_CALLS=50,100 SIP_BENCH_RATE=100 …     (other sizes / call rate per second)
 *   SIP_BENCH_TRACE=1 …                             (the gateway's interval-error histogram every second)
 *   SIP_BENCH_PROFILE_DIR=/tmp/prof …                (a V8 CPU profile of the gateway per size)
 *
 * Needs NATS and Redis (`NATS_URL`, `REDIS_URL`), sipp (Debian `sip-tester`) and the gateway bundle in
 * dist/ (built here when missing). Per N, a fresh gateway process (`node dist/apps/media-gateway/main.js`)
 * takes the calls; this process plays the orchestrator on the bus (claims each call, counts its frames on
 * `media.<callId>.in`, publishes a 2 s greeting on `media.<callId>.out`). Figures, per N:
 *
 * - gateway CPU per call (/proc/<pid>/stat over a window in which all N calls are up, % of one core);
 * - gateway RSS per call (VmRSS in that window minus idle, / N);
 * - p99 outbound frame-interval error: measured inside the gateway, |time between two RTP packets of a
 *   call − 20 ms| at the moment each packet is handed to the socket (sipp cannot report the timing of
 *   the RTP it receives, and a capture process would compete for the same two cores); the gateway's
 *   health details carry the histogram (`details.sip.rtp.sendIntervalErrorMs`), and two snapshots
 *   give the figure of the window (whole-run figures are reported as run_*);
 *   An idle Node process's 20 ms timer is measured beside it in the same window
 *   (`idle_timer_lateness_p99_ms`): on a loaded machine the interval error is mostly that lateness;
 * - p99 latency from a caller packet's arrival (the RTP socket's `message` event) to the publication of
 *   its audio on NATS (`details.sip.rtp.inboundLatencyMs`), jitter-buffer hold included; NATS delivery
 *   to the orchestrator is not included.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, loadavg, setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { pcm16ToBuffer } from '@switchboard/audio';
import { audioSubjects, contracts, type CallStarted } from '@switchboard/contracts';
import { percentileOfSparse } from '../apps/media-gateway/src/rtp/histogram.ts';
import { recordResults, type BenchResult, cpuSeconds as procCpuSeconds, rssMb } from './lib.ts';

/** CPU seconds of a process (NaN when unknown), for arithmetic. */
const cpuSeconds = (pid: number | undefined): number => procCpuSeconds(pid) ?? Number.NaN;

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SIZES = (process.env.SIP_BENCH_CALLS ?? '50,100,200').split(',').map(Number).filter((n) => n > 0);
/** New calls per second sipp places (all N are up after N / RATE seconds; each lasts about 9.3 s). */
const RATE = Number(process.env.SIP_BENCH_RATE ?? 100);
/** How long CPU and RSS are measured once every call is up (s). */
const WINDOW_S = 3;
const STARTUP_TIMEOUT_MS = 20_000;
/** One size's sipp run is abandoned past this (s). */
const SIPP_TIMEOUT_S = 40;
/** The whole run is abandoned (children stopped, exit 1) past this. */
const RUN_TIMEOUT_MS = 150_000;
const GREETING_FRAMES = 100;
/**
 * On a machine shared with other work the gateway gets only its scheduler share and the timing figures
 * measure the neighbours: when allowed (root), the bench and its children (gateway, sipp) run at this
 * nice value, and so does the bench's autogroup. SIP_BENCH_NICE=0 turns it off.
 */
const NICE = Number(process.env.SIP_BENCH_NICE ?? -10);
const log = pino({ level: 'warn' });
const children = new Set<ChildProcess>();

async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function freeUdpPort(even = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const s = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve(s.address().port));
    });
    s.close();
    if (!even || port % 2 === 0) return port;
  }
  throw new Error('no free UDP port');
}



function start(cmd: string, args: string[], env: Record<string, string>, cwd = ROOT): { proc: ChildProcess; tail: string[] } {
  const proc = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  const tail: string[] = [];
  const keep = (d: Buffer) => {
    tail.push(...d.toString().split('\n').filter(Boolean));
    if (tail.length > 60) tail.splice(0, tail.length - 60);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, tail };
}

async function stop(proc: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill(signal);
  await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(8000)]);
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
}

type Sparse = { resolutionMs: number; buckets: Array<[number, number]> };
type HistDetails = Sparse & { p50: number; p99: number; n: number };

interface SipDetails {
  calls: number;
  rtp: { packetsIn: number; packetsOut: number; lost: number; late: number; sendIntervalErrorMs: HistDetails; inboundLatencyMs: HistDetails; clockLatenessMs: { p50: number; p99: number; max: number } };
}

async function gatewayDetails(bus: Bus, instanceId: string): Promise<{ activeCalls?: number; sip?: SipDetails } | undefined> {
  const all = await bus.requestAll(contracts.health, {}, { param: 'media-gateway', maxWaitMs: 1500 });
  return all.find((h) => h.instanceId === instanceId)?.details as { activeCalls?: number; sip?: SipDetails } | undefined;
}

/** Claims the gateway's calls (answering start-session for that instance only), counts caller frames, sends a greeting. */
function fakeOrchestrator(bus: Bus, instanceId: string) {
  const frames = new Map<string, number>();
  const greeting = Int16Array.from({ length: GREETING_FRAMES * 320 }, (_, i) => Math.round(6000 * Math.sin((2 * Math.PI * 300 * i) / 16000)));
  const sub = bus.nc.subscribe(contracts.startSession.subject(), {
    callback: (err, msg) => {
      if (err) return;
      const req = JSON.parse(new TextDecoder().decode(msg.data)) as CallStarted;
      if (req.gatewayInstance !== instanceId) return;
      frames.set(req.callId, 0);
      bus.subscribeRaw(audioSubjects.mediaIn(req.callId), () => frames.set(req.callId, (frames.get(req.callId) ?? 0) + 1));
      msg.respond(new TextEncoder().encode(JSON.stringify({ callId: req.callId, instanceId: 'sip-bench-orchestrator' })));
      for (let i = 0; i < GREETING_FRAMES; i++) bus.publishRaw(audioSubjects.mediaOut(req.callId), pcm16ToBuffer(greeting.subarray(i * 320, (i + 1) * 320)));
    },
  });
  return {
    frames,
    total: () => [...frames.values()].reduce((a, b) => a + b, 0),
    stop: () => sub.unsubscribe(),
  };
}

/**
 * An idle Node process's 20 ms timer lateness (p99, ms) over `seconds`, measured beside the gateway:
 * what the machine's load alone does to a timer, so the gateway's interval error can be read against it.
 */
function timerBaseline(seconds: number): Promise<number> {
  const script = `const l=[];let next=performance.now()+20;const end=next+${seconds * 1000};function f(){const now=performance.now();l.push(now-next);next+=20;if(now<end)setTimeout(f,Math.max(0,next-performance.now()));else{l.sort((a,b)=>a-b);console.log(l[Math.floor(0.99*l.length)].toFixed(2))}}setTimeout(f,20);`;
  const p = start(process.execPath, ['-e', script], {});
  return new Promise((resolve) => p.proc.once('exit', () => resolve(Number(p.tail.at(-1)))));
}

async function runSize(n: number, bus: Bus, workDir: string): Promise<BenchResult> {
  const instanceId = `media-gateway-sip-bench-${process.pid}-${n}`;
  const sipPort = await freeUdpPort();
  const rtpBase = 10000 + 2 * Math.floor(Math.random() * 5000);
  const profile = process.env.SIP_BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SIP_BENCH_PROFILE_DIR}`] : [];
  const gw = start(process.execPath, [...profile, join(ROOT, 'dist/apps/media-gateway/main.js')], {
    NATS_URL,
    REDIS_URL,
    INSTANCE_ID: instanceId,
    PORT: String(await freeTcpPort()),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TWILIO_VALIDATE_SIGNATURES: 'false',
    AGENTS_DIR: join(ROOT, 'config/agents'),
    SIP_PORT: String(sipPort),
    SIP_HOST: '127.0.0.1',
    SIP_PUBLIC_IP: '127.0.0.1',
    SIP_DEFAULT_AGENT: 'demo',
    RTP_PORT_MIN: String(rtpBase),
    RTP_PORT_MAX: String(rtpBase + 4 * n + 100),
  });
  const orchestrator = fakeOrchestrator(bus, instanceId);
  await bus.nc.flush();
  let sipp: { proc: ChildProcess; tail: string[] } | undefined;
  try {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (!(await gatewayDetails(bus, instanceId))?.sip) {
      if (Date.now() > deadline || gw.proc.exitCode !== null) throw new Error(`gateway did not start:\n  ${gw.tail.slice(-15).join('\n  ')}`);
      await sleep(200);
    }
    const pid = gw.proc.pid!;
    await sleep(500);
    const idleRss = rssMb(pid);

    const tStart = performance.now();
    sipp = start(
      'sipp',
      ['-sn', 'uac_pcap', `127.0.0.1:${sipPort}`, '-i', '127.0.0.1', '-p', String(await freeUdpPort()), '-mi', '127.0.0.1', '-mp', String(await freeUdpPort(true)), '-m', String(n), '-l', String(n), '-r', String(RATE), '-rp', '1000', '-nostdin', '-timeout', `${SIPP_TIMEOUT_S}s`, '-timeout_error'],
      {},
      workDir,
    );
    const sippExit = new Promise<number | null>((r) => sipp!.proc.once('exit', (c) => r(c)));
    const probe = process.env.SIP_BENCH_TRACE
      ? setInterval(() => void gatewayDetails(bus, instanceId).then((d) => console.log(`    t+${((performance.now() - tStart) / 1000).toFixed(1)}s active ${d?.activeCalls} interval ${JSON.stringify(d?.sip?.rtp.sendIntervalErrorMs)}`)), 1000)
      : undefined;
    // All N calls up: every one claimed and answered (the gateway's live legs).
    const upBy = Date.now() + (n / RATE) * 1000 + 6000;
    let active = 0;
    while (Date.now() < upBy) {
      active = (await gatewayDetails(bus, instanceId))?.activeCalls ?? 0;
      if (active >= n) break;
      await sleep(100);
    }
    const cpu0 = cpuSeconds(pid);
    const rtp0 = (await gatewayDetails(bus, instanceId))?.sip?.rtp;
    const frames0 = orchestrator.total();
    const t0 = performance.now();
    const baseline = timerBaseline(WINDOW_S);
    await sleep(WINDOW_S * 1000);
    const cpu1 = cpuSeconds(pid);
    const elapsedS = (performance.now() - t0) / 1000;
    const frames1 = orchestrator.total();
    const loadedRss = rssMb(pid);
    const inWindow = await gatewayDetails(bus, instanceId);
    const activeAfter = inWindow?.activeCalls ?? 0;
    const rtp1 = inWindow?.sip?.rtp;
    const windowInterval = (p: number) => (rtp1 ? percentileOfSparse(rtp1.sendIntervalErrorMs, rtp0?.sendIntervalErrorMs, p) : Number.NaN);
    const windowLatency = (p: number) => (rtp1 ? percentileOfSparse(rtp1.inboundLatencyMs, rtp0?.inboundLatencyMs, p) : Number.NaN);
    const idleTimerP99 = await baseline;
    const code = await Promise.race([sippExit, sleep((SIPP_TIMEOUT_S + 5) * 1000).then(() => null)]);
    clearInterval(probe);
    const text = sipp.tail.join('\n');
    const ok = Number(/Successful call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(text)?.[1] ?? Number.NaN);
    const failed = Number(/Failed call\s+\|\s+\d+\s+\|\s+(\d+)/.exec(text)?.[1] ?? Number.NaN);
    const details = await gatewayDetails(bus, instanceId);
    const rtp = details?.sip?.rtp;
    const cpuPct = ((cpu1 - cpu0) / elapsedS) * 100;
    const calls = Math.min(active, activeAfter) || active;
    const framesPerCallPerS = (frames1 - frames0) / elapsedS / Math.max(1, calls);
    console.log(
      `  N=${n}: ${calls} calls up in the window (sipp exit ${code}, ${ok} ok / ${failed} failed); gateway CPU ${cpuPct.toFixed(1)}% of a core, RSS ${idleRss.toFixed(0)} → ${loadedRss.toFixed(0)} MB; ` +
        `in the window: RTP send interval error p50 ${windowInterval(50).toFixed(1)} p99 ${windowInterval(99).toFixed(1)} ms, caller packet → NATS p50 ${windowLatency(50).toFixed(1)} p99 ${windowLatency(99).toFixed(1)} ms; ` +
        `an idle Node timer beside it was late by p99 ${idleTimerP99} ms; whole run (ramp-up and teardown included): interval error p99 ${rtp?.sendIntervalErrorMs.p99} ms, latency p99 ${rtp?.inboundLatencyMs.p99} ms; ` +
        `caller frames on NATS ${framesPerCallPerS.toFixed(1)}/s per call (50 = real time); packets in ${rtp?.packetsIn}, out ${rtp?.packetsOut}, lost ${rtp?.lost}, late ${rtp?.late}`,
    );
    return {
      name: `gateway-sip-${n}`,
      metrics: {
        calls,
        sipp_successful_calls: ok,
        sipp_failed_calls: failed,
        gateway_cpu_pct: cpuPct,
        cpu_pct_per_call: cpuPct / Math.max(1, calls),
        rss_mb_per_call: (loadedRss - idleRss) / Math.max(1, calls),
        p99_frame_interval_error_ms: windowInterval(99),
        p50_frame_interval_error_ms: windowInterval(50),
        p99_caller_frame_to_nats_ms: windowLatency(99),
        p50_caller_frame_to_nats_ms: windowLatency(50),
        run_p99_frame_interval_error_ms: rtp?.sendIntervalErrorMs.p99 ?? Number.NaN,
        run_p99_caller_frame_to_nats_ms: rtp?.inboundLatencyMs.p99 ?? Number.NaN,
        caller_frames_per_call_per_s: framesPerCallPerS,
        idle_timer_lateness_p99_ms: idleTimerP99,
        run_rtp_clock_lateness_p99_ms: details?.sip?.rtp.clockLatenessMs.p99 ?? Number.NaN,
        rtp_packets_lost: rtp?.lost ?? Number.NaN,
        load_avg_1m: loadavg()[0]!,
      },
      target: { sipp_failed_calls: '≤ 0', p99_frame_interval_error_ms: '≤ 5', p99_caller_frame_to_nats_ms: '≤ 5' },
      notes:
        `${n} concurrent sipp uac_pcap calls (${RATE} new calls/s) against one gateway process; CPU, RSS, interval error and latency over ${WINDOW_S} s with all calls up ` +
        `(run_* figures: the whole run, ramp-up and teardown included); interval error and caller-packet→NATS latency measured inside the gateway (RTP socket to publish); sipp and this process (fake orchestrator) share the machine${NICE ? `, all at nice ${NICE}` : ''}; ` +
        `load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} cores shared with other work.`,
    };
  } finally {
    orchestrator.stop();
    if (sipp) await stop(sipp.proc, 'SIGKILL');
    await stop(gw.proc);
  }
}

async function main(): Promise<void> {
  if (NICE !== 0) {
    try {
      setPriority(NICE);
      if (existsSync('/proc/self/autogroup')) writeFileSync('/proc/self/autogroup', String(NICE));
    } catch (err) {
      console.log(`could not raise the priority (${(err as Error).message}); figures include the scheduler's share`);
    }
  }
  if (!existsSync('/usr/bin/sipp')) throw new Error('sipp is not installed (Debian package sip-tester)');
  if (!existsSync(join(ROOT, 'dist/apps/media-gateway/main.js'))) {
    console.log('building dist/ (node scripts/build.mjs apps/media-gateway)');
    const b = spawn(process.execPath, ['scripts/build.mjs', 'apps/media-gateway'], { cwd: ROOT, stdio: 'inherit' });
    await new Promise((r) => b.once('exit', r));
  }
  // uac_pcap plays pcap/g711a.pcap and pcap/dtmf_2833_1.pcap relative to its working directory.
  const workDir = mkdtempSync(join(tmpdir(), 'sip-bench-'));
  mkdirSync(join(workDir, 'pcap'));
  for (const f of readdirSync('/usr/share/sip-tester').filter((f) => f.endsWith('.pcap'))) symlinkSync(join('/usr/share/sip-tester', f), join(workDir, 'pcap', f));
  const bus = await Bus.connect({ url: NATS_URL, name: `sip-bench-${process.pid}`, log });
  console.log(`gateway-sip: NATS ${NATS_URL}, sizes ${SIZES.join(', ')}, ${RATE} calls/s; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const results: BenchResult[] = [];
  try {
    for (const n of SIZES) results.push(await runSize(n, bus, workDir));
  } finally {
    await bus.drain(2000);
    rmSync(workDir, { recursive: true, force: true });
  }
  recordResults(results);
}

const guard = setTimeout(() => {
  console.error(`gateway-sip: gave up after ${RUN_TIMEOUT_MS / 1000} s`);
  for (const c of children) c.kill('SIGKILL');
  process.exit(1);
}, RUN_TIMEOUT_MS);
guard.unref();

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    for (const c of children) c.kill('SIGKILL');
    process.exit(1);
  },
);
