import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AgentDefinition } from '@switchboard/contracts';
import { AgentStore, loadAgents } from '@switchboard/agents';

/** How long a loaded set of agent files is trusted before the directory is read again. */
const RELOAD_AFTER_MS = 5_000;


/**
 * Agents as the broker needs them for the attach-time collision rule: each agent's account, its own
 * tool names and its configured MCP servers. Read from the orchestrator's agent store in Redis
 * (which also holds the file agents it seeded at boot), else from the agent files (`AGENTS_DIR`).
 * Files that need environment variables this process lacks are still read (placeholders fill them);
 * such agents' file-defined servers are then not trusted for the check (`exactServers` false).
 */
export class AgentCatalog {
  private agents = new Map<string, AgentDefinition>();
  private exact = true;
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
    private readonly redis?: Redis,
    private readonly env: Record<string, string | undefined> = process.env,
  ) {}

  async get(agentId: string): Promise<{ agent: AgentDefinition; exactServers: boolean } | undefined> {
    if (this.redis) {
      try {
        const stored = await new AgentStore(this.redis).get(agentId);
        if (stored?.agent.id === agentId) return { agent: stored.agent, exactServers: true };
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'agent store unreadable; using the agent files');
      }
    }
    if (Date.now() - this.loadedAt > RELOAD_AFTER_MS) await (this.loading ??= this.load().finally(() => (this.loading = undefined)));
    const agent = this.agents.get(agentId);
    return agent ? { agent, exactServers: this.exact } : undefined;
  }

  private async load(): Promise<void> {
    try {
      this.agents = new Map((await loadAgents(this.dir, this.env)).map((a) => [a.id, a]));
      this.exact = true;
    } catch (first) {
      const lenient = new Proxy(this.env, { get: (t, k: string) => t[k] || `unset-${k}` });
      try {
        this.agents = new Map((await loadAgents(this.dir, lenient)).map((a) => [a.id, a]));
        this.exact = false;
        this.log.warn({ dir: this.dir }, `agent files read with placeholders for missing variables (${(first as Error).message})`);
      } catch (err) {
        this.log.error({ dir: this.dir }, `agent files unreadable; attaching servers to agents is refused until they load: ${(err as Error).message}`);
        this.agents = new Map();
      }
    }
    this.loadedAt = Date.now();
  }
}
