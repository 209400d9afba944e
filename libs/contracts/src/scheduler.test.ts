import { describe, expect, it } from 'vitest';
import { contracts, platformEventDomains, scheduledEventSubject } from './index.ts';

describe('scheduler contracts', () => {
  it.each([['evt.reminder.due'], ['evt.crm.lead-42.followup'], ['evt.a_b.c-d']])('a publish action may use %s', (subject) => {
    expect(scheduledEventSubject(subject)).toBe(subject);
    expect(contracts.scheduledEvent.subject(subject)).toBe(subject);
  });

  it.each([
    ['a wildcard', 'evt.>'],
    ['a token wildcard', 'evt.*.due'],
    ['a command subject', 'cmd.media-gateway.dial'],
    ['audio', 'media.call-1.in'],
    ['the bare root', 'evt'],
    ['an empty token', 'evt..due'],
    ['a space', 'evt.due now'],
    ['nothing', undefined],
  ])('a publish action may not use %s', (_what, subject) => {
    expect(() => contracts.scheduledEvent.subject(subject)).toThrow('invalid scheduled event subject');
  });

  it('the platform event domains are those of the event contracts, not of scheduled publishes', () => {
    const domains = platformEventDomains(contracts);
    for (const d of ['call', 'transcript', 'tool', 'schedule']) expect(domains.has(d)).toBe(true);
    expect(domains.has('reminder')).toBe(false);
  });

  it.each([
    ['scheduleFired', 'evt.schedule.fired'],
    ['scheduleFailed', 'evt.schedule.failed'],
    ['scheduleSkipped', 'evt.schedule.skipped'],
  ] as const)('%s is on %s', (key, subject) => {
    expect(contracts[key].subject()).toBe(subject);
  });
});
