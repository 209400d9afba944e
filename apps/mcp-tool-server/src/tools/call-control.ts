import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { contracts, ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { destinationAllowed } from '@switchboard/session-store';
import { requireCall, type ToolContext, type ToolServices } from './context.ts';
import { asResult, text } from './result.ts';

export const E164_MESSAGE = 'must be an E.164 number such as +15551234567';
export const e164Arg = z.string().regex(/^\+[1-9][0-9]{6,14}$/, E164_MESSAGE);

/**
 * Asks the gateway instance holding the call to transfer it. No responder means no gateway holds the
 * call any more: it has ended.
 */
export async function transferCall(svc: ToolServices, callId: string, destination: string): Promise<void> {
  try {
    await svc.bus.request(contracts.transfer, { destination }, { param: callId, timeoutMs: 10000 });
  } catch (err) {
    if (err instanceof SwitchboardError && err.code === ErrorCodes.BUS_NO_RESPONDERS) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'The call cannot be transferred: it is no longer connected');
    if (err instanceof SwitchboardError && err.code === ErrorCodes.BUS_TIMEOUT) throw new SwitchboardError(err.code, 'The media gateway did not answer the transfer in time');
    throw err;
  }
}

/** Toll-fraud guard: the number must match the account's allowed destinations. */
export async function assertDestinationAllowed(ctx: ToolContext, svc: ToolServices, number: string, what: string): Promise<void> {
  const account = await svc.accounts.get(ctx.accountId);
  if (!destinationAllowed(number, account.allowedDestinations ?? [])) {
    throw new SwitchboardError(ErrorCodes.DESTINATION_NOT_ALLOWED, `${number} is not an allowed ${what} destination for this account`);
  }
}

const transferCallInput = { destination_number: e164Arg.describe('The phone number to transfer the call to') };

/** Global call-control tools of seed 001: `hangup_call` and `transfer_call`. */
export function registerCallControlTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  server.registerTool(
    'hangup_call',
    {
      title: 'Hang up',
      description: 'Ends the active call. Say goodbye before calling this.',
      inputSchema: {},
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    () =>
      asResult(svc.log, 'hangup_call', async () => {
        const { callId } = await requireCall(ctx, svc.calls);
        try {
          const r = await svc.bus.request(contracts.hangup, { reason: 'hangup_call tool' }, { param: callId, timeoutMs: 8000 });
          return text(r.alreadyEnded ? 'The call had already ended' : 'Call ended');
        } catch (err) {
          if (err instanceof SwitchboardError && err.code === ErrorCodes.BUS_NO_RESPONDERS) return text('The call had already ended');
          if (err instanceof SwitchboardError && err.code === ErrorCodes.BUS_TIMEOUT) throw new SwitchboardError(err.code, 'The media gateway did not answer the hang-up in time');
          throw err;
        }
      }),
  );

  server.registerTool(
    'transfer_call',
    {
      title: 'Transfer call',
      description: "Transfers the active call to a specified destination number (E.164, e.g. +15551234567). The number must be one of the account's allowed destinations.",
      inputSchema: transferCallInput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true },
    },
    ({ destination_number }) =>
      asResult(svc.log, 'transfer_call', async () => {
        const { callId } = await requireCall(ctx, svc.calls);
        await assertDestinationAllowed(ctx, svc, destination_number, 'transfer');
        await transferCall(svc, callId, destination_number);
        return text(`Transferring the call to ${destination_number}`);
      }),
  );
}
