import type { Logger } from 'pino';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';

export const text = (t: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) });

/** A data result: a sentence for the model plus `structuredContent` matching the tool's outputSchema. */
export const data = (t: string, structured: Record<string, unknown>): CallToolResult => ({ content: [{ type: 'text', text: t }], structuredContent: structured });

/**
 * Failures are tool results (`isError`), never protocol errors: the model reads them and recovers.
 * A SwitchboardError's message is written for the model; anything else is logged and becomes
 * "Internal error" (its text never leaves the process).
 */
export async function asResult(log: Logger, tool: string, run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof SwitchboardError) return text(err.message, true);
    log.error({ err, tool }, 'tool failed');
    return text('Internal error', true);
  }
}

/** Services a tool may ask over the bus, as named in "The scheduler is not reachable". */
const SERVICE_NAMES = {
  'media-gateway': 'media gateway',
  'agent-orchestrator': 'agent orchestrator',
  'mcp-broker': 'MCP broker',
  scheduler: 'scheduler',
} as const;

export type ServiceName = keyof typeof SERVICE_NAMES;

/**
 * Runs a bus request; a service that does not answer (no responders, timeout) becomes an error
 * naming it, e.g. "The scheduler is not reachable". The service's own errors pass through.
 */
export async function ask<T>(service: ServiceName, request: () => Promise<T>, what = ''): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (err instanceof SwitchboardError && (err.code === ErrorCodes.BUS_NO_RESPONDERS || err.code === ErrorCodes.BUS_TIMEOUT)) {
      const how = err.code === ErrorCodes.BUS_TIMEOUT ? 'did not answer in time' : 'is not reachable';
      throw new SwitchboardError(err.code, `The ${SERVICE_NAMES[service]} ${how}${what ? ` ${what}` : ''}`);
    }
    throw err;
  }
}
