import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

/** A process of the stack, with its captured output for diagnosis. */
export interface StackProcess {
  name: string;
  child: ChildProcess;
  output: string[];
  url: string;
  /** The bundle it runs (several instances of a service share it). */
  service: string;
}

export interface StackOptions {
  natsUrl: string;
  redisUrl: string;
  /** Start the bundled fake OpenAI server with this script file (else use `openaiBaseUrl`). */
  fakeOpenAIScript?: string;
  openaiBaseUrl?: string;
  openaiApiKey?: string;
  agentsDir?: string;
  /** Extra environment for every service. */
  env?: Record<string, string>;
  /** Only these services (default: all five plus the orders example). */
  services?: ServiceName[];
  logLevel?: string;
  /** Fixed ports (default: free ports picked by the OS). `npm start` uses the documented defaults. */
  ports?: Partial<Record<'gateway' | 'orchestrator' | 'broker' | 'toolServer' | 'scheduler' | 'orders' | 'openai', number>>;
  /** Forward each process's output, prefixed with its name. */
  echo?: boolean;
  /**
   * How many instances of a service to start (default 1), e.g. `{ 'mcp-broker': 2 }` for scale-out
   * tests. The first keeps the service's name, port and `urls` entry; the others are named
   * `<service>#2`, `#3`… on free ports (find them in `processes`).
   */
  instances?: Partial<Record<ServiceName, number>>;
}

export type ServiceName = 'media-gateway' | 'agent-orchestrator' | 'mcp-broker' | 'mcp-tool-server' | 'scheduler' | 'orders-mcp-server';

export interface Stack {
  urls: Record<ServiceName | 'openai', string>;
  processes: StackProcess[];
  apiKey: string;
  /** SIGTERM every process; resolves with each exit code. */
  stop(): Promise<Record<string, number | null>>;
  logs(name?: string): string;
}

const BUNDLES: Record<ServiceName | 'fake-openai', string> = {
  'media-gateway': 'dist/apps/media-gateway/main.js',
  'agent-orchestrator': 'dist/apps/agent-orchestrator/main.js',
  'mcp-broker': 'dist/apps/mcp-broker/main.js',
  'mcp-tool-server': 'dist/apps/mcp-tool-server/main.js',
  scheduler: 'dist/apps/scheduler/main.js',
  'orders-mcp-server': 'dist/examples/orders-mcp-server/main.js',
  'fake-openai': 'dist/libs/testing/fake-openai/main.js',
};

/** Starts one bundle and resolves once `ready()` answers, or rejects with its output when it exits. */
async function launch(name: string, env: Record<string, string>, ready: () => Promise<boolean>, url: string, echo = false, timeoutMs = 20_000): Promise<StackProcess> {
  const file = `${ROOT}${BUNDLES[name.split('#')[0] as keyof typeof BUNDLES]}`;
  if (!existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, ['--enable-source-maps', file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const keep = (d: Buffer) => {
    output.push(d.toString());
    if (output.length > 5000) output.splice(0, output.length - 5000);
    if (echo) for (const line of d.toString().split('\n')) if (line) process.stdout.write(`[${name}] ${line}\n`);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const proc: StackProcess = { name, child, output, url, service: name.split('#')[0]! };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} during start:\n${output.join('').slice(-4000)}`);
    if (await ready().catch(() => false)) return proc;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} not ready after ${timeoutMs} ms:\n${output.join('').slice(-4000)}`);
}

const httpOk = (url: string) => async () => (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;

/**
 * The whole platform as real processes on free ports: the five services, the example orders MCP
 * server and (optionally) the fake OpenAI-compatible provider. Used by end-to-end tests, the demo and
 * benchmarks.
 */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const want = new Set<ServiceName>(opts.services ?? ['orders-mcp-server', 'mcp-tool-server', 'mcp-broker', 'agent-orchestrator', 'media-gateway', 'scheduler']);
  const fixed = opts.ports ?? {};
  const ports = {
    gateway: fixed.gateway ?? (await freePort()),
    orchestrator: fixed.orchestrator ?? (await freePort()),
    broker: fixed.broker ?? (await freePort()),
    toolServer: fixed.toolServer ?? (await freePort()),
    scheduler: fixed.scheduler ?? (await freePort()),
    orders: fixed.orders ?? (await freePort()),
    openai: fixed.openai ?? (await freePort()),
  };
  const apiKey = `sk_test_${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const urls = {
    'media-gateway': `http://127.0.0.1:${ports.gateway}`,
    'agent-orchestrator': `http://127.0.0.1:${ports.orchestrator}`,
    'mcp-broker': `http://127.0.0.1:${ports.broker}`,
    'mcp-tool-server': `http://127.0.0.1:${ports.toolServer}`,
    scheduler: `http://127.0.0.1:${ports.scheduler}`,
    'orders-mcp-server': `http://127.0.0.1:${ports.orders}/mcp`,
    openai: opts.openaiBaseUrl ?? `http://127.0.0.1:${ports.openai}/v1`,
  };
  const common: Record<string, string> = {
    NATS_URL: opts.natsUrl,
    REDIS_URL: opts.redisUrl,
    HOST: '127.0.0.1',
    LOG_LEVEL: opts.logLevel ?? 'info',
    AGENTS_DIR: opts.agentsDir ?? `${ROOT}config/agents`,
    ORDERS_MCP_URL: urls['orders-mcp-server'],
    SWITCHBOARD_MCP_URL: `${urls['mcp-tool-server']}/mcp`,
    SWITCHBOARD_API_KEY: apiKey,
    OPENAI_BASE_URL: urls.openai,
    ...(opts.openaiApiKey ? { OPENAI_API_KEY: opts.openaiApiKey } : {}),
    ...(opts.env ?? {}),
  };
  const processes: StackProcess[] = [];
  const stop = async () => {
    const codes: Record<string, number | null> = {};
    await Promise.all(
      processes.map(async (p) => {
        if (p.child.exitCode !== null) {
          codes[p.name] = p.child.exitCode;
          return;
        }
        const exited = once(p.child, 'exit');
        p.child.kill('SIGTERM');
        const t = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
        const [code] = (await exited) as [number | null];
        clearTimeout(t);
        codes[p.name] = code;
        // A failed drain says why in its last lines; show them where the test's assertion fails.
        if (code !== 0) process.stderr.write(`--- ${p.name} exited ${code} on SIGTERM; its last output:\n${p.output.join('').split('\n').slice(-25).join('\n')}\n`);
      }),
    );
    return codes;
  };
  try {
    const starts: Array<Promise<StackProcess>> = [];
    if (opts.fakeOpenAIScript && !opts.openaiBaseUrl) starts.push(launch('fake-openai', { ...common, PORT: String(ports.openai), FAKE_OPENAI_SCRIPT: opts.fakeOpenAIScript }, httpOk(`${urls.openai}/models`), urls.openai, opts.echo));
    const http = (port: number) => `http://127.0.0.1:${port}`;
    const starters: Record<ServiceName, (name: string, port: number) => Promise<StackProcess>> = {
      'orders-mcp-server': (name, port) => launch(name, { ...common, PORT: String(port) }, httpOk(`${http(port)}/healthz`), `${http(port)}/mcp`, opts.echo),
      'mcp-tool-server': (name, port) => launch(name, { ...common, MCP_PORT: String(port), BOOTSTRAP_API_KEY: apiKey }, httpOk(`${http(port)}/readyz`), http(port), opts.echo),
      'mcp-broker': (name, port) => launch(name, { ...common, PORT: String(port) }, httpOk(`${http(port)}/readyz`), http(port), opts.echo),
      'agent-orchestrator': (name, port) => launch(name, { ...common, PORT: String(port) }, httpOk(`${http(port)}/readyz`), http(port), opts.echo),
      scheduler: (name, port) => launch(name, { ...common, PORT: String(port) }, httpOk(`${http(port)}/readyz`), http(port), opts.echo),
      'media-gateway': (name, port) =>
        launch(name, { ...common, PORT: String(port), SIP_PORT: '0', PUBLIC_URL: opts.env?.PUBLIC_URL ?? http(port), TWILIO_VALIDATE_SIGNATURES: opts.env?.TWILIO_VALIDATE_SIGNATURES ?? 'false' }, httpOk(`${http(port)}/readyz`), http(port), opts.echo),
    };
    const firstPort: Record<ServiceName, number> = {
      'orders-mcp-server': ports.orders,
      'mcp-tool-server': ports.toolServer,
      'mcp-broker': ports.broker,
      'agent-orchestrator': ports.orchestrator,
      scheduler: ports.scheduler,
      'media-gateway': ports.gateway,
    };
    for (const svc of ['orders-mcp-server', 'mcp-tool-server', 'mcp-broker', 'agent-orchestrator', 'scheduler', 'media-gateway'] as const) {
      if (!want.has(svc)) continue;
      const count = Math.max(1, opts.instances?.[svc] ?? 1);
      for (let i = 1; i <= count; i++) starts.push(starters[svc](i === 1 ? svc : `${svc}#${i}`, i === 1 ? firstPort[svc] : await freePort()));
    }
    const results = await Promise.allSettled(starts);
    for (const r of results) if (r.status === 'fulfilled') processes.push(r.value);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls,
    processes,
    apiKey,
    stop,
    logs: (name?: string) => processes.filter((p) => !name || p.name === name).map((p) => `--- ${p.name}\n${p.output.join('')}`).join('\n'),
  };
}
