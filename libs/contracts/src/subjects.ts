import { command, event, fixed, withToken, subjectToken } from './contract.ts';
import { brokerContracts } from './broker.ts';
import { gatewayContracts } from './gateway.ts';
import { orchestratorContracts } from './orchestrator.ts';
import { schedulerContracts } from './scheduler.ts';
import { toolServerContracts } from './tool-server.ts';
import {
  callControlReplySchema,
  callEndedSchema,
  callStartedSchema,
  callToolReplySchema,
  callToolRequestSchema,
  emptySchema,
  hangupRequestSchema,
  healthReplySchema,
  listToolsReplySchema,
  listToolsRequestSchema,
  mediaControlSchema,
  mediaEventSchema,
  sessionClaimedSchema,
  transferRequestSchema,
  transcriptAppendedSchema,
} from './messages.ts';

/**
 * Every NATS subject lives here and nowhere else. A subject is reachable through the bus only as a
 * contract that pairs it with its schema, so a subject without a schema cannot be published.
 *
 * Naming: `evt.<domain>.<past-tense>` fan-out events, `cmd.<service>.<verb>` request/reply,
 * `media.<callId>.in|out` raw audio, `media.<callId>.ctl|evt` per-call control and observations.
 */

const coreContracts = {
  /** Gateway → all: a call's media stream is up. JetStream-backed in the CALL_EVENTS stream. */
  callStarted: event('callStarted', 'none', fixed('evt.call.started'), callStartedSchema),
  /** Gateway → all: the call ended. */
  callEnded: event('callEnded', 'none', fixed('evt.call.ended'), callEndedSchema),
  /** Gateway → one orchestrator (queue group): claim this call and run its agent. */
  startSession: command('startSession', 'none', fixed('cmd.agent-orchestrator.start-session'), callStartedSchema, sessionClaimedSchema, 'agent-orchestrator'),
  /** Orchestrator → broker: resolve a call's tool set within a discovery budget. */
  listTools: command('listTools', 'none', fixed('cmd.mcp-broker.list-tools'), listToolsRequestSchema, listToolsReplySchema, 'mcp-broker'),
  /** Orchestrator/scheduler → broker: invoke one MCP tool. */
  callTool: command('callTool', 'none', fixed('cmd.mcp-broker.call-tool'), callToolRequestSchema, callToolReplySchema, 'mcp-broker'),
  /** → the gateway instance holding the call: end it. */
  hangup: command('hangup', 'callId', withToken('callId', (id) => `cmd.media-gateway.hangup.${id}`), hangupRequestSchema, callControlReplySchema),
  /** → the gateway instance holding the call: transfer it. */
  transfer: command('transfer', 'callId', withToken('callId', (id) => `cmd.media-gateway.transfer.${id}`), transferRequestSchema, callControlReplySchema),
  /** Gateway → the call's orchestrator: marks played, DTMF, stream stopped. */
  mediaEvents: event('mediaEvents', 'callId', withToken('callId', (id) => `media.${id}.evt`), mediaEventSchema),
  /** Orchestrator → the call's gateway: clear the outbound queue (barge-in). */
  mediaControl: event('mediaControl', 'callId', withToken('callId', (id) => `media.${id}.ctl`), mediaControlSchema),
  /** Orchestrator → monitors: a transcript line of a live call. */
  transcriptAppended: event('transcriptAppended', 'none', fixed('evt.transcript.appended'), transcriptAppendedSchema),
  /** Anyone → every instance of a service: report health (replies from each instance that answers first). */
  health: command('health', 'service', withToken('service', (s) => `cmd.${s}.health`), emptySchema, healthReplySchema),
} as const;

/** Every contract of the platform: the core ones above plus each service's own file. */
export const contracts = {
  ...coreContracts,
  ...gatewayContracts,
  ...orchestratorContracts,
  ...brokerContracts,
  ...toolServerContracts,
  ...schedulerContracts,
} as const;

/**
 * Raw audio subjects: payload is PCM16LE mono at 16 kHz in 20 ms frames (640 bytes), metadata in
 * headers. Not validated: the audio hot path carries bytes only.
 */
export const audioSubjects = {
  /** Gateway → orchestrator: the caller's audio. */
  mediaIn: (callId: string) => `media.${subjectToken(callId, 'callId')}.in`,
  /** Orchestrator → gateway: the agent's audio. A frame with the `Sb-Mark` header is followed by that mark. */
  mediaOut: (callId: string) => `media.${subjectToken(callId, 'callId')}.out`,
} as const;

/** NATS header names used across services. */
export const Headers = {
  /** The call a message belongs to; logs and metrics key on it. */
  callId: 'Sb-Call-Id',
  /** W3C trace context. */
  traceparent: 'traceparent',
  tracestate: 'tracestate',
  /** `error` when the reply payload is an ErrorEnvelope. */
  status: 'Sb-Status',
  /** On an outbound audio frame: queue a mark with this name right after the frame. */
  mark: 'Sb-Mark',
  /** Audio frame sequence number. */
  seq: 'Sb-Seq',
} as const;

/** JetStream stream that keeps call lifecycle events while a consumer restarts. */
export const CALL_EVENTS_STREAM = { name: 'CALL_EVENTS', subjects: ['evt.call.>'] } as const;

/** Internal audio format. */
export const INTERNAL_AUDIO = { sampleRate: 16000, frameMs: 20, bytesPerFrame: 640 } as const;
