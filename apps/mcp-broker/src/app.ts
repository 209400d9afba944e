import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { createHttp } from '@switchboard/runtime';
import { ConnectionPool } from './mcp/pool.ts';
import { Broker } from './mcp/broker.ts';
import type { BrokerConfig } from './config.ts';

export interface BrokerDeps {
  config: BrokerConfig;
  bus: Bus;
  redis: Redis;
  log: Logger;
  instanceId: string;
}

export interface BrokerApp {
  app: FastifyInstance;
  broker: Broker;
  pool: ConnectionPool;
  close(): Promise<void>;
}

export async function buildApp(deps: BrokerDeps): Promise<BrokerApp> {
  const { config, bus, redis, log, instanceId } = deps;
  const pool = new ConnectionPool(log, { toolsTtlMs: config.TOOLS_CACHE_TTL_S * 1000, maxTools: config.MAX_TOOLS_PER_SERVER });
  const broker = new Broker(pool, log, { discoveryBudgetMs: config.DISCOVERY_BUDGET_MS, toolTimeoutMs: config.TOOL_TIMEOUT_MS, maxResultBytes: config.MAX_RESULT_BYTES });
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);
  bus.handle(contracts.listTools, (req) => broker.listTools(req));
  bus.handle(contracts.callTool, (req, ctx) => broker.callTool(req, ctx.signal));
  bus.subscribe(contracts.callEnded, (evt) => pool.release(evt.callId), { queue: false });
  const startedAt = Date.now();
  bus.handle(contracts.health, () => ({ service: 'mcp-broker', instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { connections: pool.size, ...broker.stats } }), { param: 'mcp-broker', queue: false });
  return { app, broker, pool, close: () => pool.closeAll() };
}
