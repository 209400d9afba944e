import type { Redis } from 'ioredis';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccountSettings } from '@switchboard/contracts';

/** The call record every service may read: who owns it, which agent runs it, where it stands. */
export interface CallRecord {
  callId: string;
  accountId: string;
  agentId: string;
  direction: 'inbound' | 'outbound';
  carrier: 'twilio' | 'sip';
  from: string;
  to: string;
  state: 'active' | 'ended';
  startedAt: string;
  endedAt?: string;
  endReason?: string;
  /** Orchestrator instance that claimed the call. */
  orchestrator?: string;
}

export interface TranscriptEntry {
  role: 'caller' | 'agent' | 'tool';
  text: string;
  at: string;
  /** Agent speech cut short by barge-in. */
  interrupted?: boolean;
  tool?: { server: string; name: string; arguments: unknown; result: string; isError: boolean; latencyMs: number };
}

const callKey = (id: string) => `sb:call:${id}`;
const transcriptKey = (id: string) => `sb:call:${id}:transcript`;

/**
 * Call state in Redis, written as the call progresses so another instance could continue it.
 * Live calls expire after `liveTtlS` as a safety net; ended calls are kept for `retentionS`.
 */
export class CallStore {
  constructor(
    private readonly redis: Redis,
    private readonly opts: { liveTtlS?: number; retentionS?: number } = {},
  ) {}

  private get liveTtl(): number {
    return this.opts.liveTtlS ?? 6 * 3600;
  }

  async create(record: CallRecord): Promise<void> {
    await this.redis.multi().set(callKey(record.callId), JSON.stringify(record), 'EX', this.liveTtl).del(transcriptKey(record.callId)).exec();
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const raw = await this.redis.get(callKey(callId));
    return raw ? (JSON.parse(raw) as CallRecord) : undefined;
  }

  async update(callId: string, patch: Partial<CallRecord>): Promise<CallRecord | undefined> {
    const current = await this.get(callId);
    if (!current) return undefined;
    const next = { ...current, ...patch };
    await this.redis.set(callKey(callId), JSON.stringify(next), 'KEEPTTL');
    return next;
  }

  async append(callId: string, entry: TranscriptEntry): Promise<void> {
    const key = transcriptKey(callId);
    const [, ttl] = (await this.redis.multi().rpush(key, JSON.stringify(entry)).ttl(key).exec()) ?? [];
    // Only a transcript without a TTL gets the live one: a line that lands after `end` (a tool
    // finishing after the caller hung up) must not cut the retention period short.
    if (ttl?.[1] === -1) await this.redis.expire(key, this.liveTtl);
  }

  async transcript(callId: string): Promise<TranscriptEntry[]> {
    return (await this.redis.lrange(transcriptKey(callId), 0, -1)).map((s) => JSON.parse(s) as TranscriptEntry);
  }

  /** Marks the call ended and starts its retention clock. */
  async end(callId: string, reason: string): Promise<void> {
    const retention = this.opts.retentionS ?? 7 * 24 * 3600;
    const rec = await this.update(callId, { state: 'ended', endedAt: new Date().toISOString(), endReason: reason });
    if (!rec) return;
    await this.redis.multi().expire(callKey(callId), retention).expire(transcriptKey(callId), retention).exec();
  }
}

/** An API key's identity: the account it belongs to and what it may do. */
export interface ApiKeyRecord {
  id: string;
  accountId: string;
  scopes: string[];
  createdAt: string;
  /** Requests per minute this key may make (token bucket); absent: the server's default. */
  ratePerMin?: number;
  /** A name for people (`CRM integration`); never used for authorization. */
  label?: string;
}

/** Options of a new key beside its account and scopes. */
export interface ApiKeyOptions {
  ratePerMin?: number;
  label?: string;
}

/** Whether a key's scopes include `scope` (`*` includes every scope). */
export function hasScope(record: Pick<ApiKeyRecord, 'scopes'>, scope: string): boolean {
  return record.scopes.includes('*') || record.scopes.includes(scope);
}

const hashKey = (key: string) => createHash('sha256').update(key).digest('hex');
const apiKeyKey = (hash: string) => `sb:apikey:${hash}`;

/** API keys, stored hashed (SHA-256): the plaintext is shown once at creation and never stored. */
export class ApiKeyStore {
  constructor(private readonly redis: Redis) {}

  /** Creates a key; returns the plaintext once. */
  async create(accountId: string, scopes: string[] = ['*'], opts: ApiKeyOptions = {}): Promise<{ key: string; record: ApiKeyRecord }> {
    const key = `sk_${randomBytes(24).toString('base64url')}`;
    const record = await this.put(key, accountId, scopes, opts);
    return { key, record };
  }

  /** Stores a given plaintext key (bootstrap from the environment). Idempotent. */
  async put(key: string, accountId: string, scopes: string[] = ['*'], opts: ApiKeyOptions = {}): Promise<ApiKeyRecord> {
    const hash = hashKey(key);
    const record: ApiKeyRecord = {
      id: hash.slice(0, 12),
      accountId,
      scopes,
      createdAt: new Date().toISOString(),
      ...(opts.ratePerMin !== undefined ? { ratePerMin: opts.ratePerMin } : {}),
      ...(opts.label !== undefined ? { label: opts.label } : {}),
    };
    await this.redis.multi().set(apiKeyKey(hash), JSON.stringify(record)).hset('sb:apikeys', record.id, hash).exec();
    return record;
  }

  async verify(key: string): Promise<ApiKeyRecord | undefined> {
    const hash = hashKey(key);
    const raw = await this.redis.get(apiKeyKey(hash));
    if (!raw) return undefined;
    const record = JSON.parse(raw) as ApiKeyRecord;
    // Defence in depth: the lookup was by hash; confirm the id derives from the same hash.
    return timingSafeEqual(Buffer.from(record.id), Buffer.from(hash.slice(0, 12))) ? record : undefined;
  }

  async revoke(id: string): Promise<boolean> {
    const hash = await this.redis.hget('sb:apikeys', id);
    if (!hash) return false;
    await this.redis.multi().del(apiKeyKey(hash)).hdel('sb:apikeys', id).exec();
    return true;
  }

  /** The record of key `id` (never the key itself), or undefined. */
  async get(id: string): Promise<ApiKeyRecord | undefined> {
    const hash = await this.redis.hget('sb:apikeys', id);
    const raw = hash ? await this.redis.get(apiKeyKey(hash)) : null;
    return raw ? (JSON.parse(raw) as ApiKeyRecord) : undefined;
  }

  /** Every key's record (of one account when given), oldest first. */
  async list(accountId?: string): Promise<ApiKeyRecord[]> {
    const hashes = Object.values(await this.redis.hgetall('sb:apikeys'));
    const out: ApiKeyRecord[] = [];
    for (let i = 0; i < hashes.length; i += 500) {
      const raws = await this.redis.mget(hashes.slice(i, i + 500).map(apiKeyKey));
      for (const raw of raws) if (raw) out.push(JSON.parse(raw) as ApiKeyRecord);
    }
    return out.filter((r) => accountId === undefined || r.accountId === accountId).sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
}

const accountKey = (id: string) => `sb:account:${id}`;

/** Account (tenant) settings: time zone, allowed destinations, calling hours, outbound caps. */
export class AccountStore {
  constructor(private readonly redis: Redis) {}

  /** The stored settings, or the defaults (UTC, no allowed destinations) for an account never configured. */
  async get(accountId: string): Promise<AccountSettings> {
    const raw = await this.redis.get(accountKey(accountId));
    const stored = raw ? (JSON.parse(raw) as AccountSettings) : { accountId };
    return { timeZone: 'UTC', allowedDestinations: [], ...stored, accountId };
  }

  async put(settings: AccountSettings): Promise<void> {
    await this.redis.set(accountKey(settings.accountId), JSON.stringify(settings));
  }
}

/** Whether `number` is allowed by a list of E.164 numbers and `+prefix*` patterns. */
export function destinationAllowed(number: string, allowed: readonly string[]): boolean {
  return allowed.some((a) => (a.endsWith('*') ? number.startsWith(a.slice(0, -1)) : number === a));
}
