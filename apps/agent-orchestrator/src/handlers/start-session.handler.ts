import { ErrorCodes, SwitchboardError, type AgentDefinition, type CallStarted, type SessionClaimed } from '@switchboard/contracts';
import type { HandlerContext } from '@switchboard/bus';
import type { CallStore } from '@switchboard/session-store';
import type { AgentStore } from '@switchboard/agents';

/** A running call: a pipeline session or a speech-to-speech one. */
export interface LiveSession {
  readonly callId: string;
  start(): Promise<void>;
  stop(reason: string): Promise<void>;
}

export interface StartSessionPorts {
  agents: AgentStore;
  store: CallStore;
  sessions: Map<string, LiveSession>;
  instanceId: string;
  /** Builds the session from the agent snapshot the call will run on (later edits do not affect it). */
  createSession: (started: CallStarted, agent: AgentDefinition, ctx: HandlerContext) => Promise<LiveSession>;
}

/** Claims a call: records it in Redis, starts its agent session, answers at once (the session runs on). */
export async function startSessionHandler(started: CallStarted, ctx: HandlerContext, ports: StartSessionPorts): Promise<SessionClaimed> {
  if (ports.sessions.has(started.callId)) return { callId: started.callId, instanceId: ports.instanceId };
  const stored = await ports.agents.get(started.agentId);
  if (!stored) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `no agent ${started.agentId}`);
  // A gateway routing table that disagrees with the store is a configuration problem, not a reason to drop the caller.
  if ((stored.agent.accountId ?? 'default') !== started.accountId) ctx.log.warn({ agentAccount: stored.agent.accountId, callAccount: started.accountId }, 'the call and its agent name different accounts');
  await ports.store.create({
    callId: started.callId,
    accountId: started.accountId,
    agentId: started.agentId,
    direction: started.direction,
    carrier: started.carrier,
    from: started.from,
    to: started.to,
    state: 'active',
    startedAt: started.startedAt,
    orchestrator: ports.instanceId,
  });
  const session = await ports.createSession(started, stored.agent, ctx);
  ports.sessions.set(started.callId, session);
  void session.start().catch((err: unknown) => ctx.log.error({ err }, 'session start failed'));
  return { callId: started.callId, instanceId: ports.instanceId };
}
