import type { AgentDefinition } from '@switchboard/contracts';
import type { AgentStore } from './agent-store.ts';
import type { AgentRegistry } from './loader.ts';

/**
 * Agents as a router sees them: the shared store in Redis (agents created over the orchestrator's
 * API, plus the files an orchestrator seeded at boot) first, this process's own agent files second,
 * so a gateway routes to API-created agents and still works before any orchestrator has booted.
 */
export class AgentDirectory {
  constructor(
    private readonly files: AgentRegistry,
    private readonly store?: AgentStore,
  ) {}

  async get(id: string): Promise<AgentDefinition | undefined> {
    return (await this.fromStore((s) => s.get(id))) ?? this.files.get(id);
  }

  /** The agent a dialled number (E.164) routes to. */
  async forNumber(number: string): Promise<AgentDefinition | undefined> {
    return (await this.fromStore((s) => s.forNumber(number))) ?? this.files.forNumber(number);
  }

  private async fromStore(read: (s: AgentStore) => Promise<{ agent: AgentDefinition } | undefined>): Promise<AgentDefinition | undefined> {
    if (!this.store) return undefined;
    try {
      return (await read(this.store))?.agent;
    } catch {
      // Redis down: the files still route calls.
      return undefined;
    }
  }
}
