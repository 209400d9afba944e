import type { Redis } from 'ioredis';
import { LuaScript } from './lua.ts';

/** The longest a call may hold a slot without its `evt.call.ended` (the longest `maxDurationSec`, plus ringing). */
export const SLOT_STALE_MS = 4 * 3600_000 + 120_000;
const PACING_WINDOW_MS = 60_000;

/**
 * Takes a concurrency slot and a pacing start for an outbound call, or says when to try again.
 * KEYS: active calls (member → start ms), starts in the last minute.
 * ARGV: now, cap (0: none), per minute (0: none), member, stale ms, recheck ms.
 * Returns 0 when admitted, else the time (ms) to try again.
 */
const ADMIT = new LuaScript(`
local now = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local perMinute = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[5]))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ${PACING_WINDOW_MS})
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 0 end
if cap > 0 and redis.call('ZCARD', KEYS[1]) >= cap then return now + tonumber(ARGV[6]) end
if perMinute > 0 and redis.call('ZCARD', KEYS[2]) >= perMinute then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + ${PACING_WINDOW_MS} + 1
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ${PACING_WINDOW_MS * 2})
return 0
`);

/** Swaps a run's placeholder slot for the call id the gateway returned. KEYS: active calls, call → account. ARGV: placeholder, call id, stale ms, account, now. */
const CONFIRM = new LuaScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[1], score or ARGV[5], ARGV[2])
redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
return 1
`);

export interface OutboundLimits {
  /** Concurrent outbound calls at most (AccountSettings.maxConcurrentOutbound). */
  maxConcurrent?: number | undefined;
  /** Outbound call starts per minute at most (AccountSettings.outboundPerMinute). */
  perMinute?: number | undefined;
}

/**
 * Per-account outbound call admission shared by every scheduler instance: a sorted set of the
 * account's live outbound calls (a run's placeholder until the gateway names the call, then the call
 * id, removed on `evt.call.ended`, and dropped after `SLOT_STALE_MS` if that event never comes) and a
 * sliding one-minute window of call starts for pacing. Admission is one Lua script, so two instances
 * can never both take the last slot.
 */
export class OutboundGate {
  private readonly ns: string;

  constructor(
    private readonly redis: Redis,
    queueName: string,
    private readonly recheckMs: number,
  ) {
    this.ns = `sb:sched:${queueName}:out`;
  }

  private active = (accountId: string) => `${this.ns}:${encodeURIComponent(accountId)}:active`;
  private starts = (accountId: string) => `${this.ns}:${encodeURIComponent(accountId)}:starts`;
  private callKey = (callId: string) => `${this.ns}:call:${callId}`;

  /**
   * Admits the run `member` now (returns undefined) or returns when to try again. Every outbound
   * run is counted, limits or not, so a cap set later already sees the calls that are up.
   */
  async admit(accountId: string, member: string, limits: OutboundLimits, now = Date.now()): Promise<number | undefined> {
    const retryAt = Number(await ADMIT.run(this.redis, [this.active(accountId), this.starts(accountId)], [now, limits.maxConcurrent ?? 0, limits.perMinute ?? 0, member, SLOT_STALE_MS, this.recheckMs]));
    return retryAt === 0 ? undefined : retryAt;
  }

  /** The gateway placed the call: its slot is now held by the call id until the call ends. */
  async confirm(accountId: string, member: string, callId: string): Promise<void> {
    await CONFIRM.run(this.redis, [this.active(accountId), this.callKey(callId)], [member, callId, SLOT_STALE_MS, accountId, Date.now()]);
  }

  /** The dial failed: give the slot back (the pacing start stays counted: an attempt was made). */
  async release(accountId: string, member: string): Promise<void> {
    await this.redis.zrem(this.active(accountId), member);
  }

  /** A call ended: frees its slot if a scheduled run placed it. */
  async callEnded(callId: string): Promise<boolean> {
    const accountId = await this.redis.get(this.callKey(callId));
    if (accountId === null) return false;
    await this.redis.multi().zrem(this.active(accountId), callId).del(this.callKey(callId)).exec();
    return true;
  }

  /** Calls (and placeholders) holding slots now. */
  async activeCount(accountId: string): Promise<number> {
    return this.redis.zcount(this.active(accountId), Date.now() - SLOT_STALE_MS, '+inf');
  }
}
