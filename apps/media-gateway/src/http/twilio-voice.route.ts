import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { randomBytes } from 'node:crypto';
import type { AgentRegistry } from '@switchboard/agents';
import { signStreamToken } from '../adapters/stream-token.ts';
import type { GatewayConfig } from '../config.ts';

export interface TwilioVoiceDeps {
  config: GatewayConfig;
  agents: AgentRegistry;
}

/** `call_` + 20 base32-ish chars: safe as a NATS subject token and a Redis key. */
export function newCallId(): string {
  return `call_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}

/** ws(s):// URL of the stream endpoint, derived from the public URL Twilio reaches us on. */
export function streamUrlFor(publicUrl: string): string {
  const u = new URL('/twilio/stream', publicUrl);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

/**
 * Checks `X-Twilio-Signature` with the official library against the URL Twilio called. Replies 403
 * (bad signature) or 503 (no auth token while validation is on) and returns false when refused.
 */
export function checkTwilioSignature(config: GatewayConfig, req: FastifyRequest, reply: FastifyReply, params: Record<string, string>): boolean {
  if (!config.TWILIO_VALIDATE_SIGNATURES) return true;
  if (!config.TWILIO_AUTH_TOKEN) {
    req.log.error('TWILIO_AUTH_TOKEN is not set and signature validation is on: refusing webhook');
    void reply.status(503).type('text/plain').send('Twilio webhook validation is not configured');
    return false;
  }
  const signature = req.headers['x-twilio-signature'];
  const url = new URL(req.url, config.PUBLIC_URL).toString();
  if (typeof signature !== 'string' || !twilio.validateRequest(config.TWILIO_AUTH_TOKEN, signature, url, params)) {
    req.log.warn({ url }, 'invalid Twilio signature');
    void reply.status(403).type('text/plain').send('Invalid Twilio signature');
    return false;
  }
  return true;
}

/** Twilio voice webhook: route the dialled number to an agent and connect a bidirectional Media Stream. */
export async function twilioVoiceRoutes(app: FastifyInstance, deps: TwilioVoiceDeps): Promise<void> {
  const { config, agents } = deps;

  app.post('/twilio/voice', async (req, reply) => {
    const params = (req.body ?? {}) as Record<string, string>;
    if (!checkTwilioSignature(config, req, reply, params)) return reply;
    const to = params.To ?? params.Called ?? '';
    const from = params.From ?? params.Caller ?? '';
    const response = new twilio.twiml.VoiceResponse();
    const agent = agents.forNumber(to);
    if (!agent) {
      req.log.warn({ to }, 'no agent routes this number');
      response.say('Sorry, this number is not in service. Goodbye.');
      response.hangup();
      return reply.type('text/xml').send(response.toString());
    }
    const callId = newCallId();
    const accountId = agent.accountId ?? 'default';
    const token = signStreamToken({ callId, agentId: agent.id, accountId, exp: Math.floor(Date.now() / 1000) + config.STREAM_TOKEN_TTL_S }, config.STREAM_TOKEN_SECRET);
    const stream = response.connect().stream({ url: streamUrlFor(config.PUBLIC_URL) });
    const parameters: Record<string, string> = { callId, agentId: agent.id, accountId, from, to, direction: params.Direction?.startsWith('outbound') ? 'outbound' : 'inbound', token };
    for (const [name, value] of Object.entries(parameters)) stream.parameter({ name, value });
    req.log.info({ call_id: callId, agent: agent.id, callSid: params.CallSid }, 'incoming call routed');
    return reply.type('text/xml').send(response.toString());
  });
}
