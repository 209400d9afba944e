import type { FromSchema } from 'json-schema-to-ts';
import { command, withToken } from './contract.ts';

/** `cmd.agent-orchestrator.speak.<callId>`: say something on a live call (voice.speak). */
export const speakRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['text'],
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 4000 },
    /** Stop what the agent is saying first (default: queue after it). */
    interrupt: { type: 'boolean' },
  },
} as const;
export type SpeakRequest = FromSchema<typeof speakRequestSchema>;

export const speakReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ok'],
  properties: {
    ok: { type: 'boolean' },
    /** Length of the synthesized audio. */
    durationMs: { type: 'number' },
  },
} as const;
export type SpeakReply = FromSchema<typeof speakReplySchema>;

/** `cmd.agent-orchestrator.listen.<callId>`: wait for and return the caller's next utterance (voice.listen). */
export const listenRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['timeoutMs'],
  properties: { timeoutMs: { type: 'integer', minimum: 100, maximum: 120000 } },
} as const;
export type ListenRequest = FromSchema<typeof listenRequestSchema>;

export const listenReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['timedOut'],
  properties: {
    /** The transcript; absent when nothing was said before the timeout. */
    text: { type: 'string' },
    timedOut: { type: 'boolean' },
  },
} as const;
export type ListenReply = FromSchema<typeof listenReplySchema>;

/** Contracts owned by the agent-orchestrator. Per-call subjects reach the instance holding the call. */
export const orchestratorContracts = {
  speak: command('speak', 'callId', withToken('callId', (id) => `cmd.agent-orchestrator.speak.${id}`), speakRequestSchema, speakReplySchema),
  listen: command('listen', 'callId', withToken('callId', (id) => `cmd.agent-orchestrator.listen.${id}`), listenRequestSchema, listenReplySchema),
} as const;
