import { describe, expect, it } from 'vitest';
import { insideCallingHours, nextCallingTime, type CallingHours } from './calling-hours.ts';

const at = (s: string) => Date.parse(s);
const iso = (ms: number) => new Date(ms).toISOString();
const WEEKDAYS_9_TO_5: CallingHours = { start: '09:00', end: '17:00', days: [1, 2, 3, 4, 5] };

// 2025-03-07 is a Friday; 2025-03-09 (Sunday) is the US spring-forward day; Berlin is UTC+1 in March.
describe('calling hours', () => {
  it.each<[string, string, CallingHours, string, boolean]>([
    ['Friday 10:00 Berlin, weekdays 9–5', '2025-03-07T09:00:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', true],
    ['Friday 08:59 Berlin', '2025-03-07T07:59:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', false],
    ['Friday 17:00 Berlin (end is exclusive)', '2025-03-07T16:00:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', false],
    ['Saturday 11:00 Berlin', '2025-03-08T10:00:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', false],
    ['Friday 10:00 UTC is 05:00 in New York', '2025-03-07T10:00:00Z', WEEKDAYS_9_TO_5, 'America/New_York', false],
    ['overnight 22–06, at 23:30 on an allowed day', '2025-03-07T23:30:00Z', { start: '22:00', end: '06:00', days: [5] }, 'UTC', true],
    ['overnight 22–06, at 05:00 the next morning (belongs to Friday)', '2025-03-08T05:00:00Z', { start: '22:00', end: '06:00', days: [5] }, 'UTC', true],
    ['overnight 22–06, at 05:00 after a day not allowed', '2025-03-07T05:00:00Z', { start: '22:00', end: '06:00', days: [5] }, 'UTC', false],
    ['end 24:00', '2025-03-07T23:59:00Z', { start: '20:00', end: '24:00' }, 'UTC', true],
    ['equal start and end: the whole day', '2025-03-07T03:00:00Z', { start: '00:00', end: '00:00' }, 'UTC', true],
    ['empty days: every day', '2025-03-08T10:00:00Z', { start: '09:00', end: '17:00', days: [] }, 'UTC', true],
  ])('%s → %s', (_what, when, hours, tz, inside) => {
    expect(insideCallingHours(at(when), hours, tz)).toBe(inside);
  });

  it.each<[string, string, CallingHours, string, string]>([
    ['inside: unchanged', '2025-03-07T09:00:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', '2025-03-07T09:00:00.000Z'],
    ['early on Friday: 09:00 that day', '2025-03-07T06:00:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', '2025-03-07T08:00:00.000Z'],
    ['Friday evening: Monday 09:00', '2025-03-07T18:00:00Z', WEEKDAYS_9_TO_5, 'Europe/Berlin', '2025-03-10T08:00:00.000Z'],
    ['Saturday in New York: Monday 09:00 EDT, after the clocks changed', '2025-03-08T15:00:00Z', WEEKDAYS_9_TO_5, 'America/New_York', '2025-03-10T13:00:00.000Z'],
    ['a window starting in the spring-forward gap opens when the clocks allow', '2025-03-09T05:00:00Z', { start: '02:30', end: '04:00' }, 'America/New_York', '2025-03-09T07:30:00.000Z'],
  ])('next calling time, %s', (_what, when, hours, tz, expected) => {
    expect(iso(nextCallingTime(at(when), hours, tz))).toBe(expected);
  });
});
