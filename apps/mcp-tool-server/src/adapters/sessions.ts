import type { Redis } from 'ioredis';

/** Session mode: who a session belongs to, so any instance can serve (and refuse) its requests. */
export interface SessionRecord {
  accountId: string;
  personaId: string;
  /** The key that opened it (a later request may use another key of the same account). */
  keyId: string;
  createdAt: string;
}

const sessionKey = (id: string) => `sb:mcp:session:${id}`;

/** MCP sessions in Redis with an idle TTL, refreshed on every request. */
export class SessionStore {
  constructor(
    private readonly redis: Redis,
    private readonly ttlS: number,
  ) {}

  async put(id: string, record: SessionRecord): Promise<void> {
    await this.redis.set(sessionKey(id), JSON.stringify(record), 'EX', this.ttlS);
  }

  /** The session, its idle clock restarted; undefined when it never existed, expired or was deleted. */
  async touch(id: string): Promise<SessionRecord | undefined> {
    const [[, raw]] = ((await this.redis.multi().get(sessionKey(id)).expire(sessionKey(id), this.ttlS).exec()) ?? [[null, null]]) as [[unknown, string | null]];
    return raw ? (JSON.parse(raw) as SessionRecord) : undefined;
  }

  async delete(id: string): Promise<void> {
    await this.redis.del(sessionKey(id));
  }
}
