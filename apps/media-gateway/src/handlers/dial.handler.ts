import type { Logger } from 'pino';
import type { AgentDirectory } from '@switchboard/agents';
import { DIAL_VARIABLES, ErrorCodes, RESERVED_VARIABLE_PREFIX, SwitchboardError, type DialReply, type DialRequest } from '@switchboard/contracts';
import { destinationAllowed, type AccountStore } from '@switchboard/session-store';
import type { CallState, DialRecord } from '../calls/call-state.ts';
import { newCallId } from '../calls/call-id.ts';

/** What the carrier said when it accepted an outbound call. */
export interface PlacedCall {
  /** Twilio CallSid, SIP Call-ID. */
  carrierCallId: string;
  status: DialReply['status'];
}

/** A carrier that can place outbound calls (Twilio REST; SIP could register one). */
export interface OutboundCarrier {
  /** Places the call described by `record` (already stored); throws SwitchboardError on refusal. */
  dial(record: DialRecord, opts: { maxDurationSec?: number }): Promise<PlacedCall>;
}

export interface DialDeps {
  agents: AgentDirectory;
  accounts: AccountStore;
  state: CallState;
  /** Carriers that can dial out, by name; a dial through one that is absent is refused. */
  carriers: Partial<Record<'twilio' | 'sip', OutboundCarrier>>;
  /** Carrier used when the request names none (OUTBOUND_CARRIER). */
  defaultCarrier: 'twilio' | 'sip';
  log: Logger;
}

/** How long a repeated request waits for the first one with its `requestId` to get the carrier's answer. */
const IDEMPOTENT_WAIT_MS = 5000;

/**
 * `cmd.media-gateway.dial` (queue group): places an outbound call. Refuses an agent that does not
 * exist or belongs to another account (AGENT_NOT_FOUND), a destination outside the account's
 * `allowedDestinations` (AUTH_FORBIDDEN: the toll-fraud guard), and reserved `sb.*` variable names.
 * The call's identity and variables wait in a dial record in Redis until its media stream starts.
 * A repeated `requestId` returns the first dial's reply instead of calling twice.
 */
export function dialHandler(deps: DialDeps) {
  return async (req: DialRequest): Promise<DialReply> => {
    const carrierName = req.carrier ?? deps.defaultCarrier;
    const carrier = deps.carriers[carrierName];
    if (!carrier) throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, `outbound calls through ${carrierName} are not configured on this gateway`, { retryable: false });
    const agent = await deps.agents.get(req.agentId);
    if (!agent || (agent.accountId ?? 'default') !== req.accountId) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `no agent ${req.agentId} in account ${req.accountId}`);
    const reserved = Object.keys(req.variables ?? {}).filter((k) => k.startsWith(RESERVED_VARIABLE_PREFIX));
    if (reserved.length) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `variable names starting with "${RESERVED_VARIABLE_PREFIX}" are reserved: ${reserved.join(', ')}`);
    const settings = await deps.accounts.get(req.accountId);
    if (!destinationAllowed(req.to, settings.allowedDestinations ?? [])) {
      deps.log.warn({ account: req.accountId, to: req.to }, 'dial refused: destination not in allowedDestinations');
      throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, `account ${req.accountId} may not call ${req.to} (not in allowedDestinations)`);
    }
    const from = req.from ?? agent.phoneNumbers?.[0];
    if (!from) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `agent ${agent.id} has no phone number to call from; pass "from"`);

    const callId = newCallId();
    const variables: Record<string, string> = { ...(req.variables ?? {}) };
    if (req.goal !== undefined) variables[DIAL_VARIABLES.goal] = req.goal;
    if (req.firstMessage !== undefined) variables[DIAL_VARIABLES.firstMessage] = req.firstMessage;
    if (req.maxDurationSec !== undefined) variables[DIAL_VARIABLES.maxDurationSec] = String(req.maxDurationSec);
    if (req.requestId !== undefined) variables[DIAL_VARIABLES.requestId] = req.requestId;
    const record: DialRecord = {
      callId,
      accountId: req.accountId,
      agentId: agent.id,
      to: req.to,
      from,
      carrier: carrierName,
      variables,
      createdAt: new Date().toISOString(),
      ...(req.requestId ? { requestId: req.requestId } : {}),
    };
    // The record exists before the request id is claimed, so a repeat that finds the claim finds the record
    // (or, once the first dial failed and removed it, nothing).
    await deps.state.putDial(record);
    if (req.requestId) {
      const earlier = await deps.state.claimRequest(req.accountId, req.requestId, callId);
      if (earlier) {
        await deps.state.deleteDial(callId);
        return replayed(deps.state, earlier, carrierName);
      }
    }
    let placed: PlacedCall;
    try {
      placed = await carrier.dial(record, req.maxDurationSec === undefined ? {} : { maxDurationSec: req.maxDurationSec });
    } catch (err) {
      // Nothing was placed: forget the call, and let a retry with the same requestId dial again.
      await deps.state.deleteDial(callId).catch(() => undefined);
      if (req.requestId) await deps.state.releaseRequest(req.accountId, req.requestId).catch(() => undefined);
      throw err;
    }
    await Promise.all([deps.state.updateDial(callId, { carrierCallId: placed.carrierCallId }), deps.state.mapCarrierCall(placed.carrierCallId, callId)]);
    deps.log.info({ call_id: callId, agent: agent.id, to: req.to, carrierCallId: placed.carrierCallId }, 'outbound call placed');
    return { callId, status: placed.status, carrier: carrierName, carrierCallId: placed.carrierCallId };
  };
}

/** The reply of an earlier request with the same requestId, once it has one. */
async function replayed(state: CallState, callId: string, carrier: 'twilio' | 'sip'): Promise<DialReply> {
  const deadline = Date.now() + IDEMPOTENT_WAIT_MS;
  for (;;) {
    const dial = await state.getDial(callId);
    if (dial?.carrierCallId) return { callId, status: 'queued', carrier: dial.carrier, carrierCallId: dial.carrierCallId };
    if (!dial || Date.now() > deadline) {
      // The first request failed (its record is gone) or is still waiting on the carrier: the caller may retry.
      throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, `the earlier dial with this requestId (call ${callId}) ${dial ? 'has no carrier answer yet' : 'failed'}; retry`, { retryable: true, details: { callId, carrier } });
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
