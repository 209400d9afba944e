import type { FastifyInstance } from 'fastify';
import { ErrorCodes, SwitchboardError, chatRequestSchema, type AgentDefinition, type ChatRequest } from '@switchboard/contracts';
import { describeErrors, validatorFor, type Bus } from '@switchboard/bus';
import { validateAgentDefinition } from '@switchboard/agents';
import type { Redis } from 'ioredis';
import type { AgentStore, StoredAgent } from '@switchboard/agents';
import { checkAgent } from '../agents/agent-checks.ts';
import { chatTurn, type ChatDeps } from '../conversation/chat-session.ts';
import { SessionState } from '../session/session-state.ts';
import { summarizeTurns } from '../session/metrics.ts';
import { accountOf } from './auth.ts';

export interface AgentRoutesDeps {
  agents: AgentStore;
  bus: Bus;
  redis: Redis;
  /** Budget for listing MCP tools when checking `{{function.x}}` references. */
  checkBudgetMs: number;
  chat: ChatDeps;
}

/** The agent, if it exists and belongs to the account; another account's agent is reported as missing. */
async function owned(agents: AgentStore, id: string, accountId: string): Promise<StoredAgent> {
  const stored = await agents.get(id);
  if (!stored || (stored.agent.accountId ?? 'default') !== accountId) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `no agent ${id}`);
  return stored;
}

const view = (s: StoredAgent) => ({ agent: s.agent, source: s.source, updatedAt: s.updatedAt });

/**
 * `/v1/agents`: the agent definitions of the caller's account (stored in Redis, shared by every
 * orchestrator instance), their latency percentiles, and the text test channel.
 */
export async function agentRoutes(app: FastifyInstance, deps: AgentRoutesDeps): Promise<void> {
  const { agents } = deps;

  app.get('/v1/agents', async (req) => {
    const accountId = accountOf(req);
    const ids = await agents.list(accountId);
    const stored = (await Promise.all(ids.map((id) => agents.get(id)))).filter((s): s is StoredAgent => s !== undefined);
    return { agents: stored.map((s) => ({ id: s.agent.id, name: s.agent.name, source: s.source, updatedAt: s.updatedAt })) };
  });

  app.get<{ Params: { id: string } }>('/v1/agents/:id', async (req) => view(await owned(agents, req.params.id, accountOf(req))));

  app.put<{ Params: { id: string } }>('/v1/agents/:id', async (req, reply) => {
    const accountId = accountOf(req);
    const body = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'the body must be an agent definition (JSON object)');
    const raw = { ...(body as Record<string, unknown>) };
    raw.id ??= req.params.id;
    raw.accountId ??= accountId;
    if (raw.id !== req.params.id) throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `/id: "${String(raw.id)}" does not match the URL's agent id "${req.params.id}"`);
    if (raw.accountId !== accountId) throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, `this API key belongs to account "${accountId}", not "${String(raw.accountId)}"`);
    // The server's environment is not the API client's: `${VAR}` references are refused, not expanded.
    const agent: AgentDefinition = validateAgentDefinition(raw, `PUT /v1/agents/${req.params.id}`, {});
    const existing = await agents.get(agent.id);
    if (existing && (existing.agent.accountId ?? 'default') !== accountId) throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, `agent ${agent.id} belongs to another account`);
    const { warnings } = await checkAgent(agent, deps.bus, deps.checkBudgetMs);
    const { created } = await agents.put(agent, 'api');
    const stored = (await agents.get(agent.id))!;
    return reply.status(created ? 201 : 200).send({ ...view(stored), created, warnings });
  });

  app.delete<{ Params: { id: string } }>('/v1/agents/:id', async (req, reply) => {
    await owned(agents, req.params.id, accountOf(req));
    await agents.delete(req.params.id);
    return reply.status(204).send();
  });

  app.get<{ Params: { id: string } }>('/v1/agents/:id/metrics', async (req) => {
    await owned(agents, req.params.id, accountOf(req));
    const turns = await SessionState.agentTurns(deps.redis, req.params.id);
    return { agentId: req.params.id, turns: turns.length, interrupted: turns.filter((t) => t.interrupted).length, percentiles: summarizeTurns(turns) };
  });

  const validateChat = validatorFor(chatRequestSchema as object);
  app.post<{ Params: { id: string } }>('/v1/agents/:id/chat', async (req) => {
    const stored = await owned(agents, req.params.id, accountOf(req));
    if (!validateChat(req.body)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `chat: ${describeErrors(validateChat.errors).join('; ')}`);
    return chatTurn(stored.agent, req.body as ChatRequest, deps.chat);
  });
}
