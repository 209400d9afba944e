import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { contracts, ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { CallStore } from '@switchboard/session-store';
import { requireCall, type ToolContext } from './context.ts';

export interface CallControlDeps {
  bus: Bus;
  calls: CallStore;
}

const text = (t: string, isError = false): CallToolResult => ({ content: [{ type: 'text', text: t }], ...(isError ? { isError: true } : {}) });

/** Failures are tool results (`isError`), never protocol errors: the model reads them and recovers. */
async function asResult(run: () => Promise<CallToolResult>): Promise<CallToolResult> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof SwitchboardError) return text(err.message, true);
    return text('Internal error', true);
  }
}

/** Global call-control tools of seed 001: `hangup_call` and `transfer_call`. */
export function registerCallControlTools(server: McpServer, ctx: ToolContext, deps: CallControlDeps): void {
  server.registerTool(
    'hangup_call',
    {
      title: 'Hang up',
      description: 'Ends the active call. Say goodbye before calling this.',
      inputSchema: {},
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    () =>
      asResult(async () => {
        const callId = await requireCall(ctx, deps.calls);
        try {
          const r = await deps.bus.request(contracts.hangup, { reason: 'hangup_call tool' }, { param: callId, timeoutMs: 8000 });
          return text(r.alreadyEnded ? 'The call had already ended' : 'Call ended');
        } catch (err) {
          if (err instanceof SwitchboardError && err.code === ErrorCodes.BUS_NO_RESPONDERS) return text('The call had already ended');
          throw err;
        }
      }),
  );

  server.registerTool(
    'transfer_call',
    {
      title: 'Transfer call',
      description: 'Transfers the active call to a specified destination number (E.164, e.g. +15551234567).',
      inputSchema: { destination_number: z.string().regex(/^\+[1-9][0-9]{6,14}$/, 'must be an E.164 number such as +15551234567').describe('The phone number to transfer the call to') },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    ({ destination_number }) =>
      asResult(async () => {
        const callId = await requireCall(ctx, deps.calls);
        try {
          await deps.bus.request(contracts.transfer, { destination: destination_number }, { param: callId, timeoutMs: 10000 });
          return text(`Transferring the call to ${destination_number}`);
        } catch (err) {
          if (err instanceof SwitchboardError && err.code === ErrorCodes.BUS_NO_RESPONDERS) return text('The call cannot be transferred: it is no longer connected', true);
          throw err;
        }
      }),
  );
}
