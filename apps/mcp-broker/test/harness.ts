import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Bus } from '@switchboard/bus';
import type { CallContext, CallToolReply, CallToolRequest, ListToolsReply, ListToolsRequest } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { buildApp, type BrokerApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

export type ServerConfig = ListToolsRequest['servers'][number];

export const log = createLogger('mcp-broker-test', process.env.TEST_LOG_LEVEL ?? 'silent');

/** A call context with a fresh call id. */
export function ctx(tag = 'call'): CallContext {
  return { callId: `${tag}_${randomBytes(6).toString('hex')}`, agentId: 'demo', accountId: 'default', from: '+15557654321', to: '+15550001234' };
}

export const http = (name: string, url: string, extra: Partial<ServerConfig> = {}): ServerConfig => ({ name, transport: 'streamable-http', url, ...extra });

/** The `{"error": …, "fallback": true}` envelope a failed tool call carries to the model. */
export function envelope(reply: CallToolReply): { error: string; fallback: boolean } {
  return JSON.parse(reply.text) as { error: string; fallback: boolean };
}

export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface TestBroker {
  b: BrokerApp;
  bus: Bus;
  redis: Redis;
  list(servers: ServerConfig[], extra?: Partial<ListToolsRequest>): Promise<ListToolsReply>;
  call(server: ServerConfig | undefined, tool: string, args: Record<string, unknown>, extra?: Partial<CallToolRequest>): Promise<CallToolReply>;
  close(): Promise<void>;
}

/**
 * A broker instance built in-process on the real NATS and Redis, driven directly (not through the
 * queue group, which other test files' brokers share); its events go over NATS as in production.
 */
export async function startTestBroker(
  env: Record<string, string> = {},
  instanceId = `mcp-broker-test-${randomBytes(3).toString('hex')}`,
  opts: { logger?: Logger; serveCommands?: boolean } = {},
): Promise<TestBroker> {
  const infra = await infraUrls();
  const logger = opts.logger ?? log;
  const bus = await Bus.connect({ url: infra.natsUrl, name: instanceId, log: logger });
  const redis = await connectRedis(infra.redisUrl, { name: instanceId });
  const b = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent', ...env }), bus, redis, log: logger, instanceId, serveCommands: opts.serveCommands ?? false });
  await bus.nc.flush();
  return {
    b,
    bus,
    redis,
    // A long default budget: on a loaded machine a cold server can take more than the production 1.5 s;
    // tests about the budget pass their own.
    list: (servers, extra = {}) => b.broker.listTools({ context: extra.context ?? ctx(), servers, budgetMs: 10_000, ...extra }),
    call: (server, tool, args, extra = {}) => b.broker.callTool({ context: extra.context ?? ctx(), ...(server ? { server } : {}), tool, arguments: args, ...extra }),
    close: async () => {
      await b.close();
      await b.app.close();
      await bus.drain(2000);
      redis.disconnect();
    },
  };
}

/** Prints which infrastructure a suite uses (house rule). */
export async function announce(suite: string): Promise<void> {
  const infra = await infraUrls();
  console.log(`${suite}: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
}
