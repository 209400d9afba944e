import { describe, expect, it } from 'vitest';
import { SwitchboardError } from '@switchboard/contracts';
import { firstDue, nextCronOccurrence, nextDue, type When } from './timing.ts';

const NOW = Date.parse('2025-03-08T12:00:00.000Z');
const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

describe('firstDue', () => {
  it.each<[string, When, string]>([
    ['at, with Z', { at: '2025-03-08T12:30:00Z' }, '2025-03-08T12:30:00.000Z'],
    ['at, with an offset', { at: '2025-03-08T14:30:00+02:00' }, '2025-03-08T12:30:00.000Z'],
    ['at, a moment ago (within the tolerance): now', { at: '2025-03-08T11:59:59.500Z' }, '2025-03-08T12:00:00.000Z'],
    ['delayMs', { delayMs: 90_000 }, '2025-03-08T12:01:30.000Z'],
    ['everyMs: one interval from now', { everyMs: 60_000 }, '2025-03-08T12:01:00.000Z'],
    ['cron in UTC by default', { cron: '0 9 * * *' }, '2025-03-09T09:00:00.000Z'],
    ['cron in a zone', { cron: '0 9 * * *', timeZone: 'America/New_York' }, '2025-03-08T14:00:00.000Z'],
    ['six-field cron (seconds)', { cron: '30 * * * * *' }, '2025-03-08T12:00:30.000Z'],
  ])('%s', (_what, when, expected) => {
    expect(iso(firstDue(when, NOW))).toBe(expected);
  });

  it.each<[string, When, string]>([
    ['nothing', {}, 'when: give exactly one of at, delayMs, cron, everyMs (got none)'],
    ['two kinds', { at: '2025-03-08T12:30:00Z', cron: '* * * * *' }, 'when: give exactly one of at, delayMs, cron, everyMs (got at, cron)'],
    ['a zone without cron', { everyMs: 1000, timeZone: 'UTC' }, 'when.timeZone applies only to cron'],
    ['a past time', { at: '2025-03-08T11:00:00Z' }, 'when.at: 2025-03-08T11:00:00Z is in the past'],
    ['a local time without offset', { at: '2025-03-08T13:00:00' }, 'when.at: "2025-03-08T13:00:00" is not an ISO 8601 time with an offset (e.g. 2025-03-09T14:00:00Z)'],
    ['a day the month does not have', { at: '2025-04-31T13:00:00Z' }, 'when.at: "2025-04-31T13:00:00Z" is not a valid time'],
    ['an hour that does not exist', { at: '2025-04-01T25:00:00Z' }, 'when.at: "2025-04-01T25:00:00Z" is not a valid time'],
    ['more than a year ahead', { at: '2027-03-08T13:00:00Z' }, 'is more than a year ahead'],
    ['three cron fields', { cron: '* * *' }, 'when.cron: "* * *" must have five or six fields (got 3)'],
    ['a cron field out of range', { cron: '0 25 * * *' }, 'when.cron: "0 25 * * *" is not a valid cron expression'],
    ['a cron that never fires', { cron: '0 0 31 4 *' }, 'is not a valid cron expression'],
    ['an unknown zone', { cron: '0 9 * * *', timeZone: 'Europe/Atlantis' }, 'when.timeZone: "Europe/Atlantis" is not an IANA time zone'],
  ])('refuses %s', (_what, when, message) => {
    let err: unknown;
    try {
      firstDue(when, NOW);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe('REQUEST_INVALID');
    expect((err as SwitchboardError).message).toContain(message);
  });
});

/** DST: cron-parser evaluates in the zone's wall time, so a daily schedule fires once per day across both transitions. */
describe('cron across daylight-saving transitions (America/New_York)', () => {
  const daily = (cron: string, from: string, n: number) => {
    const out: string[] = [];
    let t = Date.parse(from);
    for (let i = 0; i < n; i++) {
      t = nextCronOccurrence(cron, 'America/New_York', t);
      out.push(new Date(t).toISOString());
    }
    return out;
  };

  it('02:30 daily on the spring-forward day (02:00–03:00 does not exist) fires once, at 03:30 EDT, then 02:30 EDT', () => {
    expect(daily('30 2 * * *', '2025-03-08T12:00:00Z', 3)).toEqual(['2025-03-09T07:30:00.000Z', '2025-03-10T06:30:00.000Z', '2025-03-11T06:30:00.000Z']);
  });

  it('01:30 daily on the fall-back day (01:00–02:00 happens twice) fires once, at the first 01:30', () => {
    expect(daily('30 1 * * *', '2025-11-01T12:00:00Z', 3)).toEqual(['2025-11-02T05:30:00.000Z', '2025-11-03T06:30:00.000Z', '2025-11-04T06:30:00.000Z']);
  });

  it('09:00 daily stays at 09:00 local, moving from 14:00Z to 13:00Z', () => {
    expect(daily('0 9 * * *', '2025-03-08T12:00:00Z', 2)).toEqual(['2025-03-08T14:00:00.000Z', '2025-03-09T13:00:00.000Z']);
  });
});

describe('nextDue', () => {
  const anchor = Date.parse('2025-03-08T12:00:00.000Z');

  it.each<[string, When, string, string, string | undefined]>([
    ['a one-off has none', { delayMs: 1000 }, '2025-03-08T12:00:01Z', '2025-03-08T12:00:01Z', undefined],
    ['an interval keeps its grid', { everyMs: 60_000 }, '2025-03-08T12:01:00Z', '2025-03-08T12:01:00.040Z', '2025-03-08T12:02:00.000Z'],
    ['an interval after downtime resumes with the next step after now, no catch-up', { everyMs: 60_000 }, '2025-03-08T12:01:00Z', '2025-03-08T12:07:30Z', '2025-03-08T12:08:00.000Z'],
    ['a cron after downtime resumes with the next occurrence after now', { cron: '0 * * * *' }, '2025-03-08T13:00:00Z', '2025-03-08T17:20:00Z', '2025-03-08T18:00:00.000Z'],
    ['a cron run early (clock skew) still moves past its own due time', { cron: '0 * * * *' }, '2025-03-08T13:00:00Z', '2025-03-08T12:59:59.990Z', '2025-03-08T14:00:00.000Z'],
  ])('%s', (_what, when, due, now, expected) => {
    expect(iso(nextDue(when, anchor, Date.parse(due), Date.parse(now)))).toBe(expected);
  });
});
