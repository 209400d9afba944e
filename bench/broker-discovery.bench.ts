/**
 * Tool resolution at call start: an agent with 10 MCP servers that each take 100 ms to answer
 * tools/list. The broker's list-tools over NATS with a warm cache and with a cold one (new
 * credentials each time, so a fresh connect + initialize + tools/list per server), against the
 * serial connect-and-list that jambonz does (and the 50–200 ms per server Patter documents), measured
 * in the same run with the SDK client.
 *
 *   npx tsx bench/broker-discovery.bench.ts
 *
 * Needs NATS and Redis (`NATS_URL`, `REDIS_URL`, default 127.0.0.1). The broker runs in this process
 * (buildApp, as main.ts wires it) and joins the list-tools queue group; the 10 servers run in a child process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { contracts, type ListToolsRequest } from '@switchboard/contracts';
import { connectRedis } from '@switchboard/runtime';
import { buildApp } from '../apps/mcp-broker/src/app.ts';
import { loadConfig } from '../apps/mcp-broker/src/config.ts';
import { recordResults, summarize } from './lib.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const SERVERS = 10;
const LIST_LATENCY_MS = 100;
const TOOLS_PER_SERVER = 5;
const WARM_RUNS = 300;
const COLD_RUNS = 25;
const SERIAL_RUNS = 5;
const BUDGET_MS = 1500;
const INSTANCE = `mcp-broker-discovery-bench-${process.pid}`;
/** The whole run is abandoned past this. */
const RUN_TIMEOUT_MS = 120_000;

const round3 = (v: number) => Math.round(v * 1000) / 1000;

async function serialBaseline(servers: Array<{ url: string }>): Promise<number> {
  const t0 = performance.now();
  for (const s of servers) {
    const client = new Client({ name: 'serial-baseline', version: '0' }, { capabilities: {} });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.url)));
    await client.listTools();
    await client.close();
  }
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const load = loadavg()[0] ?? 0;
  console.log(`broker-discovery bench: NATS ${NATS_URL}, Redis ${REDIS_URL}; ${SERVERS} servers × ${LIST_LATENCY_MS} ms tools/list`);
  const log = pino({ level: 'warn' });
  const host = await startServerHost();
  const servers = host.urls.map((url) => ({ url }));
  const bus = await Bus.connect({ url: NATS_URL, name: INSTANCE, log });
  const probe = await Bus.connect({ url: NATS_URL, name: `${INSTANCE}-probe`, log });
  const redis = await connectRedis(REDIS_URL, { name: INSTANCE });
  const app = await buildApp({ config: loadConfig({ LOG_LEVEL: 'warn', NATS_URL, REDIS_URL }), bus, redis, log, instanceId: INSTANCE });
  await bus.nc.flush();
  try {
    const others = (await probe.requestAll(contracts.health, {}, { param: 'mcp-broker', maxWaitMs: 300 })).filter((r) => r.instanceId !== INSTANCE);
    if (others.length) console.log(`WARNING: ${others.length} other mcp-broker instance(s) share the list-tools queue group; figures may include them.`);

    const request = (tag: string, callId: string): ListToolsRequest => ({
      context: { callId, agentId: 'bench', accountId: 'bench' },
      budgetMs: BUDGET_MS,
      // A header per run makes new credentials, so `cold` runs meet an empty cache and no pooled connection.
      servers: servers.map((s, i) => ({ name: `s${i}`, transport: 'streamable-http', url: s.url, headers: { 'X-Bench-Run': tag } })),
    });
    const listTools = async (req: ListToolsRequest) => {
      const t0 = performance.now();
      const reply = await probe.request(contracts.listTools, req, { callId: req.context.callId, timeoutMs: 10_000 });
      const ms = performance.now() - t0;
      if (reply.tools.length !== SERVERS * TOOLS_PER_SERVER) throw new Error(`expected ${SERVERS * TOOLS_PER_SERVER} tools, got ${reply.tools.length} (pending ${reply.pending.join(',')}, failed ${reply.failed.map((f) => f.message).join('; ')})`);
      return ms;
    };

    // Cold: every run a new identity for all 10 servers.
    const cold: number[] = [];
    for (let i = 0; i < COLD_RUNS; i++) cold.push(await listTools(request(`cold-${process.pid}-${i}`, `bench-cold-${i}`)));
    // Warm: the same identity, listed once before.
    const warmReq = request(`warm-${process.pid}`, 'bench-warm');
    await listTools(warmReq);
    for (let i = 0; i < 20; i++) await listTools(warmReq);
    const warm: number[] = [];
    for (let i = 0; i < WARM_RUNS; i++) warm.push(await listTools({ ...warmReq, context: { ...warmReq.context, callId: `bench-warm-${i}` } }));
    // Serial baseline: connect + list each server in turn with the SDK client (what jambonz does at call start).
    const serial: number[] = [];
    for (let i = 0; i < SERIAL_RUNS; i++) serial.push(await serialBaseline(servers));

    const c = summarize(cold);
    const w = summarize(warm);
    const s = summarize(serial);
    console.log(`cold p50 ${c.p50.toFixed(1)} ms, warm p50 ${w.p50.toFixed(2)} ms, serial baseline p50 ${s.p50.toFixed(0)} ms`);
    recordResults([
      {
        name: 'broker/discovery',
        metrics: {
          warm_p50_ms: round3(w.p50),
          warm_p99_ms: round3(w.p99),
          cold_p50_ms: round3(c.p50),
          cold_p90_ms: round3(c.p90),
          cold_max_ms: round3(c.max),
          serial_baseline_p50_ms: round3(s.p50),
          speedup_cold_vs_serial: round3(s.p50 / c.p50),
          servers: SERVERS,
          tools: SERVERS * TOOLS_PER_SERVER,
        },
        target: { warm_p50_ms: '≤ 5', cold_p50_ms: '≤ 150' },
        notes:
          `list-tools request over NATS to a broker in this process, ${SERVERS} streamable-HTTP servers with sessions (minimal MCP servers in one child process), each answering tools/list after ${LIST_LATENCY_MS} ms (${TOOLS_PER_SERVER} tools each). ` +
          `cold: ${COLD_RUNS} runs, each with new credentials for every server (no cached list, no pooled connection: connect + initialize + tools/list in parallel); ` +
          `warm: ${WARM_RUNS} runs after the lists were cached (memory; Redis holds them for other instances). ` +
          `serial baseline: SDK client connect + listTools + close per server one after another, ${SERIAL_RUNS} runs, same servers, same run. ` +
          `1-min load average at start: ${load.toFixed(2)} on ${availableParallelism()} CPUs.`,
      },
    ]);
  } finally {
    await app.close();
    await app.app.close();
    await bus.drain(2000).catch(() => undefined);
    await probe.drain(2000).catch(() => undefined);
    redis.disconnect();
    host.proc.kill('SIGTERM');
  }
}

/**
 * The 10 servers in a child process of their own (as remote servers would be), so their work does not
 * share this process's event loop with the broker being measured: libs/testing's minimal MCP server
 * (streamable HTTP with sessions, no SDK on the server side), so 10 servers sharing one process add
 * as little of their own CPU as possible to what is measured. It prints their URLs as one JSON line.
 */
async function startServerHost(): Promise<{ urls: string[]; proc: ChildProcess }> {
  const serverModule = join(ROOT, 'libs/testing/src/mcp/minimal-server.ts');
  const code = `
    const { startMinimalMcpServer } = await import(${JSON.stringify(pathToFileURL(serverModule).href)});
    const servers = await Promise.all(Array.from({ length: ${SERVERS} }, (_, i) => startMinimalMcpServer(
      Array.from({ length: ${TOOLS_PER_SERVER} }, (_, j) => ({ name: 's' + i + '_tool_' + j, description: 'tool ' + j + ' of server ' + i, inputSchema: { type: 'object', properties: { q: { type: 'string' } } } })),
      { listLatencyMs: ${LIST_LATENCY_MS} },
    )));
    console.log(JSON.stringify(servers.map((s) => s.url)));
    process.on('SIGTERM', () => process.exit(0));
  `;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const urls = await new Promise<string[]>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the server host did not start within 20 s')), 20_000);
    proc.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('['));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as string[]);
      }
    });
    proc.once('exit', (code) => reject(new Error(`the server host exited with ${code}`)));
  });
  return { urls, proc };
}

const watchdog = setTimeout(() => {
  console.error(`broker-discovery bench: gave up after ${RUN_TIMEOUT_MS / 1000} s`);
  process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();
try {
  await main();
} catch (err) {
  console.error(`broker-discovery bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
