import { describe, expect, it } from 'vitest';
import { officeState, type OfficeHours } from './office-hours.ts';

const nineToFive = [{ open: '09:00', close: '17:00' }];
const hours: OfficeHours = {
  weekly: {
    mon: nineToFive,
    tue: nineToFive,
    wed: [{ open: '09:00', close: '12:00' }, { open: '13:00', close: '17:00' }],
    thu: nineToFive,
    fri: [{ open: '22:00', close: '02:00' }],
    sat: '24h',
    sun: 'closed',
  },
  holidays: [
    { date: '2025-12-25', name: 'Christmas' },
    { date: '2025-12-24', name: 'Christmas Eve', hours: [{ open: '09:00', close: '12:00' }] },
    { date: '2026-01-01', name: 'New Year', hours: '24h' },
  ],
};

describe('officeState', () => {
  // 2025-03-10 is a Monday; New York is UTC-4 from 2025-03-09 (DST), Berlin UTC+1 until 2025-03-30.
  it.each([
    ['Monday 08:59 New York', '2025-03-10T12:59:00Z', 'America/New_York', 'closed', 'Office is currently closed'],
    ['Monday 09:00 New York', '2025-03-10T13:00:00Z', 'America/New_York', 'open', 'Office is currently open'],
    ['Monday 16:59 New York', '2025-03-10T20:59:00Z', 'America/New_York', 'open', 'Office is currently open'],
    ['Monday 17:00 New York (close is exclusive)', '2025-03-10T21:00:00Z', 'America/New_York', 'closed', 'Office is currently closed'],
    ['Wednesday lunch break', '2025-03-12T16:30:00Z', 'America/New_York', 'closed', 'Office is currently closed'],
    ['Wednesday afternoon', '2025-03-12T17:30:00Z', 'America/New_York', 'open', 'Office is currently open'],
    ['Sunday', '2025-03-16T15:00:00Z', 'America/New_York', 'closed_today', 'Office is closed today'],
    ['Saturday', '2025-03-15T03:00:00Z', 'Europe/Berlin', 'open_24h', 'Office is open 24 hours today'],
    ['Friday 23:00 overnight shift', '2025-03-14T22:00:00Z', 'Europe/Berlin', 'open', 'Office is currently open'],
    ['Saturday 01:30 is still Friday night… but Saturday is 24h anyway', '2025-03-15T00:30:00Z', 'Europe/Berlin', 'open_24h', 'Office is open 24 hours today'],
    ['Christmas (holiday, closed)', '2025-12-25T15:00:00Z', 'Europe/Berlin', 'closed_today', 'Office is closed today'],
    ['Christmas Eve morning (holiday hours)', '2025-12-24T09:00:00Z', 'Europe/Berlin', 'open', 'Office is currently open'],
    ['Christmas Eve afternoon', '2025-12-24T14:00:00Z', 'Europe/Berlin', 'closed', 'Office is currently closed'],
    ['New Year (holiday open all day, a Thursday)', '2026-01-01T22:00:00Z', 'Europe/Berlin', 'open_24h', 'Office is open 24 hours today'],
  ])('%s', (_name, at, tz, status, message) => {
    const s = officeState(hours, tz, new Date(at));
    expect(s.status).toBe(status);
    expect(s.message).toBe(message);
    expect(s.timeZone).toBe(tz);
  });

  it('runs an overnight interval past midnight into a closed day', () => {
    const h: OfficeHours = { weekly: { fri: [{ open: '22:00', close: '02:00' }], sat: 'closed' } };
    // Saturday 01:30 in Berlin (UTC+1): Friday's shift is still on.
    expect(officeState(h, 'Europe/Berlin', new Date('2025-03-15T00:30:00Z')).status).toBe('open');
    // Saturday 02:00: it has ended, and Saturday is closed.
    expect(officeState(h, 'Europe/Berlin', new Date('2025-03-15T01:00:00Z')).status).toBe('closed_today');
  });

  it('follows the DST change: the same UTC instant is 08:30 before and 09:30 after', () => {
    const h: OfficeHours = { weekly: { sun: nineToFive, mon: nineToFive } };
    // 13:30 UTC on Monday 2025-03-03 is 08:30 EST (closed); on Monday 2025-03-10 it is 09:30 EDT (open).
    expect(officeState(h, 'America/New_York', new Date('2025-03-03T13:30:00Z'))).toMatchObject({ status: 'closed', localTime: '2025-03-03T08:30' });
    expect(officeState(h, 'America/New_York', new Date('2025-03-10T13:30:00Z'))).toMatchObject({ status: 'open', localTime: '2025-03-10T09:30' });
  });

  it('reads the date in the account zone: late Sunday in Los Angeles is already Monday in UTC', () => {
    const h: OfficeHours = { weekly: { sun: 'closed', mon: '24h' } };
    const at = new Date('2025-03-10T02:00:00Z'); // Sunday 19:00 PDT
    expect(officeState(h, 'America/Los_Angeles', at).status).toBe('closed_today');
    expect(officeState(h, 'UTC', at).status).toBe('open_24h');
  });

  it('treats a missing weekday as closed and 24:00 as the end of the day', () => {
    const h: OfficeHours = { weekly: { mon: [{ open: '18:00', close: '24:00' }] } };
    expect(officeState(h, 'UTC', new Date('2025-03-10T23:59:00Z')).status).toBe('open');
    expect(officeState(h, 'UTC', new Date('2025-03-11T10:00:00Z')).status).toBe('closed_today');
  });

  it('names the holiday', () => {
    expect(officeState(hours, 'UTC', new Date('2025-12-25T10:00:00Z')).holiday).toBe('Christmas');
  });

  it('throws RangeError for an unknown zone', () => {
    expect(() => officeState(hours, 'Mars/Olympus', new Date())).toThrow(RangeError);
  });
});
