import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts, type AgentDefinition } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { AccountStore, ApiKeyStore, CallStore } from '@switchboard/session-store';
import { createHttp } from '@switchboard/runtime';
import { providersFor, type AgentProviders } from './adapters/providers.ts';
import type { VadFactory } from './adapters/silero-vad.ts';
import type { WebhookOptions } from './adapters/webhook-tool.ts';
import { AgentStore } from '@switchboard/agents';
import { CallSession } from './session/call-session.ts';
import { SessionState } from './session/session-state.ts';
import { startSessionHandler, type LiveSession } from './handlers/start-session.handler.ts';
import { RealtimeSession } from './session/realtime-session.ts';
import { requireApiKey } from './http/auth.ts';
import { agentRoutes } from './http/agents.route.ts';
import { callRoutes } from './http/calls.route.ts';
import type { ChatDeps } from './conversation/chat-session.ts';
import type { OrchestratorConfig } from './config.ts';
import { observeCallsActive } from './session/metrics.ts';

export interface OrchestratorDeps {
  config: OrchestratorConfig;
  bus: Bus;
  redis: Redis;
  /** Agents from AGENTS_DIR, written to the Redis store at start. */
  fileAgents: readonly AgentDefinition[];
  vad: VadFactory;
  log: Logger;
  instanceId: string;
  /** Overrides the provider factory (tests). */
  providers?: (agent: AgentDefinition) => AgentProviders;
}

export interface Orchestrator {
  app: FastifyInstance;
  sessions: Map<string, LiveSession>;
  agents: AgentStore;
  drain(timeoutMs: number): Promise<void>;
}

/** Process memory in MB, for health (and the benchmark's memory per call). */
function memoryMb(): { rss: number; heapUsed: number; external: number } {
  const m = process.memoryUsage();
  const mb = (b: number) => Math.round((b / 1048576) * 10) / 10;
  return { rss: mb(m.rss), heapUsed: mb(m.heapUsed), external: mb(m.external + m.arrayBuffers) };
}

export async function buildApp(deps: OrchestratorDeps): Promise<Orchestrator> {
  const { config, bus, redis, log, instanceId } = deps;
  const store = new CallStore(redis, { retentionS: config.CALL_RETENTION_S });
  const accounts = new AccountStore(redis);
  const keys = new ApiKeyStore(redis);
  const agents = new AgentStore(redis);
  await agents.seed(deps.fileAgents);
  const providers = deps.providers ?? ((agent: AgentDefinition) => providersFor(agent, config));
  const sessions = new Map<string, LiveSession>();
  observeCallsActive(() => sessions.size);
  const webhook: WebhookOptions = { timeoutMs: config.WEBHOOK_TIMEOUT_MS, allowPrivate: config.WEBHOOK_ALLOW_PRIVATE };
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);

  bus.handle(contracts.startSession, (started, ctx) =>
    startSessionHandler(started, ctx, {
      agents,
      store,
      sessions,
      instanceId,
      createSession: async (s, agent, c) => {
        const settings = await accounts.get(s.accountId);
        const sessionLog = c.log.child(c.callId ? { agent_id: agent.id } : { call_id: s.callId, agent_id: agent.id });
        const sessionDeps = {
          bus,
          store,
          state: new SessionState(redis, s.callId, sessionLog),
          accounts,
          providers: providers(agent),
          log: sessionLog,
          vad: deps.vad,
          discoveryBudgetMs: config.TOOL_DISCOVERY_BUDGET_MS,
          fillerAfterMs: config.FILLER_AFTER_MS,
          webhook,
          retentionS: config.CALL_RETENTION_S,
          summaryTimeoutMs: config.SUMMARY_TIMEOUT_MS,
          timeZone: settings.timeZone ?? 'UTC',
        };
        return agent.engine ? new RealtimeSession(s, agent, sessionDeps) : new CallSession(s, agent, sessionDeps);
      },
    }),
  );
  // Every instance hears every end; only the one holding the session acts.
  bus.subscribe(contracts.callEnded, async (evt) => {
    const s = sessions.get(evt.callId);
    if (!s) return;
    sessions.delete(evt.callId);
    await s.stop(evt.reason);
  });
  const startedAt = Date.now();
  bus.handle(contracts.health, () => ({ service: 'agent-orchestrator', instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { activeCalls: sessions.size, vad: deps.vad.kind, memory: memoryMb() } }), {
    param: 'agent-orchestrator',
    queue: false,
  });

  const chat: ChatDeps = {
    bus,
    redis,
    log,
    accounts,
    llmFor: (agent) => providers(agent).llm,
    discoveryBudgetMs: config.TOOL_DISCOVERY_BUDGET_MS,
    fillerAfterMs: config.FILLER_AFTER_MS,
    webhook,
    ttlS: config.CHAT_SESSION_TTL_S,
  };
  await app.register(async (v1) => {
    v1.addHook('onRequest', requireApiKey(keys));
    await agentRoutes(v1, { agents, bus, redis, checkBudgetMs: config.TOOL_DISCOVERY_BUDGET_MS, chat });
    await callRoutes(v1, { store, redis });
  });

  return {
    app,
    sessions,
    agents,
    async drain(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    },
  };
}
