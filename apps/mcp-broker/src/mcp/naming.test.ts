import { describe, expect, it } from 'vitest';
import { PROVIDER_NAME, globToRegExp, providerSafeName } from './naming.ts';

describe('providerSafeName', () => {
  it.each([
    ['check_order_status', undefined, 'check_order_status'],
    ['orders.lookup', undefined, 'orders_lookup'],
    ['billing/get invoice', undefined, 'billing_get_invoice'],
    ['set_temperature', 'home', 'home_set_temperature'],
    ['voice.speak', 'agtos', 'agtos_voice_speak'],
    ['', undefined, 'tool'],
  ])('maps %j (prefix %j) to %j', (name, prefix, expected) => {
    expect(providerSafeName(name, prefix)).toBe(expected);
  });

  it('keeps two long names with a common beginning distinct and within 64 characters', () => {
    const a = providerSafeName(`long_${'x'.repeat(70)}_a`);
    const b = providerSafeName(`long_${'x'.repeat(70)}_b`);
    expect(a).not.toBe(b);
    for (const n of [a, b]) {
      expect(n).toMatch(PROVIDER_NAME);
      expect(n).toHaveLength(64);
      expect(n.startsWith(`long_${'x'.repeat(52)}_`)).toBe(true);
    }
    expect(providerSafeName(`long_${'x'.repeat(70)}_a`)).toBe(a);
  });
});

describe('globToRegExp', () => {
  it.each([
    ['hangup_call', 'hangup_call', true],
    ['*_hangup_call', 'switchboard_hangup_call', true],
    ['calendar_*', 'calendar_create_event', true],
    ['calendar_*', 'crm_calendar', false],
    ['a.b', 'aXb', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(globToRegExp(pattern).test(name)).toBe(expected);
  });
});
