import type { Redis } from 'ioredis';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

export interface RedisEventStoreOptions {
  /** Lifetime of a stream's events after its last write. */
  ttlS: number;
  /**
   * How long a replay waits for the response of a request that is still running (on this or another
   * instance) before it hands back what it has; 0 replays only what is stored.
   */
  replayWaitMs: number;
  /** Events kept per stream (oldest trimmed first). */
  maxEvents?: number;
}

/** A JSON-RPC response: what completes a request's stream. */
function isResponse(m: unknown): boolean {
  if (!m || typeof m !== 'object') return false;
  const o = m as Record<string, unknown>;
  return 'id' in o && !('method' in o) && ('result' in o || 'error' in o);
}

/** The priming event the transport stores (`{}`): it carries an id for the client's cursor, not a message. */
const isPriming = (m: unknown) => !!m && typeof m === 'object' && Object.keys(m).length === 0;

/**
 * The MCP SDK's `EventStore` on Redis Streams, one store per session: events of stream S of session X
 * live in `sb:mcp:session:X:events:S`, so a session can only ever replay its own streams, and any
 * instance can replay them. Event ids are `<streamId>:<entry id>`.
 *
 * A replay of a request stream whose response has not been stored yet (the request still runs on the
 * instance the client left) keeps reading with `XREAD BLOCK` until the response arrives or
 * `replayWaitMs` passes, so a client can resume on another instance mid-request.
 */
export class RedisEventStore implements EventStore {
  /** Called after each replay with the stream id and whether its response was delivered. */
  onReplayed: ((streamId: string, complete: boolean) => void) | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly sessionId: string,
    private readonly opts: RedisEventStoreOptions,
    private readonly signal?: AbortSignal,
  ) {}

  private key(streamId: string): string {
    return `sb:mcp:session:${this.sessionId}:events:${streamId}`;
  }

  private static parse(eventId: string): { streamId: string; entryId: string } | undefined {
    const at = eventId.lastIndexOf(':');
    if (at <= 0) return undefined;
    const streamId = eventId.slice(0, at);
    const entryId = eventId.slice(at + 1);
    return /^\d+-\d+$/.test(entryId) && /^[A-Za-z0-9_-]{1,128}$/.test(streamId) ? { streamId, entryId } : undefined;
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const key = this.key(streamId);
    const [[, entryId]] = ((await this.redis
      .multi()
      .xadd(key, 'MAXLEN', '~', String(this.opts.maxEvents ?? 1000), '*', 'm', JSON.stringify(message))
      .expire(key, this.opts.ttlS)
      .exec()) ?? [[null, '']]) as [[unknown, string]];
    return `${streamId}:${entryId}`;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    const parsed = RedisEventStore.parse(eventId);
    if (!parsed) return undefined;
    return (await this.redis.exists(this.key(parsed.streamId))) ? parsed.streamId : undefined;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const parsed = RedisEventStore.parse(lastEventId);
    if (!parsed) throw new Error('Invalid event ID format');
    const { streamId, entryId } = parsed;
    const key = this.key(streamId);
    const entries = await this.redis.xrange(key, '-', '+');
    let complete = false;
    let cursor = entryId;
    for (const [id, fields] of entries) {
      const message = JSON.parse(fields[1] ?? 'null') as JSONRPCMessage;
      if (isResponse(message)) complete = true;
      if (compareIds(id, entryId) <= 0) continue;
      cursor = id;
      if (!isPriming(message)) await send(`${streamId}:${id}`, message);
    }
    // The standalone GET stream never completes; a request stream completes with its response.
    if (!complete && streamId !== '_GET_stream' && this.opts.replayWaitMs > 0) complete = await this.follow(key, streamId, cursor, send);
    this.onReplayed?.(streamId, complete);
    return streamId;
  }

  /** Tails the stream after `cursor` until a response arrives or the wait runs out. */
  private async follow(key: string, streamId: string, cursor: string, send: (eventId: string, message: JSONRPCMessage) => Promise<void>): Promise<boolean> {
    const deadline = Date.now() + this.opts.replayWaitMs;
    const reader = this.redis.duplicate();
    try {
      while (Date.now() < deadline && !this.signal?.aborted) {
        const block = Math.max(1, Math.min(1000, deadline - Date.now()));
        const got = (await reader.xread('COUNT', 100, 'BLOCK', block, 'STREAMS', key, cursor)) as Array<[string, Array<[string, string[]]>]> | null;
        for (const [, entries] of got ?? []) {
          for (const [id, fields] of entries) {
            cursor = id;
            const message = JSON.parse(fields[1] ?? 'null') as JSONRPCMessage;
            if (!isPriming(message)) await send(`${streamId}:${id}`, message);
            if (isResponse(message)) return true;
          }
        }
      }
      return false;
    } finally {
      reader.disconnect();
    }
  }
}

/** Orders Redis stream ids (`ms-seq`). */
function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am !== bm ? am - bm : as - bs;
}
