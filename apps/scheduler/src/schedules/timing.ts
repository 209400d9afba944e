import { CronExpressionParser } from 'cron-parser';
import { ErrorCodes, SwitchboardError, type ScheduleCreate } from '@switchboard/contracts';

export type When = ScheduleCreate['when'];

/** How far in the past an `at` may lie and still be accepted (client clocks drift): it fires at once. */
export const AT_PAST_TOLERANCE_MS = 1000;
/** Longest a one-off may lie ahead, the same bound as `delayMs`. */
export const MAX_AHEAD_MS = 31_536_000_000;

/** `at` must carry its offset: `2025-03-09T14:00:00Z` or `…+01:00`, never a bare local time. */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

const invalid = (message: string) => new SwitchboardError(ErrorCodes.REQUEST_INVALID, message);

/** Whether `tz` is an IANA zone this runtime knows (`Europe/Berlin`, `UTC`). */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** The kind of a `when`: fires once, or recurs by cron or fixed interval. */
export function whenKind(when: When): 'once' | 'cron' | 'every' {
  if (when.cron !== undefined) return 'cron';
  if (when.everyMs !== undefined) return 'every';
  return 'once';
}

/** First cron occurrence strictly after `afterMs`, in `tz` (DST-correct: cron-parser works in wall time of the zone). */
export function nextCronOccurrence(cron: string, tz: string, afterMs: number): number {
  const it = CronExpressionParser.parse(cron, { currentDate: new Date(afterMs), tz });
  return it.next().getTime();
}

/**
 * Validates a `when` and returns its first due time. Exactly one of `at`, `delayMs`, `cron`,
 * `everyMs`; `timeZone` only with `cron`; `at` with an offset, not in the past, at most a year
 * ahead; `cron` with five or six fields that fires at least once.
 */
export function firstDue(when: When, now: number): number {
  const given = (['at', 'delayMs', 'cron', 'everyMs'] as const).filter((k) => when[k] !== undefined);
  if (given.length !== 1) throw invalid(`when: give exactly one of at, delayMs, cron, everyMs (got ${given.length ? given.join(', ') : 'none'})`);
  if (when.timeZone !== undefined && when.cron === undefined) throw invalid('when.timeZone applies only to cron');
  if (when.at !== undefined) {
    if (!ISO_WITH_OFFSET.test(when.at)) throw invalid(`when.at: ${JSON.stringify(when.at)} is not an ISO 8601 time with an offset (e.g. 2025-03-09T14:00:00Z)`);
    const at = Date.parse(when.at);
    // Date.parse rolls 2025-04-31 over to May 1st: check the day exists in its month.
    const [y, m, d] = when.at.slice(0, 10).split('-').map(Number) as [number, number, number];
    if (Number.isNaN(at) || d < 1 || d > new Date(Date.UTC(y, m, 0)).getUTCDate()) throw invalid(`when.at: ${JSON.stringify(when.at)} is not a valid time`);
    if (at < now - AT_PAST_TOLERANCE_MS) throw invalid(`when.at: ${when.at} is in the past`);
    if (at > now + MAX_AHEAD_MS) throw invalid(`when.at: ${when.at} is more than a year ahead`);
    return Math.max(at, now);
  }
  if (when.delayMs !== undefined) return now + when.delayMs;
  if (when.everyMs !== undefined) return now + when.everyMs;
  const cron = (when.cron ?? '').trim();
  const fields = cron.split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw invalid(`when.cron: ${JSON.stringify(when.cron)} must have five or six fields (got ${fields})`);
  const tz = when.timeZone ?? 'UTC';
  if (!isValidTimeZone(tz)) throw invalid(`when.timeZone: ${JSON.stringify(tz)} is not an IANA time zone`);
  try {
    return nextCronOccurrence(cron, tz, now);
  } catch (err) {
    throw invalid(`when.cron: ${JSON.stringify(when.cron)} is not a valid cron expression (${(err as Error).message})`);
  }
}

/**
 * The occurrence after a run of a recurring schedule: the first one strictly after both the run's
 * due time and `now`, so a schedule that was down for several occurrences resumes with the next one
 * instead of catching up (its missed-run policy decides about the one run it does get). Intervals
 * stay on the grid `anchor + k·everyMs` so they never drift. Undefined for one-offs.
 */
export function nextDue(when: When, anchorMs: number, dueMs: number, now: number): number | undefined {
  const after = Math.max(dueMs, now);
  if (when.cron !== undefined) return nextCronOccurrence(when.cron.trim(), when.timeZone ?? 'UTC', after);
  if (when.everyMs !== undefined) return anchorMs + (Math.floor((after - anchorMs) / when.everyMs) + 1) * when.everyMs;
  return undefined;
}
