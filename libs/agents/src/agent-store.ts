import type { Redis } from 'ioredis';
import { ErrorCodes, SwitchboardError, type AgentDefinition } from '@switchboard/contracts';

/** An agent as stored: the definition, where it came from and when it last changed. */
export interface StoredAgent {
  agent: AgentDefinition;
  /** `file`: loaded from AGENTS_DIR at boot (the file wins again at the next boot); `api`: PUT /v1/agents/:id. */
  source: 'file' | 'api';
  updatedAt: string;
}

const agentKey = (id: string) => `sb:agent:${id}`;
const accountAgentsKey = (accountId: string) => `sb:account:${accountId}:agents`;
/** Dialled number → agent id, for routing an inbound call to a stored agent. */
export const agentNumberKey = (number: string) => `sb:agent-number:${number}`;

/**
 * Agent definitions in Redis, shared by every orchestrator instance: `sb:agent:<id>` (JSON of
 * {@link StoredAgent}), `sb:account:<accountId>:agents` (ids per account) and
 * `sb:agent-number:<E.164>` (routing index; a number belongs to one agent).
 */
export class AgentStore {
  constructor(private readonly redis: Redis) {}

  async get(id: string): Promise<StoredAgent | undefined> {
    const raw = await this.redis.get(agentKey(id));
    return raw ? (JSON.parse(raw) as StoredAgent) : undefined;
  }

  /** The agent a dialled number routes to. */
  async forNumber(number: string): Promise<StoredAgent | undefined> {
    const id = await this.redis.get(agentNumberKey(number.trim()));
    return id ? this.get(id) : undefined;
  }

  async list(accountId: string): Promise<string[]> {
    return (await this.redis.smembers(accountAgentsKey(accountId))).sort();
  }

  /**
   * Stores (creates or replaces) an agent. Refuses, with AGENT_INVALID naming the number, a phone
   * number already routed to another agent. Returns whether the agent is new.
   */
  async put(agent: AgentDefinition, source: StoredAgent['source']): Promise<{ created: boolean }> {
    const previous = await this.get(agent.id);
    const numbers = agent.phoneNumbers ?? [];
    if (numbers.length) {
      const owners = await this.redis.mget(numbers.map(agentNumberKey));
      for (const [i, owner] of owners.entries()) {
        if (owner && owner !== agent.id) throw new SwitchboardError(ErrorCodes.AGENT_INVALID, `/phoneNumbers: ${numbers[i]} is already routed to agent "${owner}"`);
      }
    }
    const stored: StoredAgent = { agent, source, updatedAt: new Date().toISOString() };
    const tx = this.redis.multi().set(agentKey(agent.id), JSON.stringify(stored)).sadd(accountAgentsKey(agent.accountId ?? 'default'), agent.id);
    if (previous && (previous.agent.accountId ?? 'default') !== (agent.accountId ?? 'default')) tx.srem(accountAgentsKey(previous.agent.accountId ?? 'default'), agent.id);
    for (const n of previous?.agent.phoneNumbers ?? []) if (!numbers.includes(n)) tx.del(agentNumberKey(n));
    for (const n of numbers) tx.set(agentNumberKey(n), agent.id);
    await tx.exec();
    return { created: !previous };
  }

  async delete(id: string): Promise<boolean> {
    const previous = await this.get(id);
    if (!previous) return false;
    const tx = this.redis.multi().del(agentKey(id)).srem(accountAgentsKey(previous.agent.accountId ?? 'default'), id);
    for (const n of previous.agent.phoneNumbers ?? []) tx.del(agentNumberKey(n));
    await tx.exec();
    return true;
  }

  /**
   * Loads the files' agents at boot. A file's agent replaces the stored one with the same id (the file
   * is its source of truth, and `${ENV}` values may differ between deployments); agents created over
   * the API are left alone.
   */
  async seed(agents: readonly AgentDefinition[]): Promise<void> {
    for (const agent of agents) {
      const existing = await this.get(agent.id);
      // A number moved between files: release it from the stored agent that had it.
      for (const n of agent.phoneNumbers ?? []) {
        const owner = await this.redis.get(agentNumberKey(n));
        if (owner && owner !== agent.id) {
          const other = await this.get(owner);
          if (other?.source === 'file') await this.redis.del(agentNumberKey(n));
        }
      }
      if (existing && existing.source === 'file' && JSON.stringify(existing.agent) === JSON.stringify(agent)) continue;
      await this.put(agent, 'file');
    }
  }
}
