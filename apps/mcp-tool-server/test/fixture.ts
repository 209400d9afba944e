/**
 * A running mcp-tool-server for integration tests: real NATS and Redis, agents and workflows written
 * to a temporary directory for this run's own accounts, keys for them, and a second bus connection
 * (`probe`) on which tests put small fake handlers for the gateway, orchestrator, scheduler and
 * broker contracts.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Bus } from '@switchboard/bus';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { ApiKeyStore, CallStore, type CallRecord } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { ContactSource } from '../src/adapters/contacts.ts';
import type { AppServices } from '../src/app.ts';

export const log = createLogger('mcp-tool-server-test', 'silent');

/** A minimal valid agent; `extra` adds fields (officeHours, customTools, mcpServers). */
export function agent(id: string, accountId: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id,
    accountId,
    systemPrompt: 'You are a test agent.',
    stt: { provider: 'openai', model: 'whisper-1' },
    llm: { provider: 'openai', model: 'gpt-4o-mini' },
    tts: { provider: 'openai', model: 'tts-1', voice: 'alloy' },
    ...extra,
  };
}

export interface FixtureOptions {
  /** Extra environment for loadConfig. */
  env?: Record<string, string>;
  /** Agents to write, given this run's two account ids. */
  agents?: (account: string, other: string) => Array<Record<string, unknown>>;
  workflows?: (account: string, other: string) => Array<Record<string, unknown>>;
  /** Reuse another fixture's accounts, agents and keys (a second instance of the same deployment). */
  sharing?: Fixture;
  /** Contact sources besides the native one. */
  extraContactSources?: ContactSource[];
}

export interface Fixture {
  app: FastifyInstance;
  url: string;
  bus: Bus;
  probe: Bus;
  redis: Redis;
  services: AppServices;
  run: string;
  account: string;
  other: string;
  key: string;
  otherKey: string;
  agentsDir: string;
  /** Set `now` to stop the server's clock there; unset, it is the real clock. */
  clock: { now?: Date };
  /** Key ids to revoke at the end. */
  keyIds: string[];
  close(): Promise<void>;
}

/** Starts the app on a free port of 127.0.0.1. */
export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const infra = await infraUrls();
  const shared = opts.sharing;
  const run = shared?.run ?? randomBytes(4).toString('hex');
  const account = shared?.account ?? `acct_ts_${run}`;
  const other = shared?.other ?? `acct_ts_other_${run}`;
  const dir = shared ? undefined : mkdtempSync(join(tmpdir(), 'sb-tool-server-'));
  const agentsDir = shared?.agentsDir ?? join(dir!, 'agents');
  if (dir) {
    const workflowsDir = join(dir, 'workflows');
    mkdirSync(agentsDir);
    mkdirSync(workflowsDir);
    const agents = opts.agents?.(account, other) ?? [agent('front-desk', account), agent('other-desk', other)];
    for (const a of agents) writeFileSync(join(agentsDir, `${String(a.id)}.yaml`), stringify(a));
    for (const w of opts.workflows?.(account, other) ?? []) writeFileSync(join(workflowsDir, `${String(w.name)}.yaml`), stringify(w));
  }
  const bus = await Bus.connect({ url: infra.natsUrl, name: `mcp-tool-server-test-${run}`, log });
  const probe = await Bus.connect({ url: infra.natsUrl, name: `mcp-tool-server-test-probe-${run}`, log });
  const redis = await connectRedis(infra.redisUrl, { name: 'mcp-tool-server-test' });
  const clock: { now?: Date } = {};
  const config = loadConfig({ LOG_LEVEL: 'silent', RATE_LIMIT_PER_MIN: '100000', AGENTS_DIR: agentsDir, WORKFLOWS_DIR: join(agentsDir, '..', 'workflows'), ...opts.env });
  const built = await buildApp({ config, bus, redis, log, instanceId: `mcp-tool-server-test-${run}-${randomBytes(2).toString('hex')}`, now: () => clock.now ?? new Date(), ...(opts.extraContactSources ? { extraContactSources: opts.extraContactSources } : {}) });
  const url = `${await built.app.listen({ port: 0, host: '127.0.0.1' })}/mcp`;
  const keys = new ApiKeyStore(redis);
  const keyIds: string[] = [];
  let key = shared?.key;
  let otherKey = shared?.otherKey;
  if (!key || !otherKey) {
    const a = await keys.create(account);
    const b = await keys.create(other);
    key = a.key;
    otherKey = b.key;
    keyIds.push(a.record.id, b.record.id);
  }
  const fx: Fixture = {
    app: built.app,
    url,
    bus,
    probe,
    redis,
    services: built.services,
    run,
    account,
    other,
    key,
    otherKey,
    agentsDir,
    clock,
    keyIds,
    async close() {
      // A test that left a response body unread keeps its connection busy; do not wait on it forever.
      const force = setTimeout(() => built.app.server.closeAllConnections(), 1000);
      await built.app.close();
      clearTimeout(force);
      if (!shared) {
        for (const id of keyIds) await keys.revoke(id);
        // Everything this run wrote carries its run id in the key (accounts, calls, leads, sessions).
        let cursor = '0';
        for (let i = 0; i < 1000; i++) {
          const [next, found] = await redis.scan(cursor, 'MATCH', `sb:*${run}*`, 'COUNT', 500);
          if (found.length) await redis.del(...found);
          cursor = next;
          if (cursor === '0') break;
        }
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
      await probe.drain(2000);
      await bus.drain(2000);
      redis.disconnect();
    },
  };
  return fx;
}

/** A live call record in Redis, as the orchestrator writes it. Its id carries the run id (cleanup). */
export async function liveCall(fx: Fixture, accountId: string, patch: Partial<CallRecord> = {}): Promise<string> {
  const callId = `call_${fx.run}_${randomBytes(5).toString('hex')}`;
  await new CallStore(fx.redis).create({ callId, accountId, agentId: 'front-desk', direction: 'inbound', carrier: 'twilio', from: '+15557654321', to: '+15550001234', state: 'active', startedAt: new Date().toISOString(), ...patch });
  return callId;
}

export const rpc = (method: string, params: Record<string, unknown> = {}, id = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, params });

/** A raw POST /mcp, headers as given. */
export function post(url: string, headers: Record<string, string>, body: string = rpc('tools/list')): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body });
}

/** An MCP client over streamable HTTP; closed by `closeClients`. */
export class Clients {
  private readonly open: Client[] = [];

  constructor(private readonly url: () => string) {}

  async connect(headers: Record<string, string>): Promise<Client> {
    const client = new Client({ name: 'tool-server-test', version: '0.0.1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(this.url()), { requestInit: { headers } }));
    this.open.push(client);
    return client;
  }

  /**
   * Calls a tool after listing tools, so the SDK client checks `structuredContent` against the
   * tool's outputSchema (it rejects a result that does not match).
   */
  async call(headers: Record<string, string>, name: string, args: Record<string, unknown> = {}): Promise<{ isError: boolean; text: string; structured: Record<string, unknown> | undefined }> {
    const client = await this.connect(headers);
    await client.listTools();
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
    return { isError: result.isError === true, text, structured: result.structuredContent };
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.open.splice(0).map((c) => c.close()));
  }
}
