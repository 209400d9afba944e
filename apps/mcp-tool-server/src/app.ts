import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts, ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import type { Bus } from '@switchboard/bus';
import { AccountStore, ApiKeyStore, CallStore } from '@switchboard/session-store';
import { createHttp } from '@switchboard/runtime';
import { ApiRequester } from './adapters/api-request.ts';
import { ContactDirectory, NativeContactStore, type ContactSource } from './adapters/contacts.ts';
import { DirectoryStore } from './adapters/directory.ts';
import { LeadStore } from './adapters/leads.ts';
import { RateLimiter } from './adapters/rate-limiter.ts';
import { SessionStore } from './adapters/sessions.ts';
import { loadWorkflows, WorkflowRegistry } from './adapters/workflows.ts';
import { adminRoutes } from './http/admin.route.ts';
import { mcpRoutes } from './http/mcp.route.ts';
import type { ToolServices } from './tools/context.ts';
import { checkPersonaTools } from './tools/persona-tools.ts';
import { GLOBAL_TOOL_NAMES } from './tools/registry.ts';
import type { ToolServerConfig } from './config.ts';

export interface ToolServerDeps {
  config: ToolServerConfig;
  bus: Bus;
  redis: Redis;
  log: Logger;
  instanceId: string;
  /** The clock of `is_office_open`; default the system clock. */
  now?: () => Date;
  /** Contact sources besides the native one (a CRM adapter). */
  extraContactSources?: ContactSource[];
}

/** The tools' services plus the stores only the admin surface writes. */
export type AppServices = ToolServices & { native: NativeContactStore; keys: ApiKeyStore };

/**
 * Everything the tools use, built from the configuration: stores on Redis, agents and workflows from
 * their files (a bad file, or a custom tool that clashes with a global one, stops the boot).
 * Shared by the HTTP service and the stdio mode.
 */
export async function buildServices(deps: Omit<ToolServerDeps, 'instanceId'>): Promise<AppServices> {
  const { config, bus, redis, log } = deps;
  const agentList = await loadAgents(config.AGENTS_DIR);
  const problems = checkPersonaTools(agentList, GLOBAL_TOOL_NAMES);
  if (problems.length) throw new SwitchboardError(ErrorCodes.AGENT_INVALID, problems.join('; '));
  const native = new NativeContactStore(redis);
  return {
    bus,
    log,
    keys: new ApiKeyStore(redis),
    calls: new CallStore(redis),
    accounts: new AccountStore(redis),
    agents: new AgentRegistry(agentList),
    native,
    contacts: new ContactDirectory([native, ...(deps.extraContactSources ?? [])]),
    directory: new DirectoryStore(redis),
    leads: new LeadStore(redis),
    workflows: new WorkflowRegistry(await loadWorkflows(config.WORKFLOWS_DIR)),
    api: new ApiRequester({
      timeoutMs: config.API_REQUEST_TIMEOUT_MS,
      maxBytes: config.API_REQUEST_MAX_BYTES,
      allowIps: config.API_REQUEST_ALLOW_IPS.split(',').map((s) => s.trim()).filter(Boolean),
    }),
    now: deps.now ?? (() => new Date()),
    phoneRegion: config.DEFAULT_PHONE_REGION,
  };
}

export async function buildApp(deps: ToolServerDeps): Promise<{ app: FastifyInstance; keys: ApiKeyStore; services: AppServices }> {
  const { config, bus, redis, log, instanceId } = deps;
  const services = await buildServices(deps);
  const { keys } = services;
  if (config.BOOTSTRAP_API_KEY) await keys.put(config.BOOTSTRAP_API_KEY, config.BOOTSTRAP_ACCOUNT_ID, ['*'], { ratePerMin: config.BOOTSTRAP_RATE_PER_MIN, label: 'bootstrap' });
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ], { bodyLimit: config.MCP_MAX_BODY_BYTES });
  await app.register(mcpRoutes, {
    auth: { keys, agents: services.agents, limiter: new RateLimiter(redis), defaultRatePerMin: config.RATE_LIMIT_PER_MIN },
    services,
    maxBodyBytes: config.MCP_MAX_BODY_BYTES,
    mode: config.MCP_SESSION_MODE,
    allowedOrigins: config.MCP_ALLOWED_ORIGINS.split(',').map((o) => o.trim().replace(/\/+$/, '')).filter(Boolean),
    ...(config.MCP_SESSION_MODE === 'session'
      ? { session: { store: new SessionStore(redis, config.MCP_SESSION_TTL_S), redis, ttlS: config.MCP_SESSION_TTL_S, replayWaitMs: config.MCP_REPLAY_WAIT_MS } }
      : {}),
  });
  if (config.ADMIN_TOKEN) {
    await app.register(adminRoutes, { token: config.ADMIN_TOKEN, keys, accounts: services.accounts, contacts: services.native, directory: services.directory, leads: services.leads });
  }
  const startedAt = Date.now();
  bus.handle(contracts.health, () => ({ service: 'mcp-tool-server', instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { mode: config.MCP_SESSION_MODE } }), { param: 'mcp-tool-server', queue: false });
  return { app, keys, services };
}
