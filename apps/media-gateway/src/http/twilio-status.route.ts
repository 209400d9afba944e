import type { FastifyInstance } from 'fastify';
import type { CallEnded } from '@switchboard/contracts';
import type { CallEvents } from '../calls/call-events.ts';
import type { CallState } from '../calls/call-state.ts';
import type { GatewayConfig } from '../config.ts';
import { CALL_ID_PARAM } from '../adapters/twilio-outbound.ts';
import { checkTwilioSignature } from './twilio-voice.route.ts';

export interface TwilioStatusDeps {
  config: GatewayConfig;
  state: CallState;
  events: CallEvents;
}

/** Twilio's final statuses and the end reason each becomes for a call that never reached its stream. */
const ENDED_REASON: Record<string, CallEnded['reason']> = {
  completed: 'caller-hangup',
  busy: 'busy',
  'no-answer': 'no-answer',
  failed: 'failed',
  canceled: 'canceled',
};

const LIVE = new Set(['queued', 'initiated', 'ringing', 'in-progress']);
const CALL_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * `POST /twilio/status`: Twilio's call status callbacks, signature-checked like the voice webhook,
 * become lifecycle events. `ringing` → `evt.call.ringing`; `in-progress` → `evt.call.answered` (once,
 * whether the callback or the stream comes first); a final status → `evt.call.ended` only for a call
 * whose media stream never started (busy, no answer, failed, canceled, hung up before the stream):
 * a streamed call's end is published by its stream, with the reason only the stream knows.
 */
export async function twilioStatusRoutes(app: FastifyInstance, deps: TwilioStatusDeps): Promise<void> {
  const { config, state, events } = deps;

  app.post('/twilio/status', async (req, reply) => {
    const params = (req.body ?? {}) as Record<string, string>;
    if (!checkTwilioSignature(config, req, reply, params)) return reply;
    const status = params.CallStatus ?? '';
    const callSid = params.CallSid;
    if (!callSid || !(LIVE.has(status) || status in ENDED_REASON)) {
      req.log.warn({ status, callSid }, 'status callback without a CallSid or a known CallStatus');
      return reply.status(400).type('text/plain').send('CallSid and a known CallStatus are required');
    }
    const fromQuery = (req.query as Record<string, string | undefined>)[CALL_ID_PARAM];
    const callId = fromQuery !== undefined && CALL_ID_RE.test(fromQuery) ? fromQuery : await state.callIdFor(callSid);
    if (!callId) {
      // A call this gateway never saw (a number's own status callback before its stream): nothing to report.
      req.log.debug({ status, callSid }, 'status callback for an unknown call');
      return reply.status(204).send();
    }
    const log = req.log.child({ call_id: callId });
    const dial = await state.getDial(callId);
    const identity = {
      callId,
      carrier: 'twilio' as const,
      carrierCallId: callSid,
      ...(dial ? { accountId: dial.accountId, agentId: dial.agentId } : {}),
    };
    const now = new Date().toISOString();
    log.info({ status, callSid }, 'call status');
    if (status === 'ringing') {
      await events.ringing({ ...identity, at: now });
    } else if (status === 'in-progress') {
      await events.answered({ ...identity, direction: dial ? 'outbound' : 'inbound', answeredAt: now });
    } else if (!LIVE.has(status) && !(await state.has(callId, 'streamed'))) {
      const reason = status === 'completed' && dial?.refused ? 'rejected' : ENDED_REASON[status]!;
      const durationS = Number(params.CallDuration);
      await events.ended({
        callId,
        ...(dial ? { accountId: dial.accountId, agentId: dial.agentId } : {}),
        reason,
        endedAt: now,
        durationMs: Number.isFinite(durationS) && durationS > 0 ? durationS * 1000 : 0,
      });
    }
    return reply.status(204).send();
  });
}
