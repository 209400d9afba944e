import type { AgentDefinition } from '@switchboard/contracts';

export type OfficeHours = NonNullable<AgentDefinition['officeHours']>;
type DayHours = 'closed' | '24h' | ReadonlyArray<{ open: string; close: string }>;

/** The seed's four answers (001 `is_office_open`), word for word. */
export const OFFICE_MESSAGES = {
  open: 'Office is currently open',
  closed: 'Office is currently closed',
  closed_today: 'Office is closed today',
  open_24h: 'Office is open 24 hours today',
} as const;

export type OfficeStatus = keyof typeof OFFICE_MESSAGES;

export interface OfficeState {
  status: OfficeStatus;
  message: (typeof OFFICE_MESSAGES)[OfficeStatus];
  /** The IANA zone the hours were read in. */
  timeZone: string;
  /** Wall-clock time there, `YYYY-MM-DDTHH:MM`. */
  localTime: string;
  /** The holiday that replaced today's weekly hours, if any. */
  holiday?: string;
}

const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;

/** Formatters by zone: building one costs more than using it, and accounts share a handful of zones. */
const formats = new Map<string, Intl.DateTimeFormat>();

/** Local calendar date and minute of day of `now` in `timeZone` (DST-correct: Intl does the conversion). */
function localParts(now: Date, timeZone: string): { date: string; minute: number } {
  let fmt = formats.get(timeZone);
  if (!fmt) {
    fmt = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    if (formats.size < 1000) formats.set(timeZone, fmt);
  }
  const p = Object.fromEntries(fmt.formatToParts(now).map((x) => [x.type, x.value]));
  return { date: `${p.year}-${p.month}-${p.day}`, minute: Number(p.hour) * 60 + Number(p.minute) };
}

const toMinute = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

function weekdayOf(date: string): (typeof WEEKDAYS)[number] {
  return WEEKDAYS[new Date(`${date}T12:00:00Z`).getUTCDay()]!;
}

function previousDay(date: string): string {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() - 1);
  return d.toISOString().slice(0, 10);
}

/** A date's hours: its holiday entry (closed unless it gives hours) or else its weekday's (missing: closed). */
function hoursOn(hours: OfficeHours, date: string): { day: DayHours; holiday?: string } {
  const holiday = hours.holidays?.find((h) => h.date === date);
  if (holiday) return { day: (holiday.hours as DayHours | undefined) ?? 'closed', holiday: holiday.name ?? date };
  return { day: (hours.weekly?.[weekdayOf(date)] as DayHours | undefined) ?? 'closed' };
}

/**
 * Whether the office is open at `now`, read in the account's `timeZone`. An interval whose close is
 * not after its open runs past midnight into the next day; `24:00` closes at the end of the day.
 * Throws RangeError for a zone Intl does not know.
 */
export function officeState(hours: OfficeHours, timeZone: string, now: Date): OfficeState {
  const { date, minute } = localParts(now, timeZone);
  const localTime = `${date}T${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
  const today = hoursOn(hours, date);
  const state = (status: OfficeStatus): OfficeState => ({ status, message: OFFICE_MESSAGES[status], timeZone, localTime, ...(today.holiday ? { holiday: today.holiday } : {}) });

  if (today.day === '24h') return state('open_24h');
  if (Array.isArray(today.day)) {
    for (const { open, close } of today.day) {
      const o = toMinute(open);
      const c = toMinute(close);
      if (c > o ? minute >= o && minute < c : minute >= o) return state('open');
    }
  }
  // Yesterday's overnight intervals still running after midnight.
  const yesterday = hoursOn(hours, previousDay(date)).day;
  if (Array.isArray(yesterday)) {
    for (const { open, close } of yesterday) {
      const o = toMinute(open);
      const c = toMinute(close);
      if (c <= o && minute < c) return state('open');
    }
  }
  return state(today.day === 'closed' ? 'closed_today' : 'closed');
}
