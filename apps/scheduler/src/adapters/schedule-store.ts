import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ErrorCodes, SwitchboardError, type Schedule, type ScheduleCreate } from '@switchboard/contracts';
import { LuaScript } from './lua.ts';

export type ScheduleStatus = Schedule['status'];

/** What a schedule was created with; never changes afterwards. */
export interface ScheduleSpec {
  id: string;
  accountId: string;
  name: string;
  when: ScheduleCreate['when'];
  action: ScheduleCreate['action'];
  idempotencyKey?: string;
  missedRunPolicy: 'fire-once' | 'skip';
  createdAt: string;
}

/** A schedule as stored: its spec plus the fields runs and operations change. */
export interface StoredSchedule {
  spec: ScheduleSpec;
  status: ScheduleStatus;
  /** Creation time: the grid of `everyMs` schedules. */
  anchorMs: number;
  /** The occurrence the pending run belongs to (its job id); absent when nothing is pending. */
  nextDueMs?: number;
  /** When the pending run will start: `nextDueMs`, or later when calling hours or outbound caps moved it. */
  nextRunMs?: number;
  lastRunMs?: number;
  runCount: number;
  lastError?: string;
  lastSkippedMs?: number;
}

/** How far a run's claim marker outlives the run: longer than any retry or restart could replay it. */
const CLAIM_DONE_TTL_S = 3 * 24 * 3600;
const ID_PATTERN = /^sch_[0-9a-z]{21}$/;
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export function toSchedule(s: StoredSchedule): Schedule {
  const { spec } = s;
  return {
    id: spec.id,
    accountId: spec.accountId,
    name: spec.name,
    status: s.status,
    when: spec.when,
    action: spec.action,
    ...(spec.idempotencyKey !== undefined ? { idempotencyKey: spec.idempotencyKey } : {}),
    missedRunPolicy: spec.missedRunPolicy,
    ...(s.nextRunMs !== undefined ? { nextRunAt: iso(s.nextRunMs) } : {}),
    ...(s.lastRunMs !== undefined ? { lastRunAt: iso(s.lastRunMs) } : {}),
    runCount: s.runCount,
    ...(s.lastError !== undefined ? { lastError: s.lastError } : {}),
    ...(s.lastSkippedMs !== undefined ? { lastSkippedAt: iso(s.lastSkippedMs) } : {}),
    createdAt: spec.createdAt,
  };
}

function parse(h: Record<string, string>): StoredSchedule | undefined {
  if (!h.spec || !h.status) return undefined;
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  return {
    spec: JSON.parse(h.spec) as ScheduleSpec,
    status: h.status as ScheduleStatus,
    anchorMs: Number(h.anchorMs),
    ...(num(h.nextDueMs) !== undefined ? { nextDueMs: num(h.nextDueMs) } : {}),
    ...(num(h.nextRunMs) !== undefined ? { nextRunMs: num(h.nextRunMs) } : {}),
    ...(num(h.lastRunMs) !== undefined ? { lastRunMs: num(h.lastRunMs) } : {}),
    runCount: Number(h.runCount ?? 0),
    ...(h.lastError !== undefined ? { lastError: h.lastError } : {}),
    ...(num(h.lastSkippedMs) !== undefined ? { lastSkippedMs: num(h.lastSkippedMs) } : {}),
  };
}

/**
 * KEYS: record, account index, account+active index, active set, idempotency key.
 * ARGV: use idempotency ('1'/'0'), id, then field/value pairs. Returns {created (1/0), id}.
 */
const CREATE = new LuaScript(`
if ARGV[1] == '1' then
  local existing = redis.call('GET', KEYS[5])
  if existing then return {0, existing} end
  redis.call('SET', KEYS[5], ARGV[2])
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
redis.call('SADD', KEYS[4], ARGV[2])
return {1, ARGV[2]}
`);

/**
 * Status change with its index moves, only from an allowed status.
 * KEYS: record, active set. ARGV: id, allowed (comma list), to, index prefix, JSON {set, del}.
 * Returns {1, previous, nextDueMs before the patch} when applied, {0, current} when refused, {-1} when missing.
 */
const TRANSITION = new LuaScript(`
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return {-1} end
local allowed = false
for s in string.gmatch(ARGV[2], '[^,]+') do if s == cur then allowed = true end end
if not allowed then return {0, cur} end
local due = redis.call('HGET', KEYS[1], 'nextDueMs') or ''
local to = ARGV[3]
if cur ~= to then
  redis.call('ZREM', ARGV[4] .. ':' .. cur, ARGV[1])
  redis.call('ZADD', ARGV[4] .. ':' .. to, 0, ARGV[1])
  if to == 'active' then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
  redis.call('HSET', KEYS[1], 'status', to)
end
-- Values arrive as strings: a Lua number would reach Redis as 1.7e+12.
local patch = cjson.decode(ARGV[5])
for k, v in pairs(patch.set or {}) do redis.call('HSET', KEYS[1], k, v) end
for _, k in ipairs(patch.del or {}) do redis.call('HDEL', KEYS[1], k) end
return {1, cur, due}
`);

/** Sets the pending occurrence only while the schedule is active. KEYS: record. ARGV: nextDueMs, nextRunMs. */
const SET_NEXT = new LuaScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'nextDueMs', ARGV[1], 'nextRunMs', ARGV[2])
return 1
`);

/**
 * The start of a run, in one round trip (it sits between the due time and the action).
 * KEYS: record, claim. ARGV: dueMs, now, runAtMs, misfire ms, first attempt ('1'/'0'), token, lease ms.
 * Returns {outcome, record fields…}: `stale` (not active, or not waiting for this occurrence),
 * `done` (the claim says it fired), `skip` (missed, first attempt, policy skip), `gate` (a call:
 * the caller checks calling hours and caps, then claims), `held` (another attempt holds the
 * claim), or `claimed` (this attempt now holds it for the lease).
 */
const BEGIN_RUN = new LuaScript(`
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then return {'stale'} end
local f = {}
for i = 1, #h, 2 do f[h[i]] = h[i + 1] end
if f.status ~= 'active' or f.nextDueMs ~= ARGV[1] then return {'stale'} end
local claim = redis.call('GET', KEYS[2])
local out = {'', unpack(h)}
if claim == 'done' then out[1] = 'done' return out end
local late = tonumber(ARGV[2]) - tonumber(ARGV[3]) > tonumber(ARGV[4])
if late and ARGV[5] == '1' and f.policy == 'skip' then out[1] = 'skip' return out end
if f.call == '1' then out[1] = 'gate' return out end
if claim then out[1] = 'held' return out end
redis.call('SET', KEYS[2], ARGV[6], 'PX', ARGV[7])
out[1] = 'claimed'
return out
`);

export type RunStart = 'stale' | 'done' | 'skip' | 'gate' | 'held' | 'claimed';

/**
 * The end of a fired run, in one round trip: the claim becomes `done`, the run is counted, and a
 * one-off still active completes (indexes follow). KEYS: record, claim, active set.
 * ARGV: now, claim TTL s, complete ('1'/'0'), index prefix, id. Returns the run count.
 */
const FINISH_RUN = new LuaScript(`
redis.call('SET', KEYS[2], 'done', 'EX', ARGV[2])
local n = redis.call('HINCRBY', KEYS[1], 'runCount', 1)
redis.call('HSET', KEYS[1], 'lastRunMs', ARGV[1])
redis.call('HDEL', KEYS[1], 'lastError')
if ARGV[3] == '1' and redis.call('HGET', KEYS[1], 'status') == 'active' then
  redis.call('ZREM', ARGV[4] .. ':active', ARGV[5])
  redis.call('ZADD', ARGV[4] .. ':completed', 0, ARGV[5])
  redis.call('SREM', KEYS[3], ARGV[5])
  redis.call('HSET', KEYS[1], 'status', 'completed')
  redis.call('HDEL', KEYS[1], 'nextDueMs', 'nextRunMs')
end
return n
`);

/** Deletes a claim only if this attempt holds it. KEYS: claim. ARGV: token. */
const RELEASE = new LuaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/**
 * Schedule records in Redis, namespaced by the BullMQ queue name so deployments (and test runs)
 * sharing a Redis never see each other's schedules:
 *
 * - `sb:sched:<queue>:s:<id>`: hash (spec JSON, status, anchor, next/last run, run count, last error;
 *   `policy` and `call` repeat the missed-run policy and whether the action is a call)
 * - `sb:sched:<queue>:acct:<account>` and `…:acct:<account>:<status>`: ids in creation order, for
 *   pagination (ids sort by creation time, so a lexicographic sorted set is the index)
 * - `sb:sched:<queue>:active`: every active id, for the boot-time reconciliation
 * - `sb:sched:<queue>:idem:<sha1(account, key)>`: the id an idempotency key created
 * - `sb:sched:<queue>:run:<id>:<due>`: the claim of one run (`done` once fired)
 */
export class ScheduleStore {
  private readonly ns: string;

  constructor(
    private readonly redis: Redis,
    queueName: string,
  ) {
    this.ns = `sb:sched:${queueName}`;
  }

  private rec = (id: string) => `${this.ns}:s:${id}`;
  private acct = (accountId: string) => `${this.ns}:acct:${encodeURIComponent(accountId)}`;
  private claimKey = (id: string, dueMs: number) => `${this.ns}:run:${id}:${dueMs}`;
  private get activeSet() {
    return `${this.ns}:active`;
  }
  private idem(accountId: string, key: string): string {
    return `${this.ns}:idem:${createHash('sha1').update(accountId).update('\0').update(key).digest('hex')}`;
  }

  /** Ids sort by creation time (base-36 milliseconds), then by 48 random bits. */
  newId(now = Date.now()): string {
    return `sch_${now.toString(36).padStart(9, '0')}${randomBytes(6).toString('hex')}`;
  }

  async findByIdempotencyKey(accountId: string, key: string): Promise<string | undefined> {
    return (await this.redis.get(this.idem(accountId, key))) ?? undefined;
  }

  /** Writes a new active schedule; with an idempotency key already used, returns that schedule's id instead. */
  async create(spec: ScheduleSpec, anchorMs: number, nextDueMs: number): Promise<{ id: string; created: boolean }> {
    const call = spec.action.type === 'outbound_call' || spec.action.type === 'callback' ? '1' : '0';
    // `policy` and `call` repeat the spec as plain fields for BEGIN_RUN, which does not parse JSON.
    const fields = ['spec', JSON.stringify(spec), 'status', 'active', 'anchorMs', anchorMs, 'nextDueMs', nextDueMs, 'nextRunMs', nextDueMs, 'runCount', 0, 'policy', spec.missedRunPolicy, 'call', call];
    const idemKey = spec.idempotencyKey === undefined ? `${this.ns}:idem:none` : this.idem(spec.accountId, spec.idempotencyKey);
    const [created, id] = (await CREATE.run(
      this.redis,
      [this.rec(spec.id), this.acct(spec.accountId), `${this.acct(spec.accountId)}:active`, this.activeSet, idemKey],
      [spec.idempotencyKey === undefined ? '0' : '1', spec.id, ...fields],
    )) as [number, string];
    return { id, created: created === 1 };
  }

  async get(id: string): Promise<StoredSchedule | undefined> {
    if (!ID_PATTERN.test(id)) return undefined;
    return parse(await this.redis.hgetall(this.rec(id)));
  }

  /** The record and the claim state of one run, in one round trip. */
  async loadForRun(id: string, dueMs: number): Promise<{ schedule: StoredSchedule | undefined; claim: string | undefined }> {
    const res = await this.redis.multi().hgetall(this.rec(id)).get(this.claimKey(id, dueMs)).exec();
    const h = (res?.[0]?.[1] ?? {}) as Record<string, string>;
    const claim = (res?.[1]?.[1] ?? null) as string | null;
    return { schedule: parse(h), claim: claim ?? undefined };
  }

  /** Starts a run (see BEGIN_RUN): the outcome and, unless stale, the schedule as it stands. */
  async beginRun(
    id: string,
    dueMs: number,
    opts: { now: number; runAtMs: number; misfireMs: number; firstAttempt: boolean; token: string; leaseMs: number },
  ): Promise<{ start: RunStart; schedule?: StoredSchedule }> {
    const res = (await BEGIN_RUN.run(this.redis, [this.rec(id), this.claimKey(id, dueMs)], [dueMs, opts.now, opts.runAtMs, opts.misfireMs, opts.firstAttempt ? '1' : '0', opts.token, opts.leaseMs])) as string[];
    const [start, ...flat] = res as [RunStart, ...string[]];
    if (start === 'stale') return { start };
    const h: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) h[flat[i]!] = flat[i + 1]!;
    const schedule = parse(h);
    return schedule ? { start, schedule } : { start: 'stale' };
  }

  /** One page of an account's schedules, newest first; the cursor is opaque to callers. */
  async list(accountId: string, status: ScheduleStatus | undefined, cursor: string | undefined, limit: number): Promise<{ items: StoredSchedule[]; nextCursor?: string }> {
    let after = '+';
    if (cursor !== undefined) {
      const id = Buffer.from(cursor, 'base64url').toString('utf8');
      if (!ID_PATTERN.test(id)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'cursor: not a cursor from a previous page');
      after = `(${id}`;
    }
    const index = status === undefined ? this.acct(accountId) : `${this.acct(accountId)}:${status}`;
    const ids = await this.redis.zrevrangebylex(index, after, '-', 'LIMIT', 0, limit + 1);
    const page = ids.slice(0, limit);
    const pipe = this.redis.pipeline();
    for (const id of page) pipe.hgetall(this.rec(id));
    const rows = (await pipe.exec()) ?? [];
    const items = rows.map(([, h]) => parse((h ?? {}) as Record<string, string>)).filter((s): s is StoredSchedule => s !== undefined);
    const last = page[page.length - 1];
    return ids.length > limit && last ? { items, nextCursor: Buffer.from(last).toString('base64url') } : { items };
  }

  /**
   * Moves a schedule from one of `from` to `to` (indexes follow) and applies `patch`. Returns the
   * previous status when applied (with the pending occurrence it had, read in the same script), the
   * current one when refused, and `missing` when there is no record.
   */
  async transition(
    id: string,
    accountId: string,
    from: readonly ScheduleStatus[],
    to: ScheduleStatus,
    patch: { set?: Record<string, string | number>; del?: string[] } = {},
  ): Promise<{ applied: boolean; status: ScheduleStatus | 'missing'; pendingDueMs?: number }> {
    const [code, status, due] = (await TRANSITION.run(this.redis, [this.rec(id), this.activeSet], [id, from.join(','), to, this.acct(accountId), JSON.stringify({ set: Object.fromEntries(Object.entries(patch.set ?? {}).map(([k, v]) => [k, String(v)])), del: patch.del ?? [] })])) as [number, string?, string?];
    if (code === -1) return { applied: false, status: 'missing' };
    return { applied: code === 1, status: status as ScheduleStatus, ...(due ? { pendingDueMs: Number(due) } : {}) };
  }

  /** Sets the pending occurrence if the schedule is still active; false when it is not. */
  async setNext(id: string, nextDueMs: number, nextRunMs = nextDueMs): Promise<boolean> {
    return (await SET_NEXT.run(this.redis, [this.rec(id)], [nextDueMs, nextRunMs])) === 1;
  }

  /** Shows that the pending run was moved (calling hours, outbound caps). */
  async setNextRun(id: string, nextRunMs: number): Promise<void> {
    await this.redis.hset(this.rec(id), 'nextRunMs', nextRunMs);
  }

  async status(id: string): Promise<ScheduleStatus | undefined> {
    return ((await this.redis.hget(this.rec(id), 'status')) ?? undefined) as ScheduleStatus | undefined;
  }

  /** Takes the run of (`id`, `dueMs`) for `leaseMs`; false when another attempt holds it or it already ran. */
  async claim(id: string, dueMs: number, token: string, leaseMs: number): Promise<boolean> {
    return (await this.redis.set(this.claimKey(id, dueMs), token, 'PX', leaseMs, 'NX')) === 'OK';
  }

  async releaseClaim(id: string, dueMs: number, token: string): Promise<void> {
    await RELEASE.run(this.redis, [this.claimKey(id, dueMs)], [token]);
  }

  /**
   * Marks the run done (for days, so no replay fires it again) and counts it; with `complete`, a
   * one-off that is still active completes in the same script. Returns the new run count.
   */
  async finishRun(s: StoredSchedule, dueMs: number, nowMs: number, complete: boolean): Promise<number> {
    const { id, accountId } = s.spec;
    return Number(await FINISH_RUN.run(this.redis, [this.rec(id), this.claimKey(id, dueMs), this.activeSet], [nowMs, CLAIM_DONE_TTL_S, complete ? '1' : '0', this.acct(accountId), id]));
  }

  /** Marks a run as done without firing (skipped, or failed for good). */
  async settleRun(id: string, dueMs: number, fields: Record<string, string | number>): Promise<void> {
    await this.redis.multi().set(this.claimKey(id, dueMs), 'done', 'EX', CLAIM_DONE_TTL_S).hset(this.rec(id), fields).exec();
  }

  async recordError(id: string, message: string): Promise<void> {
    await this.redis.hset(this.rec(id), 'lastError', message.slice(0, 2000));
  }

  /** Every active schedule id (SSCAN, bounded pages). */
  async activeIds(): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, ids] = await this.redis.sscan(this.activeSet, cursor, 'COUNT', 500);
      out.push(...ids);
      cursor = next;
    } while (cursor !== '0');
    return out;
  }
}
