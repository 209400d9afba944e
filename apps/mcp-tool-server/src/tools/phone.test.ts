import { describe, expect, it } from 'vitest';
import { toE164 } from './phone.ts';

describe('toE164', () => {
  it.each([
    ['+15551234567', 'US', '+15551234567'],
    ['(555) 123-4567', 'US', '+15551234567'],
    ['555.123.4567', 'US', '+15551234567'],
    ['1-555-123-4567', 'US', '+15551234567'],
    ['+44 20 7946 0958', 'US', '+442079460958'],
    ['020 7946 0958', 'GB', '+442079460958'],
    ['0044 20 7946 0958', 'DE', '+442079460958'],
    ['030 1234567', 'DE', '+49301234567'],
    [' +1 (555) 123 4567 ', 'GB', '+15551234567'],
  ])('%j in %s is %s', (input, region, expected) => {
    expect(toE164(input, region)).toBe(expected);
  });

  it.each(['', 'abc', '12', '+', 'sip:agent@example.com', '1'.repeat(60)])('refuses %j', (input) => {
    expect(toE164(input, 'US')).toBeUndefined();
  });
});
