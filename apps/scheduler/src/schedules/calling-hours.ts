import type { AccountSettings } from '@switchboard/contracts';
import { nextCronOccurrence } from './timing.ts';

export type CallingHours = NonNullable<AccountSettings['callingHours']>;

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

/** Wall-clock weekday (0 = Sunday) and minute of the day of `ms` in `tz`. */
export function localTime(ms: number, tz: string): { day: number; minute: number } {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(tz, f);
  }
  const parts = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return { day: WEEKDAYS[parts.weekday ?? 'Sun'] ?? 0, minute: Number(parts.hour) * 60 + Number(parts.minute) };
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * Whether a call may start at `ms`: inside `[start, end)` in the zone's wall time on an allowed
 * day. A window whose end is not after its start runs overnight (`22:00`–`06:00` belongs to the day
 * it starts on); equal start and end allow the whole day. No `days`: every day.
 */
export function insideCallingHours(ms: number, hours: CallingHours, tz: string): boolean {
  const { day, minute } = localTime(ms, tz);
  const days = hours.days?.length ? hours.days : [0, 1, 2, 3, 4, 5, 6];
  const start = minutes(hours.start) % 1440;
  const end = minutes(hours.end);
  if (start === end % 1440) return days.includes(day);
  if (start < end) return days.includes(day) && minute >= start && minute < end;
  return (days.includes(day) && minute >= start) || (days.includes((day + 6) % 7) && minute < end);
}

/**
 * `ms` when a call may start then, else the next start of an allowed window in `tz` (a call due
 * outside calling hours is moved there, never dropped). The window start is a cron occurrence, so
 * a start inside a DST gap moves forward with the clocks exactly as a cron schedule would.
 */
export function nextCallingTime(ms: number, hours: CallingHours, tz: string): number {
  if (insideCallingHours(ms, hours, tz)) return ms;
  const start = minutes(hours.start) % 1440;
  const days = hours.days?.length ? [...hours.days].sort((a, b) => a - b).join(',') : '*';
  return nextCronOccurrence(`${start % 60} ${Math.floor(start / 60)} * * ${days}`, tz, ms);
}
