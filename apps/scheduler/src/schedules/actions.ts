import {
  ErrorCodes,
  SwitchboardError,
  normalizeMcpServers,
  type CallToolReply,
  type CallToolRequest,
  type DialReply,
  type DialRequest,
  type ErrorCode,
  type ScheduleCreate,
} from '@switchboard/contracts';
import type { AgentRegistry } from '@switchboard/agents';

export type Action = ScheduleCreate['action'];
export type CallAction = Extract<Action, { type: 'outbound_call' | 'callback' }>;

/** How an action reaches the rest of the platform (the bus in production, fakes nowhere: tests use real NATS). */
export interface ActionPorts {
  dial(req: DialRequest): Promise<DialReply>;
  callTool(req: CallToolRequest): Promise<CallToolReply>;
  publish(subject: string, payload: unknown): void;
}

/** What a fired action produced, for the fired event. */
export interface ActionOutcome {
  callId?: string;
  toolResult?: { isError: boolean; text: string };
}

export function isCallAction(action: Action): action is CallAction {
  return action.type === 'outbound_call' || action.type === 'callback';
}

/** A callback is an outbound call whose prompt variables carry its reason and customer. */
export function dialRequestFor(accountId: string, action: CallAction, requestId: string): DialRequest {
  if (action.type === 'outbound_call') {
    return {
      accountId,
      agentId: action.agentId,
      to: action.to,
      ...(action.from !== undefined ? { from: action.from } : {}),
      ...(action.variables !== undefined ? { variables: action.variables } : {}),
      ...(action.goal !== undefined ? { goal: action.goal } : {}),
      requestId,
    };
  }
  const variables: Record<string, string> = { ...(action.variables ?? {}), callback_reason: action.reason };
  if (action.customer?.id !== undefined) variables.customer_id = action.customer.id;
  if (action.customer?.name !== undefined) variables.customer_name = action.customer.name;
  return { accountId, agentId: action.agentId, to: action.to, variables, goal: `Call back${action.customer?.name ? ` ${action.customer.name}` : ''}: ${action.reason}`, requestId };
}

const KNOWN_CODES = new Set<string>(Object.values(ErrorCodes));
const TOOL_TEXT_MAX = 4000;

/**
 * Runs one schedule's action. `runId` (`<scheduleId>-<dueMs>`) is the dial's `requestId` and the
 * tool call's `invocationId`, so a retried run never places a second call or runs a tool twice
 * where the far side honours those keys.
 */
export class ActionRunner {
  constructor(
    private readonly ports: ActionPorts,
    private readonly agents: AgentRegistry,
    private readonly toolTimeoutMs: number,
  ) {}

  async run(accountId: string, action: Action, runId: string): Promise<ActionOutcome> {
    switch (action.type) {
      case 'outbound_call':
      case 'callback': {
        const reply = await this.ports.dial(dialRequestFor(accountId, action, runId));
        return { callId: reply.callId };
      }
      case 'publish':
        this.ports.publish(action.subject, action.payload);
        return {};
      case 'tool_call': {
        const agent = this.agents.get(action.agentId);
        if (!agent) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `agent "${action.agentId}" is no longer configured`, { retryable: false });
        const server = normalizeMcpServers(agent.mcpServers ?? []).find((s) => s.name === action.server);
        if (!server) throw new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `agent "${action.agentId}" no longer has an MCP server "${action.server}"`, { retryable: false });
        const reply = await this.ports.callTool({
          context: { callId: runId, agentId: action.agentId, accountId },
          server,
          tool: action.tool,
          arguments: action.arguments ?? {},
          timeoutMs: server.tools?.[action.tool]?.timeoutMs ?? server.timeoutMs ?? this.toolTimeoutMs,
          invocationId: runId,
        });
        if (reply.isError) {
          const code = (reply.code !== undefined && KNOWN_CODES.has(reply.code) ? reply.code : ErrorCodes.TOOL_FAILED) as ErrorCode;
          throw new SwitchboardError(code, `tool ${action.server}/${action.tool} failed: ${reply.text.slice(0, 500)}`);
        }
        return { toolResult: { isError: false, text: reply.text.slice(0, TOOL_TEXT_MAX) } };
      }
    }
  }
}
