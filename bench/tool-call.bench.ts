/**
 * Tool-call round trip: orchestrator → NATS → mcp-broker → MCP server and back, against a direct MCP
 * client call to the same server in the same run; then throughput of the no-op tool both ways, once
 * against the orders example (a fresh SDK server per request, the costliest part of that path) and
 * once against libs/testing's minimal MCP server (what the broker sustains when the server is cheap).
 *
 *   npx tsx bench/tool-call.bench.ts
 *
 * Needs the real NATS and Redis (`NATS_URL`, `REDIS_URL`, default 127.0.0.1). The orders example
 * server and the broker run as child processes (from `dist/` when built, else from source through
 * tsx), so neither competes with this process's event loop; this process plays the orchestrator.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { contracts, type CallToolRequest } from '@switchboard/contracts';
import { initTelemetry } from '@switchboard/telemetry';
import { recordResults, summarize, type BenchResult, type Summary, cpuSeconds } from './lib.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** Sizes: every loop below is bounded by one of these counts and by a deadline. */
const WARMUP_CALLS = 200;
const ROUNDS = 10;
const CALLS_PER_ROUND = 200;
/** Longest one round of one path may take before it stops early (a stuck path must not hang the run). */
const ROUND_BUDGET_MS = 30_000;
const CONCURRENCY = 64;
const THROUGHPUT_MS = 3_000;
const THROUGHPUT_WARMUP_MS = 500;
/** Upper bound on calls in one throughput phase, whatever the deadline. */
const THROUGHPUT_MAX_CALLS = 200_000;
const STARTUP_TIMEOUT_MS = 20_000;
/** The whole run is abandoned (children stopped, exit 1) past this. */
const RUN_TIMEOUT_MS = 240_000;

const CALL_ID = `bench-${process.pid}`;
const BROKER_ID = `mcp-broker-bench-${process.pid}`;
const LOOKUP = { tool: 'check_order_status', arguments: { order_id: 'ORD-1001' } } as const;
const NOOP = { tool: 'noop', arguments: {} } as const;

type Tool = { tool: string; arguments: Record<string, unknown> };
type Caller = (t: Tool) => Promise<void>;

// ---------------------------------------------------------------------------------------------
// Child processes

/** Warnings counted by kind, each with its first occurrence. */
type Warnings = Map<string, { n: number; first: string }>;

function countWarning(into: Warnings, text: string): void {
  // Counts vary, limits tell kinds apart: `N abort listeners added … MaxListeners is 10` vs `is 1500`.
  const kind = text.replace(/(?<!is )\b\d+/g, 'N').slice(0, 240);
  const seen = into.get(kind);
  if (seen) seen.n++;
  else if (into.size < 50) into.set(kind, { n: 1, first: text.slice(0, 240) });
}

interface Child {
  name: string;
  proc: ChildProcess;
  /** Last lines of its stdout and stderr, shown when it fails. */
  tail: string[];
  /** Node process warnings and pino warn/error records, counted by kind. */
  warnings: Warnings;
  exited: Promise<void>;
}

const children: Child[] = [];

/** `node dist/<name>/main.js` when the bundle exists, else the source through the tsx loader. */
function commandFor(bundle: string, source: string): { args: string[]; from: string } {
  // BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of each child there when it exits (for finding where time goes).
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const dist = join(ROOT, 'dist', bundle, 'main.js');
  if (existsSync(dist)) return { args: [...profile, dist], from: `dist/${bundle}/main.js` };
  return { args: [...profile, '--import', 'tsx', join(ROOT, source)], from: `${source} (tsx)` };
}

function startChild(name: string, args: string[], env: Record<string, string | undefined>): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const warnings: Child['warnings'] = new Map();
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (/^\(node:\d+\) \w*Warning|"level":(40|50|60)\b/.test(line)) {
        countWarning(warnings, line.replace(/^\(node:\d+\) /, '').replace(/"time":"[^"]*",?/, ''));
      }
    }
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const child = { name, proc, tail, warnings, exited };
  children.push(child);
  return child;
}

function alive(c: Child): boolean {
  return c.proc.exitCode === null && c.proc.signalCode === null;
}

function failure(c: Child, what: string): Error {
  return new Error(`${c.name} ${what}\n  ${c.tail.slice(-15).join('\n  ') || '(no output)'}`);
}

/** SIGTERM, wait up to 10 s for the exit, then SIGKILL. */
async function stopChild(c: Child): Promise<void> {
  if (!alive(c)) return;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(timer);
}

async function stopAll(): Promise<void> {
  // Broker first: it holds connections to the orders server.
  for (const c of [...children].reverse()) await stopChild(c);
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

/** Starts the orders server on a free port and returns its MCP URL, read from its first stdout line. */
async function startOrders(): Promise<{ child: Child; url: string; from: string }> {
  const { args, from } = commandFor('examples/orders-mcp-server', 'examples/orders-mcp-server/src/main.ts');
  const child = startChild('orders-mcp-server', args, { PORT: '0', HOST: '127.0.0.1', LATENCY_MS: '0', ORDERS_DB_PATH: '' });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const url = child.tail.map((l) => /listening on (http:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
    if (url) return { child, url, from };
    if (!alive(child)) throw failure(child, 'exited during startup');
    await sleep(50);
  }
  throw failure(child, `did not report its URL within ${STARTUP_TIMEOUT_MS} ms`);
}

/**
 * Starts a lightweight MCP server with a `noop` tool in a child process: libs/testing's minimal
 * server, which speaks streamable HTTP (sessions, JSON answers) without the SDK on the server side,
 * so the throughput measured against it says what the broker sustains when the server is not the cost.
 */
async function startSessionServer(): Promise<{ child: Child; url: string }> {
  const serverModule = join(ROOT, 'libs/testing/src/mcp/minimal-server.ts');
  const code = `
    const { startMinimalMcpServer } = await import(${JSON.stringify(pathToFileURL(serverModule).href)});
    const s = await startMinimalMcpServer([{ name: 'noop', description: 'Does nothing', annotations: { readOnlyHint: true } }]);
    console.log('listening on ' + s.url);
    process.on('SIGTERM', () => process.exit(0));
  `;
  const child = startChild('minimal-mcp-server', ['--import', 'tsx', '--input-type=module', '-e', code], {});
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const url = child.tail.map((l) => /listening on (http:\/\/\S+)/.exec(l)?.[1]).find(Boolean);
    if (url) return { child, url };
    if (!alive(child)) throw failure(child, 'exited during startup');
    await sleep(50);
  }
  throw failure(child, `did not report its URL within ${STARTUP_TIMEOUT_MS} ms`);
}

/** Starts the broker on a free port and waits for its /readyz (NATS and Redis both reachable). */
async function startBroker(): Promise<{ child: Child; from: string }> {
  const { args, from } = commandFor('apps/mcp-broker', 'apps/mcp-broker/src/main.ts');
  const port = await freePort();
  const child = startChild('mcp-broker', args, { NATS_URL, REDIS_URL, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', INSTANCE_ID: BROKER_ID });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive(child)) throw failure(child, 'exited during startup');
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return { child, from };
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw failure(child, `not ready within ${STARTUP_TIMEOUT_MS} ms (last /readyz: ${last})`);
}


/** The pid of the local nats-server behind NATS_URL (for CPU accounting only; Linux), if it can be told apart. */
function natsServerPid(): number | undefined {
  const url = new URL(NATS_URL);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) return undefined;
  const port = url.port || '4222';
  const found: Array<{ pid: number; cmdline: string }> = [];
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'nats-server') continue;
        found.push({ pid: Number(entry), cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ') });
      } catch {
        // The process ended while we looked.
      }
    }
  } catch {
    return undefined; // No /proc: not Linux.
  }
  if (found.length === 1) return found[0]?.pid;
  return found.find((f) => new RegExp(`(^|\\s)(-p|--port)[ =]${port}(\\s|$)`).test(f.cmdline))?.pid;
}

/** Each mcp-broker instance on the bus, with the calls it has served (health fan-in). */
async function brokersOnBus(bus: Bus): Promise<Map<string, number>> {
  const replies = await bus.requestAll(contracts.health, {}, { param: 'mcp-broker', maxWaitMs: 500 });
  return new Map(replies.map((r) => [r.instanceId, Number((r.details as { calls?: unknown } | undefined)?.calls ?? Number.NaN)]));
}

// ---------------------------------------------------------------------------------------------
// Measurement

/** Up to `n` sequential calls, stopping early at `budgetMs`; each call's wall time in ms. */
async function sequential(call: Caller, t: Tool, n: number, budgetMs: number): Promise<number[]> {
  const out: number[] = [];
  const deadline = performance.now() + budgetMs;
  for (let i = 0; i < n && performance.now() < deadline; i++) {
    const t0 = performance.now();
    await call(t);
    out.push(performance.now() - t0);
  }
  return out;
}

/** Processes whose CPU time is counted, by label; this process is always counted as `bench`. */
type Pids = Record<string, number | undefined>;

/** CPU seconds used so far by this process and each of `pids` that can be read. */
function cpuNow(pids: Pids): Record<string, number> {
  const self = process.cpuUsage();
  const out: Record<string, number> = { bench: (self.user + self.system) / 1e6 };
  for (const [k, pid] of Object.entries(pids)) {
    const s = cpuSeconds(pid);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

/**
 * CPU time per call, per process, summed over phases. CPU time (unlike wall time) hardly moves when
 * other work shares the machine, so it says where a call's cost lies even on a busy box.
 */
class CpuTally {
  private readonly seconds: Record<string, number> = {};
  private calls = 0;

  add(before: Record<string, number>, after: Record<string, number>, calls: number): void {
    for (const [k, v] of Object.entries(after)) if (before[k] !== undefined) this.seconds[k] = (this.seconds[k] ?? 0) + v - before[k];
    this.calls += calls;
  }

  /** Milliseconds of CPU per call, per process. */
  perCall(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.seconds).map(([k, v]) => [k, this.calls ? (v * 1000) / this.calls : Number.NaN]));
  }

  total(): number {
    return Object.values(this.perCall()).reduce((a, b) => a + b, 0);
  }

  describe(): string {
    return Object.entries(this.perCall()).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
  }
}

interface Throughput {
  calls: number;
  seconds: number;
  perSecond: number;
  latency: Summary;
}

/** `concurrency` workers calling back to back until `durationMs` or `maxCalls`; completed calls per second. */
async function throughput(call: Caller, t: Tool, concurrency: number, durationMs: number, maxCalls: number, pids: Pids = {}, tally?: CpuTally): Promise<Throughput> {
  const latencies: number[] = [];
  let started = 0;
  const cpu0 = cpuNow(pids);
  const t0 = performance.now();
  const end = t0 + durationMs;
  const worker = async () => {
    while (performance.now() < end && started < maxCalls) {
      started++;
      const s = performance.now();
      await call(t);
      latencies.push(performance.now() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  tally?.add(cpu0, cpuNow(pids), latencies.length);
  return { calls: latencies.length, seconds, perSecond: latencies.length / seconds, latency: summarize(latencies) };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

// ---------------------------------------------------------------------------------------------

/** This process's own warnings (the SDK client's, mostly), counted by kind instead of printed one by one. */
const ownWarnings: Warnings = new Map();

async function main(): Promise<void> {
  process.removeAllListeners('warning');
  process.on('warning', (w) => countWarning(ownWarnings, `${w.name}: ${w.message}`));
  console.log(`tool-call bench: NATS ${NATS_URL}${process.env.NATS_URL ? '' : ' (default)'}, Redis ${REDIS_URL}${process.env.REDIS_URL ? '' : ' (default)'}`);
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) console.log(`note: OTEL_EXPORTER_OTLP_ENDPOINT is set (${process.env.OTEL_EXPORTER_OTLP_ENDPOINT}); the broker exports spans during the run`);
  const load = loadavg()[0] ?? 0;

  // Like the orchestrator: a tracer provider and W3C propagation, spans made but not exported.
  const telemetry = initTelemetry('bench-orchestrator', { endpoint: undefined });
  let bus: Bus | undefined;
  const client = new Client({ name: 'bench-direct', version: '0.1.0' }, { capabilities: {} });
  try {
    const orders = await startOrders();
    const sessionServer = await startSessionServer();
    const broker = await startBroker();
    console.log(`orders-mcp-server: ${orders.from} at ${orders.url}; mcp-broker: ${broker.from}${process.env.BENCH_PROFILE_DIR ? ` (CPU profiles to ${process.env.BENCH_PROFILE_DIR}; the profiler inflates every figure)` : ''}`);
    const orchestrator = await Bus.connect({ url: NATS_URL, name: `bench-tool-call-${process.pid}`, log: pino({ level: 'silent' }) });
    bus = orchestrator;
    await client.connect(new StreamableHTTPClientTransport(new URL(orders.url)));
    // The broker lists tools once per connection (and so validates structured results); do the same.
    await client.listTools();

    // cmd.mcp-broker.call-tool is a queue group: any other broker on this NATS (a test run, `npm start`)
    // takes a share of our requests and skews every figure. Count them, and check the calls ours served.
    const brokersAtStart = await brokersOnBus(orchestrator);
    const others = [...brokersAtStart.keys()].filter((id) => id !== BROKER_ID);
    if (others.length) console.log(`WARNING: ${others.length} other mcp-broker instance(s) answer on this NATS (${others.join(', ')}); they share the load. Use a private nats-server (NATS_URL) for clean figures.`);
    let sentViaBroker = 0;

    const server: CallToolRequest['server'] = { name: 'orders', transport: 'streamable-http', url: orders.url, headers: {} };
    const viaBroker: Caller = async (t) => {
      sentViaBroker++;
      const reply = await orchestrator.request(
        contracts.callTool,
        { context: { callId: CALL_ID, agentId: 'bench', accountId: 'bench' }, server, tool: t.tool, arguments: t.arguments },
        { callId: CALL_ID, timeoutMs: 10_000 },
      );
      if (reply.isError) throw new Error(`broker call of ${t.tool} failed: ${reply.code ?? ''} ${reply.text}`);
    };
    const direct: Caller = async (t) => {
      const result = await client.callTool({ name: t.tool, arguments: t.arguments }, undefined, { timeout: 10_000 });
      if (result.isError) throw new Error(`direct call of ${t.tool} failed: ${JSON.stringify(result.content)}`);
    };

    console.log(`warm-up: ${WARMUP_CALLS} calls each way`);
    await sequential(direct, LOOKUP, WARMUP_CALLS, ROUND_BUDGET_MS);
    await sequential(viaBroker, LOOKUP, WARMUP_CALLS, ROUND_BUDGET_MS);

    // CPU accounting: the broker path loads this process (the bus client), the broker, the orders
    // server and nats-server; the direct path this process and the orders server.
    const pids: Pids = { broker: broker.child.proc.pid, orders: orders.child.proc.pid, nats: natsServerPid() };
    const seqCpu = { direct: new CpuTally(), broker: new CpuTally() };
    const d: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate which path goes first, so drift and warm caches favour neither.
      const order = r % 2 === 0 ? (['direct', 'broker'] as const) : (['broker', 'direct'] as const);
      const line: string[] = [];
      for (const path of order) {
        const before = cpuNow(pids);
        const got = await sequential(path === 'direct' ? direct : viaBroker, LOOKUP, CALLS_PER_ROUND, ROUND_BUDGET_MS);
        seqCpu[path].add(before, cpuNow(pids), got.length);
        (path === 'direct' ? d : b).push(...got);
        const s = summarize(got);
        line.push(`${path} p50 ${s.p50.toFixed(2)} p99 ${s.p99.toFixed(2)} ms`);
      }
      console.log(`round ${r + 1}/${ROUNDS}: ${line.join(', ')}`);
    }
    const ds = summarize(d);
    const bs = summarize(b);

    console.log(`throughput: ${NOOP.tool} tool, ${CONCURRENCY} in flight, ${THROUGHPUT_MS} ms each way`);
    const tpCpu = { direct: new CpuTally(), broker: new CpuTally() };
    await throughput(viaBroker, NOOP, CONCURRENCY, THROUGHPUT_WARMUP_MS, THROUGHPUT_MAX_CALLS);
    await throughput(direct, NOOP, CONCURRENCY, THROUGHPUT_WARMUP_MS, THROUGHPUT_MAX_CALLS);
    const bt = await throughput(viaBroker, NOOP, CONCURRENCY, THROUGHPUT_MS, THROUGHPUT_MAX_CALLS, pids, tpCpu.broker);
    const dt = await throughput(direct, NOOP, CONCURRENCY, THROUGHPUT_MS, THROUGHPUT_MAX_CALLS, pids, tpCpu.direct);

    // The same against the minimal server: what the broker sustains when the MCP server costs next to nothing.
    const sessionClient = new Client({ name: 'bench-direct-session', version: '0.1.0' }, { capabilities: {} });
    await sessionClient.connect(new StreamableHTTPClientTransport(new URL(sessionServer.url)));
    await sessionClient.listTools();
    const sessionConfig: CallToolRequest['server'] = { name: 'noop-session', transport: 'streamable-http', url: sessionServer.url, headers: {} };
    const viaBrokerSession: Caller = async (t) => {
      sentViaBroker++;
      const reply = await orchestrator.request(contracts.callTool, { context: { callId: CALL_ID, agentId: 'bench', accountId: 'bench' }, server: sessionConfig, tool: t.tool, arguments: t.arguments }, { callId: CALL_ID, timeoutMs: 10_000 });
      if (reply.isError) throw new Error(`broker call of ${t.tool} failed: ${reply.code ?? ''} ${reply.text}`);
    };
    const directSession: Caller = async (t) => {
      const result = await sessionClient.callTool({ name: t.tool, arguments: t.arguments }, undefined, { timeout: 10_000 });
      if (result.isError) throw new Error(`direct call of ${t.tool} failed`);
    };
    const sessionPids: Pids = { broker: broker.child.proc.pid, server: sessionServer.child.proc.pid, nats: natsServerPid() };
    const ssCpu = { direct: new CpuTally(), broker: new CpuTally() };
    console.log(`throughput against the session server: ${NOOP.tool} tool, ${CONCURRENCY} in flight, ${THROUGHPUT_MS} ms each way`);
    await throughput(viaBrokerSession, NOOP, CONCURRENCY, THROUGHPUT_WARMUP_MS, THROUGHPUT_MAX_CALLS);
    await throughput(directSession, NOOP, CONCURRENCY, THROUGHPUT_WARMUP_MS, THROUGHPUT_MAX_CALLS);
    const sbt = await throughput(viaBrokerSession, NOOP, CONCURRENCY, THROUGHPUT_MS, THROUGHPUT_MAX_CALLS, sessionPids, ssCpu.broker);
    const sdt = await throughput(directSession, NOOP, CONCURRENCY, THROUGHPUT_MS, THROUGHPUT_MAX_CALLS, sessionPids, ssCpu.direct);
    await sessionClient.close().catch(() => undefined);

    const brokersAtEnd = await brokersOnBus(orchestrator);
    const served = (brokersAtEnd.get(BROKER_ID) ?? Number.NaN) - (brokersAtStart.get(BROKER_ID) ?? Number.NaN);
    const brokerCount = new Set([...brokersAtStart.keys(), ...brokersAtEnd.keys(), BROKER_ID]).size;
    if (Number.isNaN(served)) console.log(`WARNING: the bench's broker did not answer the health fan-in; cannot tell whether other brokers took part.`);
    else if (served !== sentViaBroker) console.log(`WARNING: the bench's broker served ${served} calls, the bench sent ${sentViaBroker} through the bus: other brokers took part and the broker figures are not clean.`);

    const results: BenchResult[] = [
      {
        name: 'tool-call/latency',
        metrics: {
          direct_p50_ms: round3(ds.p50),
          direct_p99_ms: round3(ds.p99),
          broker_p50_ms: round3(bs.p50),
          broker_p99_ms: round3(bs.p99),
          added_p50_ms: round3(bs.p50 - ds.p50),
          added_p99_ms: round3(bs.p99 - ds.p99),
          ratio_p50: round3(bs.p50 / ds.p50),
          calls_each_way: Math.min(ds.n, bs.n),
          broker_process_cpu_ms_per_call: round3(seqCpu.broker.perCall().broker ?? Number.NaN),
          brokers_on_bus: brokerCount,
          unaccounted_broker_calls: Math.abs(sentViaBroker - served),
        },
        target: { added_p50_ms: '≤ 1', added_p99_ms: '≤ 5', brokers_on_bus: '≤ 1', unaccounted_broker_calls: '≤ 0' },
        notes:
          `${LOOKUP.tool} on the orders example server, sequential; ${ROUNDS} interleaved rounds of ${CALLS_PER_ROUND} after ${WARMUP_CALLS} warm-up calls each way. ` +
          `added_pXX = pXX(broker) − pXX(direct), each percentile taken from its own distribution (not a per-call difference). ` +
          `Broker path: Bus.request over NATS → mcp-broker process → MCP streamable HTTP; direct: SDK Client in this process. ` +
          `CPU ms per call via broker: ${seqCpu.broker.describe()}; direct: ${seqCpu.direct.describe()}. ` +
          `brokers_on_bus and unaccounted_broker_calls (|sent − served by the bench's broker|) check that no other broker on this NATS shared the queue group. 1-min load average at start: ${load.toFixed(2)} on ${availableParallelism()} CPUs.`,
      },
      {
        name: 'tool-call/throughput',
        metrics: {
          broker_calls_per_s: Math.round(bt.perSecond),
          direct_calls_per_s: Math.round(dt.perSecond),
          broker_p50_ms_under_load: round3(bt.latency.p50),
          broker_p99_ms_under_load: round3(bt.latency.p99),
          direct_p50_ms_under_load: round3(dt.latency.p50),
          direct_p99_ms_under_load: round3(dt.latency.p99),
          broker_path_cpu_ms_per_call: round3(tpCpu.broker.total()),
          direct_path_cpu_ms_per_call: round3(tpCpu.direct.total()),
          broker_process_cpu_ms_per_call: round3(tpCpu.broker.perCall().broker ?? Number.NaN),
          broker_calls_per_cpu_s: Math.round(1000 / (tpCpu.broker.perCall().broker ?? Number.NaN)),
        },
        target: { broker_calls_per_s: '≥ 2000' },
        notes:
          `${NOOP.tool} tool, ${CONCURRENCY} concurrent in-flight calls for ${THROUGHPUT_MS / 1000} s each way after ${THROUGHPUT_WARMUP_MS} ms warm-up. ` +
          `CPU ms per call via broker: ${tpCpu.broker.describe()}; direct: ${tpCpu.direct.describe()} ` +
          `(the whole path's CPU per call bounds calls/s at ${availableParallelism()} CPUs ÷ that, before anything else on the machine). ` +
          `broker_calls_per_cpu_s = 1000 ÷ broker_process_cpu_ms_per_call: what the broker alone could serve on one free core.`,
      },
      {
        name: 'tool-call/throughput-minimal-server',
        metrics: {
          broker_calls_per_s: Math.round(sbt.perSecond),
          direct_calls_per_s: Math.round(sdt.perSecond),
          broker_p50_ms_under_load: round3(sbt.latency.p50),
          broker_p99_ms_under_load: round3(sbt.latency.p99),
          broker_path_cpu_ms_per_call: round3(ssCpu.broker.total()),
          direct_path_cpu_ms_per_call: round3(ssCpu.direct.total()),
          broker_process_cpu_ms_per_call: round3(ssCpu.broker.perCall().broker ?? Number.NaN),
          server_process_cpu_ms_per_call: round3(ssCpu.broker.perCall().server ?? Number.NaN),
          broker_calls_per_cpu_s: Math.round(1000 / (ssCpu.broker.perCall().broker ?? Number.NaN)),
          path_calls_per_s_bound: Math.round((availableParallelism() * 1000) / ssCpu.broker.total()),
        },
        target: { broker_calls_per_s: '≥ 2000' },
        notes:
          `${NOOP.tool} tool on a lightweight MCP server (libs/testing minimal server: streamable HTTP with sessions and JSON answers, no SDK on the server side) in its own process, ${CONCURRENCY} in flight for ${THROUGHPUT_MS / 1000} s each way. ` +
          `CPU ms per call via broker: ${ssCpu.broker.describe()}; direct: ${ssCpu.direct.describe()}. ` +
          `path_calls_per_s_bound = ${availableParallelism()} CPUs × 1000 ÷ broker_path_cpu_ms_per_call: the most the whole path (bench client, NATS, broker, server) could do with both cores to itself. ` +
          `1-min load average at start: ${load.toFixed(2)} (other work on the machine takes its share).`,
      },
    ];
    recordResults(results);
    // A service that warns during a benchmark usually explains its figures.
    for (const [name, warnings] of [['this process', ownWarnings], [broker.child.name, broker.child.warnings], [orders.child.name, orders.child.warnings], [sessionServer.child.name, sessionServer.child.warnings]] as const) {
      if (!warnings.size) continue;
      console.log(`\n${name} warned during the run:`);
      for (const { n, first } of [...warnings.values()].sort((x, y) => y.n - x.n).slice(0, 5)) console.log(`  ${n} × ${first}`);
    }
  } finally {
    await client.close().catch(() => undefined);
    await bus?.drain(2000).catch(() => undefined);
    await telemetry.shutdown().catch(() => undefined);
  }
}

let cleaning: Promise<void> | undefined;
const cleanup = () => (cleaning ??= stopAll());
const watchdog = setTimeout(() => {
  console.error(`tool-call bench: gave up after ${RUN_TIMEOUT_MS / 1000} s`);
  void cleanup().finally(() => process.exit(1));
}, RUN_TIMEOUT_MS);
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    interrupted = true;
    console.error(`tool-call bench: ${sig}; stopping the broker and the orders server`);
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (err) {
  if (interrupted) await new Promise(() => undefined); // the signal handler exits once the children are gone
  console.error(`tool-call bench failed: ${err instanceof Error ? err.message : String(err)}`);
  for (const c of children) if (c.tail.length) console.error(`--- last output of ${c.name}:\n  ${c.tail.slice(-15).join('\n  ')}`);
  process.exitCode = 1;
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
