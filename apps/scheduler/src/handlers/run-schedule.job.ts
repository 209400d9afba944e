import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError, toEnvelope, type AccountSettings, type ScheduleFailed, type ScheduleFired, type ScheduleSkipped } from '@switchboard/contracts';
import type { ScheduleStore, StoredSchedule } from '../adapters/schedule-store.ts';
import type { OutboundGate } from '../adapters/outbound-gate.ts';
import { RunQueue, type RunJobData } from '../adapters/run-queue.ts';
import { isCallAction, type ActionOutcome, type ActionRunner } from '../schedules/actions.ts';
import { nextCallingTime } from '../schedules/calling-hours.ts';
import type { ScheduleService } from '../schedules/service.ts';
import { isValidTimeZone, whenKind } from '../schedules/timing.ts';

/** The job as this handler sees it; app.ts adapts BullMQ's Job to it. */
export interface RunJob {
  data: RunJobData;
  /** Failed attempts so far (0 on the first try; moving the job for calling hours does not count). */
  attemptsMade: number;
  /** Attempts allowed in total. */
  attempts: number;
  /** Puts the job back until `runAtMs` without counting an attempt. Never returns. */
  defer(runAtMs: number): Promise<never>;
}

export interface RunDeps {
  store: ScheduleStore;
  service: ScheduleService;
  gate: OutboundGate;
  accounts: { get(accountId: string): Promise<AccountSettings> };
  actions: ActionRunner;
  events: {
    fired(e: ScheduleFired): void;
    failed(e: ScheduleFailed): void;
    skipped(e: ScheduleSkipped): void;
  };
  /** A run starting later than this after its time was missed (no scheduler was up): its policy applies. */
  misfireThresholdMs: number;
  /** How long one attempt holds the run's claim; longer than any action takes. */
  claimLeaseMs: number;
  log: Logger;
}

export type RunOutcome = 'stale' | 'already-ran' | 'skipped' | 'fired';

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * One run of one schedule. Every instance's worker may pick it up; the run fires at most once per
 * due time because (1) the job id is `<schedule>-<due>` so BullMQ holds one job per run, (2) the run
 * only proceeds while the schedule is active and still pending that very occurrence, and (3) a
 * Redis claim (`SET NX` for a lease, then `done` for days) guards the action against a replayed or
 * duplicated job. For a publish or tool call, (2) and (3) are one Lua script, so the action follows
 * the due time by two Redis round trips (BullMQ's fetch and that script).
 */
export async function runSchedule(job: RunJob, deps: RunDeps): Promise<RunOutcome> {
  const { store, service, log } = deps;
  const { scheduleId, dueMs, runAtMs } = job.data;
  const now = Date.now();
  const token = randomUUID();
  // One round trip decides: stale, already fired, skip, check a call's gates, or claimed (publish, tool call).
  const begun = await store.beginRun(scheduleId, dueMs, { now, runAtMs, misfireMs: deps.misfireThresholdMs, firstAttempt: job.attemptsMade === 0, token, leaseMs: deps.claimLeaseMs });
  const s = begun.schedule;
  if (begun.start === 'stale' || !s) return 'stale';
  const { spec } = s;
  if (begun.start === 'done') {
    await service.advance(s, dueMs);
    return 'already-ran';
  }
  if (begun.start === 'skip') {
    await store.settleRun(scheduleId, dueMs, { lastSkippedMs: now });
    const next = await service.advance(s, dueMs, now);
    log.info({ scheduleId, dueAt: iso(dueMs) }, 'missed run skipped (missedRunPolicy skip)');
    deps.events.skipped({ scheduleId, accountId: spec.accountId, name: spec.name, dueAt: iso(dueMs), skippedAt: iso(now), ...(next !== undefined ? { nextRunAt: iso(next) } : {}) });
    return 'skipped';
  }
  const late = now - runAtMs > deps.misfireThresholdMs;
  const runId = RunQueue.jobId(scheduleId, dueMs);
  const callAction = isCallAction(spec.action);
  let claimed = begun.start === 'claimed';

  if (begun.start === 'gate') {
    let retryAt: number | undefined;
    let why = '';
    try {
      const settings = await deps.accounts.get(spec.accountId);
      // Calling hours are kept in the account's zone: a number alone does not name the callee's zone.
      const tz = settings.timeZone ?? 'UTC';
      if (settings.callingHours && !isValidTimeZone(tz)) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `account ${spec.accountId}: time zone "${tz}" is not an IANA time zone, so its calling hours cannot be applied`, { retryable: false });
      const allowedAt = settings.callingHours ? nextCallingTime(now, settings.callingHours, tz) : now;
      why = allowedAt > now ? 'calling hours' : 'outbound cap';
      retryAt = allowedAt > now ? allowedAt : await deps.gate.admit(spec.accountId, runId, { maxConcurrent: settings.maxConcurrentOutbound, perMinute: settings.outboundPerMinute }, now);
    } catch (err) {
      throw await failed(job, deps, s, undefined, err);
    }
    if (retryAt !== undefined) {
      log.info({ scheduleId, runAt: iso(retryAt), why }, 'outbound run moved');
      await store.setNextRun(scheduleId, retryAt);
      return job.defer(retryAt);
    }
    claimed = await store.claim(scheduleId, dueMs, token, deps.claimLeaseMs);
    if (!claimed) await deps.gate.release(spec.accountId, runId);
  }
  if (!claimed) {
    // Another attempt holds this very run (a duplicated job, or the attempt of an instance that
    // died mid-run): look again once its lease is over. By then it is `done`, or free to take.
    return job.defer(Date.now() + deps.claimLeaseMs);
  }

  let outcome: ActionOutcome;
  try {
    outcome = await deps.actions.run(spec.accountId, spec.action, runId);
  } catch (err) {
    throw await failed(job, deps, s, token, err);
  }
  // The action happened: from here on nothing may release the claim or the run would fire twice.
  // The fired event goes out first (it is what monitors time runs by); one run of a schedule is in
  // flight at a time, so its run count is the stored one plus this run.
  const firedAt = Date.now();
  const runCount = s.runCount + 1;
  deps.events.fired({
    scheduleId,
    accountId: spec.accountId,
    name: spec.name,
    action: spec.action.type,
    dueAt: iso(dueMs),
    firedAt: iso(firedAt),
    late,
    runCount,
    ...(outcome.callId !== undefined ? { callId: outcome.callId } : {}),
    ...(outcome.toolResult !== undefined ? { toolResult: outcome.toolResult } : {}),
  });
  const oneOff = whenKind(spec.when) === 'once';
  await store.finishRun(s, dueMs, firedAt, oneOff);
  if (callAction && outcome.callId) await deps.gate.confirm(spec.accountId, runId, outcome.callId);
  if (!oneOff) await service.advance(s, dueMs);
  return 'fired';
}

/**
 * A failed attempt (of the action, or of the checks before it): the claim and any outbound slot go
 * back, the error is recorded and announced. When no retry follows (not retryable, or the last
 * attempt) the run is settled: a one-off becomes `failed`, a recurring schedule moves on to its next
 * occurrence. Returns the error to throw, whose `retryable` tells the queue whether to retry.
 */
async function failed(job: RunJob, deps: RunDeps, s: StoredSchedule, token: string | undefined, err: unknown): Promise<SwitchboardError> {
  const { store, service, log } = deps;
  const { spec } = s;
  const { scheduleId, dueMs } = job.data;
  if (token !== undefined) await store.releaseClaim(scheduleId, dueMs, token);
  if (isCallAction(spec.action)) await deps.gate.release(spec.accountId, RunQueue.jobId(scheduleId, dueMs));
  const env = toEnvelope(err);
  // An unexpected error's own text stays in the log: the schedule and the event say only that it was internal.
  const message = err instanceof SwitchboardError ? err.message : 'Internal error (see the scheduler log)';
  const attempt = job.attemptsMade + 1;
  const final = !env.retryable || attempt >= job.attempts;
  const failedAt = Date.now();
  if (final) {
    await store.settleRun(scheduleId, dueMs, { lastError: `${env.code}: ${message}`.slice(0, 2000) });
    if (whenKind(spec.when) === 'once') await store.transition(scheduleId, spec.accountId, ['active'], 'failed', { del: ['nextDueMs', 'nextRunMs'] });
    else await service.advance(s, dueMs, failedAt);
  } else {
    await store.recordError(scheduleId, `${env.code}: ${message}`);
  }
  deps.events.failed({ scheduleId, accountId: spec.accountId, name: spec.name, action: spec.action.type, dueAt: iso(dueMs), failedAt: iso(failedAt), attempt, final, code: env.code, message });
  log.warn({ scheduleId, dueAt: iso(dueMs), code: env.code, attempt, final, ...(err instanceof SwitchboardError ? {} : { err }) }, message);
  return new SwitchboardError(env.code, message, { retryable: !final, ...(err instanceof SwitchboardError ? {} : { cause: err }) });
}
