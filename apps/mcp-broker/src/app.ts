import type { FastifyInstance } from 'fastify';
import type { Subscription } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { createHttp } from '@switchboard/runtime';
import { ApiKeyStore } from '@switchboard/session-store';
import { AgentCatalog } from './adapters/agent-catalog.ts';
import { callEndedHandler } from './handlers/call-ended.handler.ts';
import { callToolHandler } from './handlers/call-tool.handler.ts';
import { listToolsHandler } from './handlers/list-tools.handler.ts';
import { serversForAgentHandler } from './handlers/servers-for-agent.handler.ts';
import { toolCancelHandler } from './handlers/tool-cancel.handler.ts';
import { toolsChangedHandler } from './handlers/tools-changed.handler.ts';
import { mcpServersRoutes } from './http/mcp-servers.route.ts';
import { Broker, type BrokerEvents } from './mcp/broker.ts';
import { ConnectionPool } from './mcp/pool.ts';
import { ToolsCache } from './mcp/tools-cache.ts';
import { SecretBox } from './registry/secrets.ts';
import { ServerRegistry } from './registry/server-registry.ts';
import { EmbeddingsRanker } from './selection/embeddings.ts';
import { Selector } from './selection/selector.ts';
import { bindTelemetry } from './telemetry.ts';
import type { BrokerConfig } from './config.ts';

export interface BrokerDeps {
  config: BrokerConfig;
  bus: Bus;
  redis: Redis;
  log: Logger;
  instanceId: string;
  /**
   * Serve the queue-group commands (list-tools, call-tool, servers-for-agent); default true. False
   * builds an instance driven in-process (tests that must know which instance served a request);
   * events (call ended, cancel, tools changed) are still heard.
   */
  serveCommands?: boolean;
}

export interface BrokerApp {
  app: FastifyInstance;
  broker: Broker;
  pool: ConnectionPool;
  cache: ToolsCache;
  registry: ServerRegistry;
  close(): Promise<void>;
}

/** Calls whose cancel subject this instance listens on at most (the oldest is dropped beyond it). */
const MAX_WATCHED_CALLS = 10_000;

export async function buildApp(deps: BrokerDeps): Promise<BrokerApp> {
  const { config, bus, redis, log, instanceId } = deps;
  bindTelemetry();
  const cache = new ToolsCache(redis, log, config.TOOLS_CACHE_TTL_S * 1000);
  // The pool reports list_changed and lost connections to the broker, built right after it.
  const hooks: { broker?: Broker } = {};
  const pool = new ConnectionPool(log, {
    connectTimeoutMs: config.CONNECT_TIMEOUT_MS,
    onListChanged: (conn) => hooks.broker?.onListChanged(conn),
    onLost: (conn) => hooks.broker?.onLost(conn),
  });
  const registry = new ServerRegistry(redis, SecretBox.fromBase64(config.SECRETS_KEY));
  const embeddings = config.EMBEDDINGS_URL
    ? new EmbeddingsRanker({ url: config.EMBEDDINGS_URL, model: config.EMBEDDINGS_MODEL, timeoutMs: config.EMBEDDINGS_TIMEOUT_MS, ...(config.EMBEDDINGS_API_KEY ? { apiKey: config.EMBEDDINGS_API_KEY } : {}) })
    : undefined;

  const cancelSubs = new Map<string, Subscription>();
  const events: BrokerEvents = {
    progressed: (callId, evt) => bus.publish(contracts.toolProgressed, evt, { param: callId }),
    toolsChanged: (evt) => bus.publish(contracts.toolsChanged, evt),
    watchCall: (callId) => {
      if (cancelSubs.has(callId) || !hooks.broker) return;
      try {
        cancelSubs.set(callId, bus.subscribe(contracts.toolCancelRequested, toolCancelHandler(hooks.broker, callId), { param: callId, queue: false }));
      } catch {
        return; // a call id that cannot be a subject token cannot be cancelled by event
      }
      if (cancelSubs.size > MAX_WATCHED_CALLS) {
        const [oldest, sub] = cancelSubs.entries().next().value as [string, Subscription];
        sub.unsubscribe();
        cancelSubs.delete(oldest);
      }
    },
    unwatchCall: (callId) => {
      cancelSubs.get(callId)?.unsubscribe();
      cancelSubs.delete(callId);
    },
  };
  const broker = new Broker(
    pool,
    cache,
    log,
    {
      instanceId,
      discoveryBudgetMs: config.DISCOVERY_BUDGET_MS,
      toolTimeoutMs: config.TOOL_TIMEOUT_MS,
      maxResultBytes: config.MAX_RESULT_BYTES,
      maxToolsPerServer: config.MAX_TOOLS_PER_SERVER,
      listTimeoutMs: config.LIST_TIMEOUT_MS,
      breaker: { failureThreshold: config.BREAKER_FAILURE_THRESHOLD, cooldownMs: config.BREAKER_COOLDOWN_MS, maxCooldownMs: config.BREAKER_MAX_COOLDOWN_MS },
      cancelGraceMs: config.CANCEL_GRACE_MS,
      sweepIntervalMs: Math.min(60_000, Math.max(1_000, (config.TOOLS_CACHE_TTL_S * 1000) / 5)),
      toolsTtlMs: config.TOOLS_CACHE_TTL_S * 1000,
      maxStaleMs: Math.max(config.TOOLS_CACHE_TTL_S, config.TOOLS_CACHE_MAX_STALE_S) * 1000,
    },
    events,
    registry,
    new Selector(log, embeddings),
  );
  hooks.broker = broker;

  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);
  await app.register(mcpServersRoutes, { registry, keys: new ApiKeyStore(redis), agents: new AgentCatalog(config.AGENTS_DIR, log, redis), broker, attachCheckBudgetMs: config.ATTACH_CHECK_BUDGET_MS });

  if (deps.serveCommands !== false) {
    bus.handle(contracts.listTools, listToolsHandler(broker));
    bus.handle(contracts.callTool, callToolHandler(broker));
    bus.handle(contracts.serversForAgent, serversForAgentHandler(registry));
    // Health answers only from instances in the queue group (what a fan-in counts as brokers).
    const startedAt = Date.now();
    bus.handle(
      contracts.health,
      () => ({
        service: 'mcp-broker',
        instanceId,
        // An external server being down is reported in `breakers`, not as this service's own health.
        status: 'ok' as const,
        uptimeS: (Date.now() - startedAt) / 1000,
        details: { connections: pool.size, inflight: broker.inflight, cachedServers: cache.size, breakers: broker.breakerStates(), ...broker.stats },
      }),
      { param: 'mcp-broker', queue: false },
    );
  }
  bus.subscribe(contracts.callEnded, callEndedHandler(broker), { queue: false });
  bus.subscribe(contracts.toolsChanged, toolsChangedHandler(broker), { queue: false });
  return {
    app,
    broker,
    pool,
    cache,
    registry,
    close: async () => {
      broker.close();
      for (const s of cancelSubs.values()) s.unsubscribe();
      cancelSubs.clear();
      await pool.closeAll();
    },
  };
}
