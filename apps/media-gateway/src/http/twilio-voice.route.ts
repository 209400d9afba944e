import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { context, propagation } from '@opentelemetry/api';
import type { AgentDirectory } from '@switchboard/agents';
import { signStreamToken } from '../adapters/stream-token.ts';
import type { CallState } from '../calls/call-state.ts';
import { newCallId } from '../calls/call-id.ts';
import { CALL_ID_PARAM } from '../adapters/twilio-outbound.ts';
import type { GatewayConfig } from '../config.ts';

export interface TwilioVoiceDeps {
  config: GatewayConfig;
  agents: AgentDirectory;
  state: CallState;
}

const CALL_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

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

/**
 * Twilio voice webhook. Inbound: route the dialled number to an agent. Outbound (a call this gateway
 * dialled, `?callId=` on the URL): the agent and identity come from the dial record. Either way the
 * answer is a bidirectional `<Connect><Stream>` whose `<Parameter>`s carry the call's identity and a
 * short-lived signed token; a call that cannot be routed hears a polite message, never a 500.
 */
export async function twilioVoiceRoutes(app: FastifyInstance, deps: TwilioVoiceDeps): Promise<void> {
  const { config, agents, state } = deps;

  const refuse = (reply: FastifyReply, message: string) => {
    const response = new twilio.twiml.VoiceResponse();
    response.say(message);
    response.hangup();
    return reply.type('text/xml').send(response.toString());
  };

  app.post('/twilio/voice', async (req, reply) => {
    const params = (req.body ?? {}) as Record<string, string>;
    if (!checkTwilioSignature(config, req, reply, params)) return reply;
    const dialled = (req.query as Record<string, string | undefined>)[CALL_ID_PARAM];
    if (dialled !== undefined) return answerDialled(req, reply, dialled, params);
    const to = params.To ?? params.Called ?? '';
    const from = params.From ?? params.Caller ?? '';
    const agent = await agents.forNumber(to);
    if (!agent) {
      req.log.warn({ to }, 'no agent routes this number');
      return refuse(reply, 'Sorry, this number is not in service. Goodbye.');
    }
    const callId = newCallId();
    const accountId = agent.accountId ?? 'default';
    const direction = params.Direction?.startsWith('outbound') ? 'outbound' : 'inbound';
    req.log.info({ call_id: callId, agent: agent.id, callSid: params.CallSid }, 'incoming call routed');
    return connectStream(reply, { callId, agentId: agent.id, accountId, from, to, direction }, false);
  });

  /** The callee of a dialled call picked up: connect the stream of the call the dial request set up. */
  async function answerDialled(req: FastifyRequest, reply: FastifyReply, callId: string, params: Record<string, string>) {
    const dial = CALL_ID_RE.test(callId) ? await state.getDial(callId).catch((err: unknown) => void req.log.error({ err, call_id: callId }, 'could not read the dial record')) : undefined;
    const agent = dial ? await agents.get(dial.agentId) : undefined;
    if (!dial || !agent) {
      req.log.warn({ call_id: callId, callSid: params.CallSid, dial: Boolean(dial) }, dial ? 'the agent of a dialled call is gone' : 'no dial record for an answered outbound call');
      if (dial) void state.updateDial(callId, { refused: true }).catch(() => undefined);
      return refuse(reply, 'Sorry, this call cannot be connected right now. Goodbye.');
    }
    if (params.CallSid) void state.mapCarrierCall(params.CallSid, callId).catch(() => undefined);
    req.log.info({ call_id: callId, agent: agent.id, callSid: params.CallSid }, 'dialled call answered');
    return connectStream(reply, { callId, agentId: dial.agentId, accountId: dial.accountId, from: dial.from, to: dial.to, direction: 'outbound' }, true);
  }

  /** `dialled`: the token says so, and the stream reads the call's variables from its dial record. */
  function connectStream(reply: FastifyReply, call: { callId: string; agentId: string; accountId: string; from: string; to: string; direction: 'inbound' | 'outbound' }, dialled: boolean) {
    const response = new twilio.twiml.VoiceResponse();
    // The stream's WebSocket arrives without trace headers: the signed token carries this webhook's span.
    const trace: { traceparent?: string } = {};
    propagation.inject(context.active(), trace);
    const token = signStreamToken(
      {
        callId: call.callId,
        agentId: call.agentId,
        accountId: call.accountId,
        exp: Math.floor(Date.now() / 1000) + config.STREAM_TOKEN_TTL_S,
        ...(dialled ? { direction: 'outbound' as const } : {}),
        ...(trace.traceparent ? { traceparent: trace.traceparent } : {}),
      },
      config.STREAM_TOKEN_SECRET,
    );
    const stream = response.connect().stream({ url: streamUrlFor(config.PUBLIC_URL) });
    const parameters: Record<string, string> = { callId: call.callId, agentId: call.agentId, accountId: call.accountId, from: call.from, to: call.to, direction: call.direction, token };
    for (const [name, value] of Object.entries(parameters)) stream.parameter({ name, value });
    return reply.type('text/xml').send(response.toString());
  }
}
