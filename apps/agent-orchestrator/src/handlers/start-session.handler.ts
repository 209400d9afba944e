import { ErrorCodes, SwitchboardError, type CallStarted, type SessionClaimed } from '@switchboard/contracts';
import type { HandlerContext } from '@switchboard/bus';
import type { AgentRegistry } from '@switchboard/agents';
import type { CallStore } from '@switchboard/session-store';
import type { CallSession } from '../session/call-session.ts';

export interface StartSessionPorts {
  agents: AgentRegistry;
  store: CallStore;
  sessions: Map<string, CallSession>;
  instanceId: string;
  createSession: (started: CallStarted, ctx: HandlerContext) => CallSession;
}

/** Claims a call: records it in Redis, starts its agent session, answers at once (the session runs on). */
export async function startSessionHandler(started: CallStarted, ctx: HandlerContext, ports: StartSessionPorts): Promise<SessionClaimed> {
  const agent = ports.agents.get(started.agentId);
  if (!agent) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `no agent ${started.agentId}`);
  if (ports.sessions.has(started.callId)) return { callId: started.callId, instanceId: ports.instanceId };
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
  const session = ports.createSession(started, ctx);
  ports.sessions.set(started.callId, session);
  void session.start().catch((err: unknown) => ctx.log.error({ err }, 'session start failed'));
  return { callId: started.callId, instanceId: ports.instanceId };
}
