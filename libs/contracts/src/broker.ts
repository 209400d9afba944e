import type { FromSchema } from 'json-schema-to-ts';
import { command, event, fixed, withToken } from './contract.ts';

/** `evt.tool.progressed.<callId>`: an MCP progress notification of a running tool call. */
export const toolProgressedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['invocationId', 'progress'],
  properties: {
    /** The invocation id the orchestrator sent with call-tool. */
    invocationId: { type: 'string' },
    /** Server name from the agent config (or the registered server's name). */
    server: { type: 'string' },
    /** The MCP server's own tool name. */
    tool: { type: 'string' },
    /** Progress so far, as the server reports it (increases with each notification). */
    progress: { type: 'number' },
    /** Total, when the server knows it. */
    total: { type: 'number' },
    /** The server's human-readable progress message, if any. */
    message: { type: 'string' },
  },
} as const;
export type ToolProgressed = FromSchema<typeof toolProgressedSchema>;

/** `evt.tool.cancel-requested.<callId>`: cancel a running invocation (barge-in on a cancellable tool). Every broker hears it; the one running it cancels. */
export const toolCancelRequestedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['invocationId'],
  properties: {
    /** The invocation id sent with call-tool. */
    invocationId: { type: 'string' },
    /** Why: `barge-in` is honoured only for tools whose server config marks them `cancelOnBargeIn`; any other reason always cancels. */
    reason: { type: 'string', maxLength: 200 },
  },
} as const;
export type ToolCancelRequested = FromSchema<typeof toolCancelRequestedSchema>;

/** `evt.mcp.tools-changed`: one broker instance refreshed a server's tool list; the others drop their in-memory copy and read Redis. */
export const toolsChangedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cacheKey', 'fetchedAt', 'instanceId'],
  properties: {
    /** Hash of the server identity (endpoint plus a hash of its credentials); never the credentials. */
    cacheKey: { type: 'string', maxLength: 128 },
    /** When the new list was fetched (ms since epoch). */
    fetchedAt: { type: 'number' },
    /** How many tools the server now offers (after the cap). */
    count: { type: 'integer', minimum: 0 },
    /** The instance that refreshed it (it ignores its own event). */
    instanceId: { type: 'string' },
  },
} as const;
export type ToolsChanged = FromSchema<typeof toolsChangedSchema>;

/**
 * Per-turn dynamic tool selection (agtOS): when the call's tools exceed `maxTools`, only the top-K by
 * relevance to the conversation are offered, plus pinned tools and the `discover_tools` meta-tool.
 * The fields mirror the agent's `toolSelection` block plus the conversation text.
 */
export const toolSelectionRequestSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Offer at most this many tools (pinned ones included, `discover_tools` not); below it every tool is offered. Default 8. */
    maxTools: { type: 'integer', minimum: 1, maximum: 128 },
    /** Tools always offered: provider-safe or original names, `*` wildcards allowed. Call control (`hangup_call`, `transfer_call`) is always pinned. */
    pinned: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 64 },
    /** Category name → tool name patterns (`*` wildcards). Tools of a category named in the recent turns are boosted. */
    categories: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string', maxLength: 128 }, maxItems: 256 } },
    /** Ranking: `bm25` (default, in-process) or `embeddings` (needs EMBEDDINGS_URL on the broker; falls back to bm25). */
    strategy: { type: 'string', enum: ['bm25', 'embeddings'] },
    /** The conversation so far, oldest first (caller and agent lines); later turns weigh more. */
    turns: { type: 'array', items: { type: 'string', maxLength: 4000 }, maxItems: 100 },
    /** Free-text query (the `discover_tools(query)` argument); ranked on its own when set. */
    query: { type: 'string', maxLength: 4000 },
    /** Restrict to one category (the `discover_tools(query, category)` argument). */
    category: { type: 'string', maxLength: 128 },
    /** Leave out the `discover_tools` meta-tool (a discover request itself). */
    omitDiscoverTool: { type: 'boolean' },
  },
} as const;
export type ToolSelectionRequest = FromSchema<typeof toolSelectionRequestSchema>;

/** What the selection did, for logs and the tokens-saved figure. */
export const toolSelectionReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['applied', 'total', 'offered', 'strategy', 'tokensAll', 'tokensOffered'],
  properties: {
    /** False when the call has no more tools than `maxTools` (all are offered). */
    applied: { type: 'boolean' },
    /** Tools the call has (before selection). */
    total: { type: 'integer', minimum: 0 },
    /** Tools in this reply (after selection, `discover_tools` included). */
    offered: { type: 'integer', minimum: 0 },
    /** Which ranking ran (`embeddings` falls back to `bm25` when the endpoint fails). */
    strategy: { type: 'string', enum: ['none', 'bm25', 'embeddings'] },
    /** Estimated prompt tokens of every tool definition (JSON length ÷ 4). */
    tokensAll: { type: 'integer', minimum: 0 },
    /** Estimated prompt tokens of the offered definitions (JSON length ÷ 4). */
    tokensOffered: { type: 'integer', minimum: 0 },
  },
} as const;
export type ToolSelectionReport = FromSchema<typeof toolSelectionReportSchema>;

/** An MCP tool refused because its name collides with an agent-defined tool (Patter's rule: never silently shadowed). */
export const toolCollisionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tool', 'server', 'collidesWith', 'message'],
  properties: {
    /** The provider-safe name both would have. */
    tool: { type: 'string' },
    /** The MCP server whose tool was refused. */
    server: { type: 'string' },
    /** The other source: `agent` (a name in `reservedNames`) or another server's name. */
    collidesWith: { type: 'string' },
    /** One sentence naming both sources. */
    message: { type: 'string' },
  },
} as const;
export type ToolCollision = FromSchema<typeof toolCollisionSchema>;

/** A server registered through `POST /v1/mcp-servers`, as anyone may see it: header names only, never values. */
export const registeredServerSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'accountId', 'name', 'transport', 'url', 'headers', 'createdAt'],
  properties: {
    /** `srv_…`; pass it as `serverRefs` in list-tools or `serverRef` in call-tool. */
    id: { type: 'string' },
    accountId: { type: 'string' },
    /** Unique within the account; the tool descriptors' `server`. */
    name: { type: 'string' },
    transport: { type: 'string', enum: ['streamable-http', 'sse', 'http-functions'] },
    url: { type: 'string' },
    /** Header names with their values withheld (stored encrypted). */
    headers: {
      type: 'array',
      items: { type: 'object', additionalProperties: false, required: ['key'], properties: { key: { type: 'string' }, redacted: { type: 'boolean' } } },
    },
    prefix: { type: 'string' },
    allowedTools: { type: 'array', items: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 1 },
    /** Per-tool overrides, as in an agent file. */
    tools: { type: 'object', additionalProperties: { type: 'object', additionalProperties: true } },
    createdAt: { type: 'string' },
  },
} as const;
export type RegisteredServer = FromSchema<typeof registeredServerSchema>;

/** `cmd.mcp-broker.servers-for-agent`: the registered servers attached to an agent. */
export const serversForAgentRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId', 'agentId'],
  properties: {
    accountId: { type: 'string', minLength: 1 },
    agentId: { type: 'string', minLength: 1 },
  },
} as const;
export type ServersForAgentRequest = FromSchema<typeof serversForAgentRequestSchema>;

export const serversForAgentReplySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['servers'],
  properties: {
    /** Attached servers, header values withheld; list-tools with `attached: true` (or their ids as `serverRefs`) offers their tools. */
    servers: { type: 'array', items: registeredServerSchema },
  },
} as const;
export type ServersForAgentReply = FromSchema<typeof serversForAgentReplySchema>;

/** Contracts owned by the mcp-broker. */
export const brokerContracts = {
  /** Broker → the call's orchestrator: an MCP progress notification of a running tool. */
  toolProgressed: event('toolProgressed', 'callId', withToken('callId', (id) => `evt.tool.progressed.${id}`), toolProgressedSchema),
  /** Orchestrator → every broker: cancel a running invocation (MCP `notifications/cancelled`). */
  toolCancelRequested: event('toolCancelRequested', 'callId', withToken('callId', (id) => `evt.tool.cancel-requested.${id}`), toolCancelRequestedSchema),
  /** Broker → every broker: a server's cached tool list changed (list_changed or a refresh). */
  toolsChanged: event('toolsChanged', 'none', fixed('evt.mcp.tools-changed'), toolsChangedSchema),
  /** Anyone → one broker (queue group): the registered servers attached to an agent, secrets withheld. */
  serversForAgent: command('serversForAgent', 'none', fixed('cmd.mcp-broker.servers-for-agent'), serversForAgentRequestSchema, serversForAgentReplySchema, 'mcp-broker'),
} as const;
