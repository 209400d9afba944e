import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts, ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { AgentRegistry } from '@switchboard/agents';
import { CallStore } from '@switchboard/session-store';
import { createHttp } from '@switchboard/runtime';
import { providersFor } from './adapters/providers.ts';
import { CallSession } from './session/call-session.ts';
import { startSessionHandler } from './handlers/start-session.handler.ts';
import type { OrchestratorConfig } from './config.ts';

export interface OrchestratorDeps {
  config: OrchestratorConfig;
  bus: Bus;
  redis: Redis;
  agents: AgentRegistry;
  log: Logger;
  instanceId: string;
}

export interface Orchestrator {
  app: FastifyInstance;
  sessions: Map<string, CallSession>;
  drain(timeoutMs: number): Promise<void>;
}

export async function buildApp(deps: OrchestratorDeps): Promise<Orchestrator> {
  const { config, bus, redis, agents, log, instanceId } = deps;
  const store = new CallStore(redis, { retentionS: config.CALL_RETENTION_S });
  const sessions = new Map<string, CallSession>();
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
      createSession: (s, c) => new CallSession(s, agents.get(s.agentId)!, { bus, store, providers: providersFor(agents.get(s.agentId)!, config), log: c.log, discoveryBudgetMs: config.TOOL_DISCOVERY_BUDGET_MS }),
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
  bus.handle(contracts.health, () => ({ service: 'agent-orchestrator', instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { activeCalls: sessions.size } }), { param: 'agent-orchestrator', queue: false });

  app.get<{ Params: { id: string } }>('/v1/calls/:id', async (req) => {
    const call = await store.get(req.params.id);
    if (!call) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, `no call ${req.params.id}`);
    const live = sessions.get(req.params.id);
    return { ...call, transcript: await store.transcript(req.params.id), metrics: live ? { responseMs: live.responseTimes } : undefined };
  });

  return {
    app,
    sessions,
    async drain(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    },
  };
}
