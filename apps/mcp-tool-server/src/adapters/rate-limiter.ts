import type { Redis } from 'ioredis';

/**
 * Token bucket in one Lua script, so every instance shares a key's budget and the check-and-take is
 * atomic. Time is Redis's own clock (TIME), not each instance's. The bucket holds one minute's worth
 * of tokens and refills continuously.
 *
 * KEYS[1] bucket; ARGV[1] capacity; ARGV[2] refill per ms. Returns {allowed (0|1), ms until a token}.
 */
const TOKEN_BUCKET = `
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = capacity; ts = now end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, wait}
`;

type WithBucket = Redis & { sbTokenBucket(key: string, capacity: number, ratePerMs: number): Promise<[number, number]> };

export interface RateDecision {
  allowed: boolean;
  /** When refused: milliseconds until the next token. */
  retryAfterMs: number;
}

/** Requests per minute per API key, shared by every instance through Redis. */
export class RateLimiter {
  private readonly redis: WithBucket;

  constructor(redis: Redis) {
    if (!('sbTokenBucket' in redis)) redis.defineCommand('sbTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET });
    this.redis = redis as WithBucket;
  }

  async take(keyId: string, perMinute: number): Promise<RateDecision> {
    const [allowed, wait] = await this.redis.sbTokenBucket(`sb:ratelimit:${keyId}`, perMinute, perMinute / 60000);
    return { allowed: allowed === 1, retryAfterMs: wait };
  }
}
