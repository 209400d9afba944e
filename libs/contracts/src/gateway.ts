import type { FromSchema } from 'json-schema-to-ts';
import { command, event, fixed, withToken } from './contract.ts';

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
    /**
     * Rendered into the agent's prompt as `{{name}}`; reach the orchestrator as `evt.call.started`'s
     * `variables`. Names starting with `sb.` are reserved ({@link DIAL_VARIABLES}) and refused here.
     */
    variables: { type: 'object', additionalProperties: { type: 'string', maxLength: 2000 }, maxProperties: 50 },
    /** What the call is for; added to the agent's prompt. Arrives as variable `sb.goal`. */
    goal: { type: 'string', maxLength: 2000 },
    /** Overrides the agent's first message for this call. Arrives as variable `sb.firstMessage`. */
    firstMessage: { type: 'string', maxLength: 2000 },
    /** Hard limit on the call's length (Twilio `TimeLimit`). Arrives as variable `sb.maxDurationSec`. */
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

/**
 * Reserved names in `evt.call.started`'s `variables` for what a dial request carries beside its own
 * variables: the orchestrator reads them to steer the call. A dial request whose `variables` use the
 * `sb.` prefix is refused, so a caller-supplied variable can never impersonate one of these.
 */
export const DIAL_VARIABLES = {
  /** The dial request's `goal`. */
  goal: 'sb.goal',
  /** The dial request's `firstMessage`: said instead of the agent's first message. */
  firstMessage: 'sb.firstMessage',
  /** The dial request's `maxDurationSec`, as a decimal string. */
  maxDurationSec: 'sb.maxDurationSec',
  /** The dial request's `requestId`, when given. */
  requestId: 'sb.requestId',
} as const;

/** Prefix of the reserved variable names. */
export const RESERVED_VARIABLE_PREFIX = 'sb.';

const callIdentity = {
  /** Switchboard's call id. */
  callId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
  accountId: { type: 'string' },
  agentId: { type: 'string' },
  /** Which carrier carries the call. */
  carrier: { type: 'string', enum: ['twilio', 'sip'] },
  /** The carrier's own id (Twilio CallSid, SIP Call-ID). */
  carrierCallId: { type: 'string' },
} as const;

/** `evt.call.ringing`: an outbound call is ringing at the callee (Twilio status callback `ringing`). */
export const callRingingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'carrier', 'at'],
  properties: {
    ...callIdentity,
    /** When the gateway learnt it (ISO 8601). */
    at: { type: 'string', minLength: 10 },
  },
} as const;
export type CallRinging = FromSchema<typeof callRingingSchema>;

/**
 * `evt.call.answered`: the call was answered, once per call. Outbound: the callee picked up (status
 * callback `in-progress`, or the media stream started first). Inbound: the gateway answered it (its
 * media stream started).
 */
export const callAnsweredSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'carrier', 'direction', 'answeredAt'],
  properties: {
    ...callIdentity,
    direction: { type: 'string', enum: ['inbound', 'outbound'] },
    /** When the gateway learnt it (ISO 8601). */
    answeredAt: { type: 'string', minLength: 10 },
  },
} as const;
export type CallAnswered = FromSchema<typeof callAnsweredSchema>;

/** `evt.call.dtmf-received`: the caller pressed a key (also sent to the call's orchestrator on `media.<id>.evt`). */
export const callDtmfReceivedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'digit', 'at'],
  properties: {
    callId: callIdentity.callId,
    accountId: { type: 'string' },
    agentId: { type: 'string' },
    /** The key: 0-9, *, #, A-D. */
    digit: { type: 'string', pattern: '^[0-9A-D*#]$' },
    /** When the gateway received it (ISO 8601). */
    at: { type: 'string', minLength: 10 },
  },
} as const;
export type CallDtmfReceived = FromSchema<typeof callDtmfReceivedSchema>;

/** `cmd.media-gateway.send-dtmf.<callId>` request. */
export const sendDtmfRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['digits'],
  properties: {
    /** Keys to press, in order: 0-9, *, #, A-D. */
    digits: { type: 'string', pattern: '^[0-9A-D*#]{1,32}$' },
    /** Tone length of each digit in ms (default 160); digits are 80 ms apart. */
    durationMs: { type: 'integer', minimum: 40, maximum: 2000 },
  },
} as const;
export type SendDtmfRequest = FromSchema<typeof sendDtmfRequestSchema>;

/** `cmd.media-gateway.send-dtmf.<callId>` reply: sent once the last digit's end packets are out. */
export const sendDtmfReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ok'],
  properties: {
    ok: { type: 'boolean' },
    /** Digits sent. */
    sent: { type: 'integer', minimum: 0 },
  },
} as const;

/** Contracts owned by the media-gateway. Merged into `contracts` in ./subjects.ts. */
export const gatewayContracts = {
  /** → any gateway instance (queue group): place an outbound call. */
  dial: command('dial', 'none', fixed('cmd.media-gateway.dial'), dialRequestSchema, dialReplySchema, 'media-gateway'),
  /** Gateway → all: an outbound call is ringing. JetStream-backed in the CALL_EVENTS stream. */
  callRinging: event('callRinging', 'none', fixed('evt.call.ringing'), callRingingSchema),
  /** Gateway → all: the call was answered (once per call). JetStream-backed in the CALL_EVENTS stream. */
  callAnswered: event('callAnswered', 'none', fixed('evt.call.answered'), callAnsweredSchema),
  /** Gateway → all: the caller pressed a key. JetStream-backed in the CALL_EVENTS stream. */
  callDtmfReceived: event('callDtmfReceived', 'none', fixed('evt.call.dtmf-received'), callDtmfReceivedSchema),
  /** → the gateway instance holding the call: send DTMF digits to the far end (RFC 4733 events on SIP calls; IVR navigation). */
  sendDtmf: command('sendDtmf', 'callId', withToken('callId', (id) => `cmd.media-gateway.send-dtmf.${id}`), sendDtmfRequestSchema, sendDtmfReplySchema),
} as const;

