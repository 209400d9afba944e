import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCodes, SwitchboardError, normalizeMcpServers, type McpServerConfig, type RegisteredServer, type ToolCollision } from '@switchboard/contracts';
import type { ApiKeyStore } from '@switchboard/session-store';
import type { AgentCatalog } from '../adapters/agent-catalog.ts';
import type { Broker } from '../mcp/broker.ts';
import type { NewServer, ServerRegistry } from '../registry/server-registry.ts';

export interface McpServersRouteDeps {
  registry: ServerRegistry;
  keys: ApiKeyStore;
  agents: AgentCatalog;
  broker: Broker;
  /** How long attach waits to list the servers it checks (ms). */
  attachCheckBudgetMs: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The account of the API key that authenticated this request. */
    accountId?: string;
  }
}

const headerEntry = {
  type: 'object',
  additionalProperties: false,
  required: ['key', 'value'],
  properties: {
    key: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,128}$' },
    // No CR/LF: a header value must never split into two headers.
    value: { type: 'string', maxLength: 8192, pattern: '^[^\\r\\n]*$' },
  },
} as const;

const createBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'url'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]*$' },
    /** `http` is Plati's name for the /tools + /call protocol, i.e. `http-functions`. `stdio` is refused over the API. */
    transport: { type: 'string', enum: ['streamable-http', 'sse', 'http-functions', 'http', 'stdio'], default: 'streamable-http' },
    url: { type: 'string', minLength: 1, maxLength: 2048 },
    headers: {
      anyOf: [
        { type: 'array', items: headerEntry, maxItems: 32 },
        { type: 'object', additionalProperties: { type: 'string', maxLength: 8192, pattern: '^[^\\r\\n]*$' }, maxProperties: 32 },
      ],
    },
    prefix: { type: 'string', pattern: '^[a-zA-Z0-9_-]{0,32}$' },
    allowedTools: { type: 'array', items: { type: 'string' }, maxItems: 512 },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
    tools: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: { timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 }, cancelOnBargeIn: { type: 'boolean' }, fillerAfterMs: { type: 'integer', minimum: 0 } },
      },
    },
  },
} as const;

interface CreateBody {
  name: string;
  transport: 'streamable-http' | 'sse' | 'http-functions' | 'http' | 'stdio';
  url: string;
  headers?: Array<{ key: string; value: string }> | Record<string, string>;
  prefix?: string;
  allowedTools?: string[];
  timeoutMs?: number;
  tools?: NewServer['tools'];
}

function presentedKey(req: FastifyRequest): string | undefined {
  const x = req.headers['x-api-key'];
  if (typeof x === 'string' && x) return x;
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice(7).trim() || undefined : undefined;
}

function account(req: FastifyRequest): string {
  return req.accountId as string;
}

/**
 * Workspace registration of MCP servers (Plati's API): `POST/GET /v1/mcp-servers`,
 * `GET/DELETE /v1/mcp-servers/:id`, and attach/detach with
 * `PUT/DELETE /v1/agents/:agentId/mcp-servers/:serverId` (`GET` lists an agent's). Every route needs
 * an API key (`X-API-Key` or `Authorization: Bearer`) and sees only its account's servers.
 */
export async function mcpServersRoutes(app: FastifyInstance, deps: McpServersRouteDeps): Promise<void> {
  app.addHook('preHandler', async (req) => {
    const key = presentedKey(req);
    if (!key) throw new SwitchboardError(ErrorCodes.AUTH_MISSING_KEY, 'Missing API key: send X-API-Key or Authorization: Bearer');
    const record = await deps.keys.verify(key);
    if (!record) throw new SwitchboardError(ErrorCodes.AUTH_INVALID_KEY, 'Invalid API key');
    req.accountId = record.accountId;
  });

  app.post<{ Body: CreateBody }>('/v1/mcp-servers', { schema: { body: createBody } }, async (req, reply) => {
    const b = req.body;
    const transport = b.transport === 'http' ? 'http-functions' : b.transport;
    if (transport === 'stdio') {
      throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'stdio servers run a command on the broker host; declare them in an agent file, not through the API');
    }
    let url: URL;
    try {
      url = new URL(b.url);
    } catch {
      throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `url is not a valid URL: ${b.url.slice(0, 100)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'url must be http or https');
    const headers = Array.isArray(b.headers) ? b.headers : Object.entries(b.headers ?? {}).map(([key, value]) => ({ key, value }));
    for (const h of headers) if (!/^[A-Za-z0-9_-]{1,128}$/.test(h.key)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `header name not allowed: ${h.key.slice(0, 64)}`);
    if (headers.length && !deps.registry.canStoreSecrets) {
      // The deployment, not the request, is at fault: 503 until SECRETS_KEY is configured.
      const err = new SwitchboardError(ErrorCodes.CONFIG_INVALID, 'this broker cannot store header secrets: set SECRETS_KEY (32 bytes, base64) to register servers with headers');
      return reply.status(503).send(err.toEnvelope());
    }
    const created = await deps.registry.create(account(req), {
      name: b.name,
      transport,
      url: url.toString(),
      headers,
      ...(b.prefix !== undefined ? { prefix: b.prefix } : {}),
      ...(b.allowedTools ? { allowedTools: b.allowedTools } : {}),
      ...(b.timeoutMs !== undefined ? { timeoutMs: b.timeoutMs } : {}),
      ...(b.tools ? { tools: b.tools } : {}),
    });
    return reply.status(201).send(created);
  });

  app.get('/v1/mcp-servers', async (req) => ({ servers: await deps.registry.list(account(req)) }));

  const mustGet = async (accountId: string, id: string): Promise<RegisteredServer> => {
    const s = await deps.registry.get(accountId, id);
    if (!s) throw new SwitchboardError(ErrorCodes.MCP_SERVER_NOT_FOUND, `no MCP server ${id} in this account`);
    return s;
  };

  app.get<{ Params: { id: string } }>('/v1/mcp-servers/:id', async (req) => mustGet(account(req), req.params.id));

  app.delete<{ Params: { id: string } }>('/v1/mcp-servers/:id', async (req, reply) => {
    if (!(await deps.registry.delete(account(req), req.params.id))) throw new SwitchboardError(ErrorCodes.MCP_SERVER_NOT_FOUND, `no MCP server ${req.params.id} in this account`);
    return reply.status(204).send();
  });

  const mustAgent = async (accountId: string, agentId: string) => {
    const found = await deps.agents.get(agentId);
    // Another account's agent is as good as absent.
    if (!found || (found.agent.accountId ?? 'default') !== accountId) throw new SwitchboardError(ErrorCodes.AGENT_NOT_FOUND, `no agent ${agentId} in this account`);
    return found;
  };

  app.get<{ Params: { agentId: string } }>('/v1/agents/:agentId/mcp-servers', async (req) => {
    await mustAgent(account(req), req.params.agentId);
    return { servers: await deps.registry.attachedServers(account(req), req.params.agentId) };
  });

  app.put<{ Params: { agentId: string; serverId: string } }>('/v1/agents/:agentId/mcp-servers/:serverId', async (req, reply: FastifyReply) => {
    const accountId = account(req);
    const { agentId, serverId } = req.params;
    const { agent, exactServers } = await mustAgent(accountId, agentId);
    await mustGet(accountId, serverId);
    // Patter's rule at attach time: list the newcomer beside what the agent already has; a name the
    // agent defines itself, or one another server of the agent already offers, refuses the attach.
    const reserved = [...(agent.tools ?? []).map((t) => t.name), ...(agent.customTools ?? []).map((t) => t.name)];
    const fileServers: McpServerConfig[] = exactServers ? normalizeMcpServers(agent.mcpServers ?? []) : [];
    const attachedRefs = (await deps.registry.attachedIds(accountId, agentId)).filter((id) => id !== serverId);
    const check = await deps.broker.checkTools({ callId: `attach-check-${Date.now().toString(36)}`, agentId, accountId }, fileServers, [...attachedRefs, serverId], reserved, deps.attachCheckBudgetMs);
    const newcomer = check.byRef.get(serverId);
    const mine = check.collisions.filter((c) => c.server === newcomer);
    const warnings: string[] = [];
    if (!exactServers) warnings.push('the agent file needs environment variables this broker lacks: its own MCP servers were not checked');
    for (const f of check.failed) warnings.push(`${f.server}: ${f.message}`);
    for (const p of check.pending) warnings.push(`${p}: did not answer within ${deps.attachCheckBudgetMs} ms`);
    if (mine.length) {
      const err = new SwitchboardError(ErrorCodes.AGENT_INVALID, mine.map((c: ToolCollision) => (c.collidesWith === 'agent' ? `MCP tool '${c.tool}' of server '${c.server}' collides with agent '${agentId}'s own tool '${c.tool}'` : c.message)).join('; '), { details: { collisions: mine } });
      return reply.status(409).send(err.toEnvelope());
    }
    await deps.registry.attach(accountId, agentId, serverId);
    const verified = newcomer !== undefined && !check.failed.some((f) => f.server === newcomer) && !check.pending.includes(newcomer);
    return { agentId, serverId, attached: true, verified, tools: check.tools.filter((t) => t.serverRef === serverId).map((t) => t.name), warnings };
  });

  app.delete<{ Params: { agentId: string; serverId: string } }>('/v1/agents/:agentId/mcp-servers/:serverId', async (req, reply) => {
    const accountId = account(req);
    await mustAgent(accountId, req.params.agentId);
    await mustGet(accountId, req.params.serverId);
    await deps.registry.detach(accountId, req.params.agentId, req.params.serverId);
    return reply.status(204).send();
  });
}
