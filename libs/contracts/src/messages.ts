import type { FromSchema } from 'json-schema-to-ts';
import { mcpServerObjectSchema } from './agent.ts';
import { toolCollisionSchema, toolSelectionReportSchema, toolSelectionRequestSchema } from './broker.ts';

const callId = { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } as const;
const isoTime = { type: 'string', minLength: 10 } as const;

/** `evt.call.started`: the gateway accepted a call and its media stream is up. */
export const callStartedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'accountId', 'agentId', 'direction', 'carrier', 'from', 'to', 'startedAt'],
  properties: {
    /** Switchboard's call id; also the media subject token. */
    callId,
    accountId: { type: 'string' },
    agentId: { type: 'string' },
    direction: { type: 'string', enum: ['inbound', 'outbound'] },
    carrier: { type: 'string', enum: ['twilio', 'sip'] },
    /** Caller number (E.164 where the carrier gives one). */
    from: { type: 'string' },
    /** Called number. */
    to: { type: 'string' },
    /** The carrier's own id (Twilio CallSid, SIP Call-ID). */
    carrierCallId: { type: 'string' },
    startedAt: isoTime,
    /** Which gateway instance holds the media connection (commands for the call go there). */
    gatewayInstance: { type: 'string' },
    /** Variables passed with an outbound call, rendered into the prompt. */
    variables: { type: 'object', additionalProperties: { type: 'string' } },
  },
} as const;
export type CallStarted = FromSchema<typeof callStartedSchema>;

/** `evt.call.ended`: the call is over, for whatever reason. */
export const callEndedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'reason', 'endedAt'],
  properties: {
    callId,
    accountId: { type: 'string' },
    agentId: { type: 'string' },
    /**
     * Why the call ended. `busy`, `no-answer`, `failed`, `canceled`: an outbound call that never
     * reached its media stream, as the carrier reported it.
     */
    reason: { type: 'string', enum: ['caller-hangup', 'agent-hangup', 'transferred', 'stream-closed', 'rejected', 'error', 'busy', 'no-answer', 'failed', 'canceled'] },
    endedAt: isoTime,
    durationMs: { type: 'number', minimum: 0 },
    /** Summary of the conversation, when the agent has `summary` on. */
    summary: { type: 'string' },
  },
} as const;
export type CallEnded = FromSchema<typeof callEndedSchema>;

/** `cmd.agent-orchestrator.start-session` reply: which instance claimed the call. */
export const sessionClaimedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'instanceId'],
  properties: { callId, instanceId: { type: 'string' } },
} as const;
export type SessionClaimed = FromSchema<typeof sessionClaimedSchema>;

/** `media.<callId>.evt`: what the gateway observed on the carrier side of a call. */
export const mediaEventSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    /**
     * mark-played: audio up to mark `name` has been heard by the caller (or was dropped by `clear`, then `cleared` is true).
     * playout-started: the first agent frame after an idle outbound queue left the gateway for the carrier at `at`
     * (the orchestrator's `agent_response_ms` ends there when the gateway reports it).
     */
    type: { type: 'string', enum: ['mark-played', 'dtmf', 'stream-stopped', 'playout-started'] },
    name: { type: 'string' },
    cleared: { type: 'boolean' },
    digit: { type: 'string', pattern: '^[0-9A-D*#]$' },
    /** Gateway clock when observed (ms since epoch). */
    at: { type: 'number' },
  },
} as const;
export type MediaEvent = FromSchema<typeof mediaEventSchema>;

/** `media.<callId>.ctl`: control for the gateway's outbound queue; its own subject so it never waits behind audio. */
export const mediaControlSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  properties: {
    /** clear: drop every queued agent frame now and tell the carrier to stop playback. */
    type: { type: 'string', enum: ['clear'] },
  },
} as const;
export type MediaControl = FromSchema<typeof mediaControlSchema>;

/** `cmd.media-gateway.hangup.<callId>` */
export const hangupRequestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 200 } },
} as const;
export type HangupRequest = FromSchema<typeof hangupRequestSchema>;

/** `cmd.media-gateway.transfer.<callId>` */
export const transferRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['destination'],
  properties: { destination: { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' } },
} as const;
export type TransferRequest = FromSchema<typeof transferRequestSchema>;

/** Reply to a call-control command. */
export const callControlReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['ok'],
  properties: {
    ok: { type: 'boolean' },
    /** True when the call had already ended: not an error for hang-up. */
    alreadyEnded: { type: 'boolean' },
  },
} as const;
export type CallControlReply = FromSchema<typeof callControlReplySchema>;

/** Call context that MCP headers may reference as `{{call.id}}`, `{{call.from}}`, `{{agent.id}}`, `{{account.id}}`. */
const callContextSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'agentId', 'accountId'],
  properties: {
    callId: { type: 'string' },
    agentId: { type: 'string' },
    accountId: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
  },
} as const;
export type CallContext = FromSchema<typeof callContextSchema>;

const serverConfigSchema = {
  ...mcpServerObjectSchema,
  required: ['name', 'transport'],
} as const;

/** `cmd.mcp-broker.list-tools`: the tool set of one call. */
export const listToolsRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['context', 'servers'],
  properties: {
    context: callContextSchema,
    servers: { type: 'array', items: serverConfigSchema, maxItems: 64 },
    /** Longest the reply may wait on a cold or slow server (ms); default 1500. */
    budgetMs: { type: 'integer', minimum: 0, maximum: 30000 },
    /** Agent-defined tool names (webhook and custom tools): an MCP tool with one of these names is refused and reported in `collisions`. */
    reservedNames: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 512 },
    /** Also offer the servers registered through the broker's API and attached to `context.agentId` (same account). */
    attached: { type: 'boolean' },
    /** Registered server ids (`srv_…`) to offer besides `servers`; the broker resolves their stored headers. */
    serverRefs: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 64 },
    /** Per-turn dynamic tool selection; absent: every tool is offered. */
    selection: toolSelectionRequestSchema,
  },
} as const;
export type ListToolsRequest = FromSchema<typeof listToolsRequestSchema>;

/** A tool as offered to the model. */
export const toolDescriptorSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'originalName', 'server', 'description', 'inputSchema'],
  properties: {
    /** Provider-safe name (`^[a-zA-Z0-9_-]{1,64}$`), prefixed when the server has a prefix. */
    name: { type: 'string' },
    /** The name the MCP server knows. */
    originalName: { type: 'string' },
    /** Server name from the agent config. */
    server: { type: 'string' },
    /** Set for tools of a registered server: pass it back as call-tool `serverRef`. */
    serverRef: { type: 'string' },
    description: { type: 'string' },
    inputSchema: { type: 'object', additionalProperties: true },
    annotations: {
      type: 'object',
      additionalProperties: true,
      properties: {
        readOnlyHint: { type: 'boolean' },
        destructiveHint: { type: 'boolean' },
        idempotentHint: { type: 'boolean' },
        openWorldHint: { type: 'boolean' },
      },
    },
  },
} as const;
export type ToolDescriptor = FromSchema<typeof toolDescriptorSchema>;

export const listToolsReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tools', 'pending', 'failed'],
  properties: {
    tools: { type: 'array', items: toolDescriptorSchema },
    /** Servers that had not answered within the budget; their tools join on a later turn. */
    pending: { type: 'array', items: { type: 'string' } },
    /** Servers skipped because they failed, with the reason. */
    failed: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['server', 'code', 'message'],
        properties: { server: { type: 'string' }, code: { type: 'string' }, message: { type: 'string' } },
      },
    },
    /** MCP tools refused because they collide with an agent-defined tool (`reservedNames`) or an earlier server's tool. */
    collisions: { type: 'array', items: toolCollisionSchema },
    /** Present when `selection` was requested. */
    selection: toolSelectionReportSchema,
  },
} as const;
export type ListToolsReply = FromSchema<typeof listToolsReplySchema>;

/** `cmd.mcp-broker.call-tool` */
export const callToolRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['context', 'tool', 'arguments'],
  properties: {
    context: callContextSchema,
    /** The server as configured in the agent; one of `server` and `serverRef` is required. */
    server: serverConfigSchema,
    /** A registered server's id (from a descriptor's `serverRef`); the broker resolves its stored headers. */
    serverRef: { type: 'string', maxLength: 64 },
    /** The MCP server's own tool name. */
    tool: { type: 'string', minLength: 1 },
    arguments: { type: 'object', additionalProperties: true },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
    /** Idempotency key of this invocation, so a retried request never runs a tool twice. */
    invocationId: { type: 'string', minLength: 1, maxLength: 128 },
  },
} as const;
export type CallToolRequest = FromSchema<typeof callToolRequestSchema>;

export const callToolReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['isError', 'text', 'latencyMs'],
  properties: {
    /** The tool reported failure; `text` is the `{"error":…,"fallback":true}` envelope for the model. */
    isError: { type: 'boolean' },
    /** Text content joined for the model (capped, with a truncation notice). */
    text: { type: 'string' },
    structuredContent: { type: 'object', additionalProperties: true },
    /** Error code when `isError`. */
    code: { type: 'string' },
    /** Time inside the broker, from request to MCP result. */
    latencyMs: { type: 'number' },
  },
} as const;
export type CallToolReply = FromSchema<typeof callToolReplySchema>;

/** `cmd.<service>.health`: each service's view of itself (tool server's system.health gathers these). */
export const healthReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['service', 'instanceId', 'status'],
  properties: {
    service: { type: 'string' },
    instanceId: { type: 'string' },
    status: { type: 'string', enum: ['ok', 'degraded'] },
    uptimeS: { type: 'number' },
    details: { type: 'object', additionalProperties: true },
  },
} as const;
export type HealthReply = FromSchema<typeof healthReplySchema>;

/** `evt.transcript.appended`: one line of a live call's transcript (caller, agent or tool), for monitors and demos. */
export const transcriptAppendedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['callId', 'role', 'text', 'at'],
  properties: {
    callId,
    role: { type: 'string', enum: ['caller', 'agent', 'tool'] },
    text: { type: 'string' },
    at: isoTime,
    /** Agent speech cut short by barge-in: `text` is what the caller heard. */
    interrupted: { type: 'boolean' },
    /** For tool lines: which server and tool, with what arguments, what came back and how long it took. */
    tool: {
      type: 'object',
      additionalProperties: false,
      required: ['server', 'name', 'arguments', 'result', 'isError', 'latencyMs'],
      properties: {
        server: { type: 'string' },
        name: { type: 'string' },
        arguments: {},
        result: { type: 'string' },
        isError: { type: 'boolean' },
        latencyMs: { type: 'number' },
      },
    },
    /** For agent lines: end of caller speech to the agent's first audio frame (ms). */
    responseMs: { type: 'number' },
  },
} as const;
export type TranscriptAppended = FromSchema<typeof transcriptAppendedSchema>;

export const emptySchema = { type: 'object', additionalProperties: false, properties: {} } as const;
export type Empty = FromSchema<typeof emptySchema>;
