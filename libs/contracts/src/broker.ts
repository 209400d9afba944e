import type { FromSchema } from 'json-schema-to-ts';
import { event, withToken } from './contract.ts';

/** `evt.tool.progressed.<callId>`: an MCP progress notification of a running tool call. */
export const toolProgressedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['invocationId', 'progress'],
  properties: {
    /** The invocation id the orchestrator sent with call-tool. */
    invocationId: { type: 'string' },
    server: { type: 'string' },
    tool: { type: 'string' },
    progress: { type: 'number' },
    total: { type: 'number' },
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
    invocationId: { type: 'string' },
    reason: { type: 'string', maxLength: 200 },
  },
} as const;
export type ToolCancelRequested = FromSchema<typeof toolCancelRequestedSchema>;

/** Contracts owned by the mcp-broker. */
export const brokerContracts = {
  toolProgressed: event('toolProgressed', 'callId', withToken('callId', (id) => `evt.tool.progressed.${id}`), toolProgressedSchema),
  toolCancelRequested: event('toolCancelRequested', 'callId', withToken('callId', (id) => `evt.tool.cancel-requested.${id}`), toolCancelRequestedSchema),
} as const;
