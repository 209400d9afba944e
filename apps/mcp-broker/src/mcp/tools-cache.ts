import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CachedTool } from './tool-schema.ts';

/** One server's tool list as cached, with when it was fetched. */
export interface ToolList {
  tools: CachedTool[];
  /** Epoch ms of the `tools/list` that produced it. */
  fetchedAt: number;
  /** Tools the server listed that were left out (invalid schema, no name, duplicate). */
  rejected: number;
  /** The server listed more than the cap. */
  capped: boolean;
}

export type CacheLayer = 'memory' | 'redis';

/** How long a list stays in Redis at all: stale lists still serve a call start while a refresh runs. */
const REDIS_TTL_S = 24 * 3600;

const redisKey = (cacheKey: string) => `sb:mcp:tools:${cacheKey}`;

/**
 * Tool lists by server cache key, in this process's memory and in Redis for every broker instance.
 * A list older than the TTL is still served (stale-while-revalidate) while the caller refreshes it
 * in the background. Redis being down degrades to memory only; it never fails a call start.
 */
export class ToolsCache {
  private readonly memory = new Map<string, ToolList>();

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    private readonly ttlMs: number,
  ) {}

  isStale(list: ToolList, now = Date.now()): boolean {
    return now - list.fetchedAt >= this.ttlMs;
  }

  /** The in-memory list, if any (no I/O). */
  peek(key: string): ToolList | undefined {
    return this.memory.get(key);
  }

  /** Lists for many keys: memory first, the rest in one Redis MGET. */
  async getMany(keys: readonly string[]): Promise<Map<string, { list: ToolList; layer: CacheLayer }>> {
    const out = new Map<string, { list: ToolList; layer: CacheLayer }>();
    const missing: string[] = [];
    for (const k of keys) {
      const m = this.memory.get(k);
      if (m) out.set(k, { list: m, layer: 'memory' });
      else if (!missing.includes(k)) missing.push(k);
    }
    if (!missing.length) return out;
    let raws: Array<string | null> = [];
    try {
      raws = await this.redis.mget(...missing.map(redisKey));
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'tool cache: Redis read failed; using memory only');
      return out;
    }
    missing.forEach((k, i) => {
      const raw = raws[i];
      if (!raw) return;
      try {
        const list = JSON.parse(raw) as ToolList;
        if (!Array.isArray(list.tools) || typeof list.fetchedAt !== 'number') return;
        // Keep the newer of a concurrent local fill and the Redis copy.
        const local = this.memory.get(k);
        if (!local || local.fetchedAt < list.fetchedAt) this.memory.set(k, list);
        out.set(k, { list: this.memory.get(k) as ToolList, layer: local ? 'memory' : 'redis' });
      } catch {
        // A corrupt entry is a miss; the next fetch overwrites it.
      }
    });
    return out;
  }

  /** Stores a freshly fetched list in memory and Redis. */
  async set(key: string, list: ToolList): Promise<void> {
    this.memory.set(key, list);
    try {
      await this.redis.set(redisKey(key), JSON.stringify(list), 'EX', REDIS_TTL_S);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'tool cache: Redis write failed; the list is cached in this process only');
    }
  }

  /** Forgets this process's copy (another instance refreshed it; the next read goes to Redis). */
  dropLocal(key: string, olderThan = Number.POSITIVE_INFINITY): void {
    const m = this.memory.get(key);
    if (m && m.fetchedAt < olderThan) this.memory.delete(key);
  }

  /** Marks a list stale everywhere so the next read refreshes it (`notifications/tools/list_changed`). */
  async invalidate(key: string): Promise<void> {
    const m = this.memory.get(key);
    if (m) this.memory.set(key, { ...m, fetchedAt: 0 });
    try {
      const raw = await this.redis.get(redisKey(key));
      if (raw) await this.redis.set(redisKey(key), JSON.stringify({ ...(JSON.parse(raw) as ToolList), fetchedAt: 0 }), 'EX', REDIS_TTL_S);
    } catch {
      // Memory is marked; Redis will be overwritten by the refresh.
    }
  }

  get size(): number {
    return this.memory.size;
  }
}
