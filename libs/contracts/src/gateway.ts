import type { FromSchema } from 'json-schema-to-ts';
import { command, fixed } from './contract.ts';

const e164 = { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' } as const;

/** `cmd.media-gateway.dial`: place an outbound call (make_phone_call, scheduled calls, callbacks). */
export const dialRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId', 'agentId', 'to'],
  properties: {
    accountId: { type: 'string', minLength: 1 },
    /** The agent that runs the call. */
    agentId: { type: 'string', minLength: 1 },
    /** Callee (E.164). */
    to: e164,
    /** Caller id; defaults to the agent's first phone number. */
    from: e164,
    /** Carrier to dial through; defaults to the gateway's configured outbound carrier. */
    carrier: { type: 'string', enum: ['twilio', 'sip'] },
    /** Rendered into the agent's prompt as `{{name}}`. */
    variables: { type: 'object', additionalProperties: { type: 'string', maxLength: 2000 }, maxProperties: 50 },
    /** What the call is for; added to the agent's prompt. */
    goal: { type: 'string', maxLength: 2000 },
    /** Overrides the agent's first message for this call. */
    firstMessage: { type: 'string', maxLength: 2000 },
    /** Hard limit on the call's length. */
    maxDurationSec: { type: 'integer', minimum: 10, maximum: 14400 },
    /** Idempotency: the same id twice returns the first dial's result. */
    requestId: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;
export type DialRequest = FromSchema<typeof dialRequestSchema>;

export const dialReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'status'],
  properties: {
    /** Switchboard call id (the media subjects of the call once it answers). */
    callId: { type: 'string' },
    /** `queued`: the carrier accepted the request; lifecycle events follow on evt.call.*. */
    status: { type: 'string', enum: ['queued', 'ringing', 'answered'] },
    carrier: { type: 'string', enum: ['twilio', 'sip'] },
    /** The carrier's id (Twilio CallSid, SIP Call-ID). */
    carrierCallId: { type: 'string' },
  },
} as const;
export type DialReply = FromSchema<typeof dialReplySchema>;

/** Contracts owned by the media-gateway. Merged into `contracts` in ./subjects.ts. */
export const gatewayContracts = {
  /** → any gateway instance (queue group): place an outbound call. */
  dial: command('dial', 'none', fixed('cmd.media-gateway.dial'), dialRequestSchema, dialReplySchema, 'media-gateway'),
} as const;
