import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { ApiKeyStore, CallStore } from '@switchboard/session-store';
import { createHttp } from '@switchboard/runtime';
import { mcpRoutes } from './http/mcp.route.ts';
import type { ToolServerConfig } from './config.ts';

export interface ToolServerDeps {
  config: ToolServerConfig;
  bus: Bus;
  redis: Redis;
  log: Logger;
  instanceId: string;
}

export async function buildApp(deps: ToolServerDeps): Promise<{ app: FastifyInstance; keys: ApiKeyStore }> {
  const { config, bus, redis, log, instanceId } = deps;
  const keys = new ApiKeyStore(redis);
  const calls = new CallStore(redis);
  if (config.BOOTSTRAP_API_KEY) await keys.put(config.BOOTSTRAP_API_KEY, config.BOOTSTRAP_ACCOUNT_ID);
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ], { bodyLimit: config.MCP_MAX_BODY_BYTES });
  await app.register(mcpRoutes, { keys, calls, bus, maxBodyBytes: config.MCP_MAX_BODY_BYTES });
  const startedAt = Date.now();
  bus.handle(contracts.health, () => ({ service: 'mcp-tool-server', instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000 }), { param: 'mcp-tool-server', queue: false });
  return { app, keys };
}
