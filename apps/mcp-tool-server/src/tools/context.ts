import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError, type AgentDefinition } from '@switchboard/contracts';
import type { AgentRegistry } from '@switchboard/agents';
import type { Bus } from '@switchboard/bus';
import type { AccountStore, ApiKeyRecord, CallRecord, CallStore } from '@switchboard/session-store';
import type { ApiRequester } from '../adapters/api-request.ts';
import type { ContactDirectory } from '../adapters/contacts.ts';
import type { DirectoryStore } from '../adapters/directory.ts';
import type { LeadStore } from '../adapters/leads.ts';
import type { WorkflowRegistry } from '../adapters/workflows.ts';

/** Who is asking and for which call, from the key and the seed's context headers. */
export interface ToolContext {
  key: ApiKeyRecord;
  accountId: string;
  personaId: string;
  /** The agent named by `persona_id` (an agent of the key's account). */
  persona: AgentDefinition;
  callId: string | undefined;
  callerIdNumber: string | undefined;
}

/** Everything a tool handler may use: stores and the bus, never a carrier. */
export interface ToolServices {
  bus: Bus;
  calls: CallStore;
  accounts: AccountStore;
  agents: AgentRegistry;
  contacts: ContactDirectory;
  directory: DirectoryStore;
  leads: LeadStore;
  workflows: WorkflowRegistry;
  api: ApiRequester;
  log: Logger;
  /** The clock of `is_office_open` (tests set it). */
  now: () => Date;
  /** Region for numbers written without a country code. */
  phoneRegion: string;
}

/** A call of the key's account, or CALL_NOT_FOUND (another account's call looks exactly like no call). */
export async function callOfAccount(ctx: ToolContext, calls: CallStore, callId: string): Promise<CallRecord> {
  const call = await calls.get(callId);
  if (!call || call.accountId !== ctx.accountId) throw new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, `No call ${callId} in this account`);
  return call;
}

/** For tools that act on a call: `call_id` must be given and the call must belong to the key's account. */
export async function requireCall(ctx: ToolContext, calls: CallStore): Promise<CallRecord> {
  if (!ctx.callId) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'This tool acts on a call: the call_id header is required');
  return callOfAccount(ctx, calls, ctx.callId);
}

/** An agent of the key's account, or AGENT_NOT_FOUND. */
export function agentOfAccount(ctx: ToolContext, agents: AgentRegistry, agentId: string): AgentDefinition {
  const agent = agents.get(agentId);
  if (!agent || (agent.accountId ?? 'default') !== ctx.accountId) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `No agent ${agentId} in this account`);
  return agent;
}
