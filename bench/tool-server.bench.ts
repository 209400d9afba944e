/**
 * Switchboard's MCP server under load: 50 concurrent clients calling a read-only tool
 * (`is_office_open`: key check, rate-limit token, account settings from Redis, office-hours
 * arithmetic) over streamable HTTP in stateless mode. Tool calls per second and p50/p90/p99 latency.
 *
 *   npx tsx bench/tool-server.bench.ts
 *
 * Needs NATS and Redis (`NATS_URL`, `REDIS_URL`, default 127.0.0.1). The server runs as its own
 * process (`dist/apps/mcp-tool-server/main.js` when built, else the source through tsx), so clients
 * and server do not share an event loop. Each client is a loop of JSON-RPC `tools/call` POSTs
 * (stateless mode needs no initialize), over keep-alive connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectRedis } from '@switchboard/runtime';
import { ApiKeyStore } from '@switchboard/session-store';
import { recordResults, summarize, cpuSeconds } from './lib.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

const CLIENTS = 50;
const WARMUP_MS = 2_000;
const MEASURE_MS = 10_000;
/** Upper bound on calls in the measured phase, whatever the deadline. */
const MAX_CALLS = 500_000;
const STARTUP_TIMEOUT_MS = 20_000;
/** The whole run is abandoned (server stopped, exit 1) past this. */
const RUN_TIMEOUT_MS = 60_000;

const run = randomBytes(4).toString('hex');
const ACCOUNT = `bench_ts_${run}`;
const KEY = `sk_bench_${randomBytes(16).toString('hex')}`;

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


function startServer(port: number, agentsDir: string): { proc: ChildProcess; tail: string[]; from: string } {
  const dist = join(ROOT, 'dist/apps/mcp-tool-server/main.js');
  const built = existsSync(dist);
  // BENCH_PROFILE_DIR=<dir> writes a V8 CPU profile of the server there when it exits.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const args = [...profile, ...(built ? [dist] : ['--import', 'tsx', join(ROOT, 'apps/mcp-tool-server/src/main.ts')])];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      NATS_URL,
      REDIS_URL,
      HOST: '127.0.0.1',
      MCP_PORT: String(port),
      LOG_LEVEL: 'warn',
      INSTANCE_ID: `mcp-tool-server-bench-${run}`,
      BOOTSTRAP_API_KEY: KEY,
      BOOTSTRAP_ACCOUNT_ID: ACCOUNT,
      AGENTS_DIR: agentsDir,
      WORKFLOWS_DIR: join(agentsDir, 'none'),
      // The bench measures the server, not the key's budget.
      BOOTSTRAP_RATE_PER_MIN: '1000000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (d: Buffer) => {
    tail.push(...d.toString().split('\n').filter(Boolean));
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  return { proc, tail, from: built ? 'dist/apps/mcp-tool-server/main.js' : 'apps/mcp-tool-server/src/main.ts (tsx)' };
}

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

const BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'is_office_open', arguments: {} } });
const OPEN = 'Office is open 24 hours today';

/** One client: calls until the deadline or the shared budget runs out; returns each call's latency in ms. */
async function client(url: string, until: number, budget: { left: number }, errors: string[]): Promise<number[]> {
  const out: number[] = [];
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25', 'x-api-key': KEY, account_id: ACCOUNT, persona_id: 'bench' };
  while (performance.now() < until && budget.left-- > 0) {
    const t0 = performance.now();
    try {
      const res = await fetch(url, { method: 'POST', headers, body: BODY });
      const json = (await res.json()) as { result?: { isError?: boolean; content?: Array<{ text?: string }> } };
      if (!res.ok || json.result?.isError || json.result?.content?.[0]?.text !== OPEN) {
        if (errors.length < 20) errors.push(`${res.status} ${JSON.stringify(json).slice(0, 200)}`);
        else errors.push('');
        continue;
      }
    } catch (err) {
      errors.push((err as Error).message);
      continue;
    }
    out.push(performance.now() - t0);
  }
  return out;
}

async function phase(url: string, ms: number, maxCalls: number): Promise<{ latencies: number[]; errors: string[]; seconds: number }> {
  const errors: string[] = [];
  const budget = { left: maxCalls };
  const t0 = performance.now();
  const until = t0 + ms;
  const all = await Promise.all(Array.from({ length: CLIENTS }, () => client(url, until, budget, errors)));
  return { latencies: all.flat(), errors, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const load = loadavg()[0] ?? 0;
  const dir = mkdtempSync(join(tmpdir(), 'sb-tool-server-bench-'));
  const agentsDir = join(dir, 'agents');
  mkdirSync(agentsDir);
  const hours = Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, '24h']));
  writeFileSync(
    join(agentsDir, 'bench.yaml'),
    JSON.stringify({ id: 'bench', accountId: ACCOUNT, systemPrompt: 'bench', stt: { provider: 'openai' }, llm: { provider: 'openai' }, tts: { provider: 'openai' }, officeHours: { weekly: hours } }),
  );
  const port = await freePort();
  const server = startServer(port, agentsDir);
  const abort = setTimeout(() => {
    console.error(`tool-server bench: gave up after ${RUN_TIMEOUT_MS} ms`);
    void stop(server.proc).finally(() => process.exit(1));
  }, RUN_TIMEOUT_MS);
  try {
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let ready = false;
    while (!ready && Date.now() < deadline) {
      if (server.proc.exitCode !== null) throw new Error(`mcp-tool-server exited during startup:\n${server.tail.join('\n')}`);
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
      if (!ready) await sleep(100);
    }
    if (!ready) throw new Error(`mcp-tool-server not ready within ${STARTUP_TIMEOUT_MS} ms:\n${server.tail.join('\n')}`);
    const url = `http://127.0.0.1:${port}/mcp`;
    console.log(`tool-server bench: server from ${server.from}; ${CLIENTS} clients; 1-min load average ${load.toFixed(2)} on ${availableParallelism()} CPUs`);

    await phase(url, WARMUP_MS, MAX_CALLS);
    const cpu0 = cpuSeconds(server.proc.pid);
    const self0 = process.cpuUsage();
    const { latencies, errors, seconds } = await phase(url, MEASURE_MS, MAX_CALLS);
    const cpu1 = cpuSeconds(server.proc.pid);
    const self1 = process.cpuUsage(self0);
    const s = summarize(latencies);
    if (errors.length) console.error(`tool-server bench: ${errors.length} failed calls, e.g. ${errors.filter(Boolean).slice(0, 3).join(' | ')}`);
    const serverCpuMs = cpu0 !== undefined && cpu1 !== undefined && s.n ? ((cpu1 - cpu0) * 1000) / s.n : Number.NaN;
    const clientCpuMs = s.n ? ((self1.user + self1.system) / 1000) / s.n : Number.NaN;
    recordResults([
      {
        name: 'tool-server/stateless-read-only',
        metrics: {
          calls_per_s: s.n / seconds,
          p50_ms: s.p50,
          p90_ms: s.p90,
          p99_ms: s.p99,
          calls: s.n,
          failed_calls: errors.length,
          server_cpu_ms_per_call: serverCpuMs,
        },
        target: { failed_calls: '≤ 0' },
        notes:
          `${CLIENTS} concurrent clients, each a loop of tools/call is_office_open POSTs (keep-alive) to the server process (${server.from}), stateless mode with a fresh McpServer and transport per request; ` +
          `${(MEASURE_MS / 1000).toFixed(0)} s measured after ${(WARMUP_MS / 1000).toFixed(0)} s warm-up. Each call: key lookup (Redis GET), token bucket (Redis EVALSHA), account settings (Redis GET). ` +
          `Client CPU ${clientCpuMs.toFixed(2)} ms per call in this process. 1-min load average at start: ${load.toFixed(2)} on ${availableParallelism()} CPUs (the machine is shared: figures are noisy).`,
      },
    ]);
    if (errors.length) process.exitCode = 1;
  } finally {
    clearTimeout(abort);
    await stop(server.proc);
    rmSync(dir, { recursive: true, force: true });
    // The server stored the bootstrap key; the bench leaves no key behind.
    const redis = await connectRedis(REDIS_URL, { name: 'tool-server-bench' });
    await new ApiKeyStore(redis).revoke(createHash('sha256').update(KEY).digest('hex').slice(0, 12));
    await redis.del(`sb:account:${ACCOUNT}`);
    redis.disconnect();
  }
}

await main();
