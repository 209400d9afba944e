import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts, CALL_EVENTS_STREAM } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { AgentRegistry } from '@switchboard/agents';
import { createHttp } from '@switchboard/runtime';
import { twilioVoiceRoutes } from './http/twilio-voice.route.ts';
import { twilioStreamRoutes } from './http/twilio-stream.route.ts';
import { Pacer } from './calls/pacer.ts';
import type { CallLeg } from './calls/call-leg.ts';
import type { GatewayConfig } from './config.ts';

export interface GatewayDeps {
  config: GatewayConfig;
  bus: Bus;
  redis: Redis;
  agents: AgentRegistry;
  log: Logger;
  instanceId: string;
}

export interface Gateway {
  app: FastifyInstance;
  legs: Map<string, CallLeg>;
  stats: { badFrames: number; rejectedStreams: number };
  /** Stop taking calls; let live calls finish up to `timeoutMs`, then end them. */
  drain(timeoutMs: number): Promise<void>;
}

export async function buildApp(deps: GatewayDeps): Promise<Gateway> {
  const { config, bus, redis, log } = deps;
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);
  // Twilio posts application/x-www-form-urlencoded.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  const legs = new Map<string, CallLeg>();
  const pacer = new Pacer();
  const stats = { badFrames: 0, rejectedStreams: 0 };
  await bus.ensureStream(CALL_EVENTS_STREAM);
  await app.register(twilioVoiceRoutes, { config, agents: deps.agents });
  await app.register(twilioStreamRoutes, { config, bus, pacer, legs, instanceId: deps.instanceId, stats });
  const startedAt = Date.now();
  bus.handle(contracts.health, () => ({ service: 'media-gateway', instanceId: deps.instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { activeCalls: legs.size } }), { param: 'media-gateway', queue: false });

  return {
    app,
    legs,
    stats,
    async drain(timeoutMs: number) {
      const deadline = Date.now() + timeoutMs;
      while (legs.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const leg of [...legs.values()]) leg.end('error');
    },
  };
}
