import { ErrorCodes, SwitchboardError, contracts, normalizeMcpServers, type AgentDefinition } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { CALL_CONTROL_TOOLS, DISCOVER_TOOL } from '../conversation/tool-set.ts';
import { functionReferences } from './prompt.ts';

export interface AgentCheckResult {
  /** Problems that do not refuse the agent (a server that could not be asked). */
  warnings: string[];
}

/**
 * Checks what the schema cannot when an agent is saved: every `{{function.name(args)}}` in the system
 * prompt names a tool the agent has (a webhook tool, a custom tool, call control, or an MCP tool the
 * broker lists for the agent's servers). An unknown name refuses the agent with AGENT_INVALID naming
 * it; when an MCP server could not be listed, an unverifiable name is a warning instead.
 */
export async function checkAgent(agent: AgentDefinition, bus: Bus, budgetMs: number): Promise<AgentCheckResult> {
  const refs = functionReferences(agent.systemPrompt);
  if (refs.length === 0) return { warnings: [] };
  const known = new Set<string>([...CALL_CONTROL_TOOLS, ...(agent.tools ?? []).map((t) => t.name), ...(agent.customTools ?? []).map((t) => t.name)]);
  let unverified: string[] = [];
  const missing = () => refs.filter((r) => !known.has(r));
  if (missing().length) {
    const servers = normalizeMcpServers(agent.mcpServers ?? []);
    try {
      const reply = await bus.request(
        contracts.listTools,
        { context: { callId: `check_${agent.id}`, agentId: agent.id, accountId: agent.accountId ?? 'default' }, servers, budgetMs, reservedNames: (agent.tools ?? []).map((t) => t.name), attached: true },
        { timeoutMs: budgetMs + 2000 },
      );
      for (const t of reply.tools) {
        known.add(t.name);
        known.add(t.originalName);
        if (t.name === DISCOVER_TOOL) known.add(DISCOVER_TOOL);
      }
      unverified = [...reply.pending, ...reply.failed.map((f) => f.server)];
    } catch (err) {
      unverified = servers.map((s) => s.name);
      if (!unverified.length) unverified = [`the MCP broker (${(err as Error).message})`];
    }
  }
  const unknown = missing();
  if (unknown.length === 0) return { warnings: [] };
  if (unverified.length === 0) {
    throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `/systemPrompt: {{function.${unknown[0]}}} names no tool of this agent${unknown.length > 1 ? ` (also unknown: ${unknown.slice(1).join(', ')})` : ''}`, {
      details: { unknownFunctions: unknown },
    });
  }
  return { warnings: unknown.map((u) => `/systemPrompt: {{function.${u}}} could not be checked: ${unverified.join(', ')} did not list tools`) };
}
