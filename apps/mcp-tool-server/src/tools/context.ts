import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { ApiKeyRecord, CallStore } from '@switchboard/session-store';

/** Who is asking and for which call, from the key and the seed's context headers. */
export interface ToolContext {
  key: ApiKeyRecord;
  accountId: string;
  personaId: string;
  callId: string | undefined;
  callerIdNumber: string | undefined;
}

/** For tools that act on a call: `call_id` must be given and the call must belong to the key's account. */
export async function requireCall(ctx: ToolContext, calls: CallStore): Promise<string> {
  if (!ctx.callId) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'This tool acts on a call: the call_id header is required');
  const call = await calls.get(ctx.callId);
  if (!call || call.accountId !== ctx.accountId) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, `No call ${ctx.callId} in this account`);
  return ctx.callId;
}
