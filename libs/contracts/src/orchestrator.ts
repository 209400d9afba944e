import type { FromSchema } from 'json-schema-to-ts';
import { command, event, fixed, withToken } from './contract.ts';

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

/** `evt.call.summarized`: the end-of-call summary of an agent with `summary.enabled`, published after `evt.call.ended`. */
export const callSummarizedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'accountId', 'agentId', 'summary', 'at'],
  properties: {
    /** Switchboard's call id. */
    callId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
    /** The account that owns the call. */
    accountId: { type: 'string' },
    /** The agent that ran the call. */
    agentId: { type: 'string' },
    /** The model's summary of the conversation, in the agent's summary prompt's format. */
    summary: { type: 'string', minLength: 1 },
    /** When the summary was made (ISO 8601). */
    at: { type: 'string', minLength: 10 },
  },
} as const;
export type CallSummarized = FromSchema<typeof callSummarizedSchema>;

/**
 * One caller turn's latency figures (ms). Absent fields did not apply to the turn (no tool ran, STT
 * failed before an answer). `agent_response_ms` runs from the end of the caller's speech (as the VAD
 * judged it) to the first agent audio frame leaving the gateway (`playout-started`), or leaving the
 * orchestrator when the gateway does not report it (`responseSource`).
 */
export const turnMetricsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['turn', 'at', 'interrupted'],
  properties: {
    /** 1-based index of the caller turn in the call. */
    turn: { type: 'integer', minimum: 1 },
    /** When the caller's speech ended (ISO 8601). */
    at: { type: 'string', minLength: 10 },
    /** End of speech to the endpointer's decision that the caller finished (the end-of-turn silence). */
    endpoint_ms: { type: 'number', minimum: 0 },
    /** Speech-to-text request duration. */
    stt_ms: { type: 'number', minimum: 0 },
    /** Model request to its first text delta (or its tool calls) of the turn's first model round. */
    llm_ttft_ms: { type: 'number', minimum: 0 },
    /** First TTS request of the turn to its first audio chunk. */
    tts_ttfb_ms: { type: 'number', minimum: 0 },
    /** Wall time the turn spent waiting on tools. */
    tool_ms: { type: 'number', minimum: 0 },
    /** End of the caller's speech to the first agent audio frame of the turn. */
    agent_response_ms: { type: 'number', minimum: 0 },
    /** Where `agent_response_ms` ends: `gateway` (playout-started) or `orchestrator` (frame published). */
    responseSource: { type: 'string', enum: ['gateway', 'orchestrator'] },
    /** The caller barged in on the turn's answer; such turns are left out of percentiles. */
    interrupted: { type: 'boolean' },
    /** Model rounds the turn took (1 without tools). */
    modelRounds: { type: 'integer', minimum: 0 },
  },
} as const;
export type TurnMetrics = FromSchema<typeof turnMetricsSchema>;

/** `POST /v1/agents/:id/chat` body: one message of the text test channel. */
export const chatRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sessionId', 'text'],
  properties: {
    /** Chosen by the client; the conversation (history, tools) is kept per session id for the chat TTL. */
    sessionId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,56}$' },
    /** What the user says. */
    text: { type: 'string', minLength: 1, maxLength: 8000 },
    /** Prompt variables for a new session, as an outbound call's `variables` (ignored once the session exists). */
    variables: { type: 'object', additionalProperties: { type: 'string', maxLength: 2000 }, maxProperties: 50 },
  },
} as const;
export type ChatRequest = FromSchema<typeof chatRequestSchema>;

/** One tool call the agent made while answering a chat message. */
export const chatToolCallSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['server', 'name', 'arguments', 'result', 'isError', 'latencyMs'],
  properties: {
    /** MCP server name, `webhook` or `builtin`. */
    server: { type: 'string' },
    /** The tool's own name. */
    name: { type: 'string' },
    arguments: {},
    /** What went back to the model (the `{"error": …, "fallback": true}` envelope on failure). */
    result: { type: 'string' },
    isError: { type: 'boolean' },
    latencyMs: { type: 'number' },
  },
} as const;
export type ChatToolCall = FromSchema<typeof chatToolCallSchema>;

/** `POST /v1/agents/:id/chat` reply. */
export const chatReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['sessionId', 'reply', 'toolCalls'],
  properties: {
    sessionId: { type: 'string' },
    /** The agent's answer (empty when it only ran tools, e.g. a hang-up). */
    reply: { type: 'string' },
    /** Tools run for this message, in order. */
    toolCalls: { type: 'array', items: chatToolCallSchema },
    /** The agent's first message, on a session's first exchange. */
    greeting: { type: 'string' },
    /** The agent ended the conversation (a call-ending tool ran); the session is closed. */
    ended: { type: 'boolean' },
  },
} as const;
export type ChatReply = FromSchema<typeof chatReplySchema>;

/** Contracts owned by the agent-orchestrator. Per-call subjects reach the instance holding the call. */
export const orchestratorContracts = {
  speak: command('speak', 'callId', withToken('callId', (id) => `cmd.agent-orchestrator.speak.${id}`), speakRequestSchema, speakReplySchema),
  listen: command('listen', 'callId', withToken('callId', (id) => `cmd.agent-orchestrator.listen.${id}`), listenRequestSchema, listenReplySchema),
  /** Orchestrator → all: the end-of-call summary (agents with `summary.enabled`). JetStream-backed in the CALL_EVENTS stream. */
  callSummarized: event('callSummarized', 'none', fixed('evt.call.summarized'), callSummarizedSchema),
} as const;
