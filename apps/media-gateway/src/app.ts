import { metrics } from '@opentelemetry/api';
import websocket from '@fastify/websocket';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts, CALL_EVENTS_STREAM } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { AgentDirectory, AgentStore, type AgentRegistry } from '@switchboard/agents';
import { createHttp } from '@switchboard/runtime';
import { twilioVoiceRoutes } from './http/twilio-voice.route.ts';
import { twilioStreamRoutes } from './http/twilio-stream.route.ts';
import { twilioStatusRoutes } from './http/twilio-status.route.ts';
import { mkdir } from 'node:fs/promises';
import { AccountStore } from '@switchboard/session-store';
import { TwilioRest } from './adapters/twilio-rest.ts';
import { TwilioOutbound } from './adapters/twilio-outbound.ts';
import { CallEvents } from './calls/call-events.ts';
import { CallState } from './calls/call-state.ts';
import type { LegContext } from './calls/open-leg.ts';
import { RawOutbox } from './calls/outbox.ts';
import { dialHandler, type OutboundCarrier } from './handlers/dial.handler.ts';
import { Pacer } from './calls/pacer.ts';
import type { CallLeg } from './calls/call-leg.ts';
import type { GatewayConfig } from './config.ts';
import { SipAgent, defaultPublicAddress } from './sip/sip-agent.ts';

export interface GatewayDeps {
  config: GatewayConfig;
  bus: Bus;
  redis: Redis;
  /** This process's agent files; agents created over the orchestrator's API are read from Redis too. */
  agents: AgentRegistry;
  log: Logger;
  instanceId: string;
}

export interface Gateway {
  app: FastifyInstance;
  legs: Map<string, CallLeg>;
  stats: { badFrames: number; rejectedStreams: number };
  /** Durable, once-only lifecycle events. */
  events: CallEvents;
  /** Stop taking calls; let live calls finish up to `timeoutMs`, then end them. */
  drain(timeoutMs: number): Promise<void>;
  /** The SIP user agent (SIP_ENABLED); main.ts binds it with `sip.listen(SIP_PORT, SIP_HOST)`, `app.close()` closes it. */
  sip?: SipAgent | undefined;
}

export async function buildApp(deps: GatewayDeps): Promise<Gateway> {
  const { config, bus, redis, log } = deps;
  const directory = new AgentDirectory(deps.agents, new AgentStore(redis));
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);
  // Twilio posts application/x-www-form-urlencoded.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  // Media Streams frames are JSON that the strict codec parses and checks anyway: ws's separate UTF-8
  // pass over every text frame is skipped (an invalid byte decodes to U+FFFD and fails the codec's checks
  // wherever it matters: event names, SIDs, base64 payloads, DTMF digits).
  await app.register(websocket, { options: { maxPayload: 64 * 1024, skipUTF8Validation: true } });
  const legs = new Map<string, CallLeg>();
  metrics
    .getMeter('switchboard-media-gateway')
    .createObservableUpDownCounter('switchboard_calls_active', { description: 'Calls with a live media leg in this process (Twilio and SIP)' })
    .addCallback((r) => r.observe(legs.size));
  const pacer = new Pacer();
  const stats = { badFrames: 0, rejectedStreams: 0 };
  await bus.ensureStream(CALL_EVENTS_STREAM);
  const state = new CallState(redis);
  const events = new CallEvents(bus, state, log);
  if (config.RECORDINGS_DIR) await mkdir(config.RECORDINGS_DIR, { recursive: true });
  /** What any carrier needs to bring a call's media up (see calls/open-leg.ts). */
  const legContext: LegContext = { bus, pacer, legs, events, leadMs: config.OUTBOUND_LEAD_MS, recordingsDir: config.RECORDINGS_DIR, outbox: new RawOutbox(bus) };
  // Twilio's REST API (dial, hang-up, transfer) needs the account SID and auth token.
  const rest = config.TWILIO_ACCOUNT_SID && config.TWILIO_AUTH_TOKEN ? new TwilioRest({ accountSid: config.TWILIO_ACCOUNT_SID, authToken: config.TWILIO_AUTH_TOKEN, baseUrl: config.TWILIO_API_BASE_URL }) : undefined;
  const outbound: Partial<Record<'twilio' | 'sip', OutboundCarrier>> = rest ? { twilio: new TwilioOutbound(rest, config.PUBLIC_URL, config.DIAL_RING_TIMEOUT_S) } : {};
  // SIP/RTP (src/sip, src/rtp): answers SIP calls and dials out through SIP_TRUNK_URI for the dial handler.
  let draining = false;
  const sip = config.SIP_ENABLED
    ? new SipAgent({ config, legs: legContext, agents: directory, log, instanceId: deps.instanceId, isDraining: () => draining }, config.SIP_PUBLIC_IP ?? (await defaultPublicAddress(config.SIP_HOST)))
    : undefined;
  if (sip) {
    if (config.SIP_TRUNK_URI) outbound.sip = sip;
    app.addHook('onClose', async () => sip.close());
  }
  await app.register(twilioVoiceRoutes, { config, agents: directory, state });
  await app.register(twilioStatusRoutes, { config, state, events });
  await app.register(twilioStreamRoutes, { config, legs: legContext, state, rest, instanceId: deps.instanceId, stats });
  // Only an instance that can place calls joins the dial queue group: a request never lands where it must fail.
  if (Object.keys(outbound).length) bus.handle(contracts.dial, dialHandler({ agents: directory, accounts: new AccountStore(redis), state, carriers: outbound, defaultCarrier: config.OUTBOUND_CARRIER ?? (outbound.twilio ? 'twilio' : 'sip'), log }));
  const startedAt = Date.now();
  bus.handle(contracts.health, () => ({ service: 'media-gateway', instanceId: deps.instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { activeCalls: legs.size, pacer: pacer.stats(), ...(sip ? { sip: sip.stats() } : {}) } }), { param: 'media-gateway', queue: false });

  return {
    app,
    legs,
    stats,
    events,
    sip,
    async drain(timeoutMs: number) {
      draining = true;
      const deadline = Date.now() + timeoutMs;
      while (legs.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      for (const leg of [...legs.values()]) leg.end('error');
    },
  };
}
