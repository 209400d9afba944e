import { describe, expect, it } from 'vitest';
import type { CallStarted } from '@switchboard/contracts';
import { formatNow, functionReferences, renderPrompt } from './prompt.ts';

const call: CallStarted = {
  callId: 'call_render1',
  accountId: 'default',
  agentId: 'demo',
  direction: 'inbound',
  carrier: 'twilio',
  from: '+15557654321',
  to: '+15550001234',
  startedAt: '2025-06-01T12:00:00.000Z',
};

describe('renderPrompt', () => {
  it.each<[string, string, CallStarted, string]>([
    ['caller.number', 'The caller is {{caller.number}}.', call, 'The caller is +15557654321.'],
    ['call.direction', 'This is an {{call.direction}} call.', { ...call, direction: 'outbound' }, 'This is an outbound call.'],
    ['call.id', 'Call {{call.id}}', call, 'Call call_render1'],
    ['spaces inside the braces', '{{ caller.number }}|{{  call.direction}}', call, '+15557654321|inbound'],
    ['every occurrence', '{{caller.number}} {{caller.number}}', call, '+15557654321 +15557654321'],
    ['variables of an outbound call', 'Remind {{customer_name}} about {{appointment.time}}.', { ...call, variables: { customer_name: 'Ana', 'appointment.time': '3 pm' } }, 'Remind Ana about 3 pm.'],
    ['reserved dial variables', 'Goal: {{sb.goal}}', { ...call, variables: { 'sb.goal': 'confirm the appointment' } }, 'Goal: confirm the appointment'],
    ['unknown placeholders left as they are', 'Hi {{customer_name}}, {{caller.number}} {{ no.such }}', call, 'Hi {{customer_name}}, +15557654321 {{ no.such }}'],
    ['not a placeholder', 'Braces {single} and {{has space}} and {{}} stay', call, 'Braces {single} and {{has space}} and {{}} stay'],
    ['no placeholders', 'Plain prompt.', call, 'Plain prompt.'],
    ['a variable cannot impersonate the caller number', '{{caller.number}}', { ...call, variables: { 'caller.number': '+10000000000' } }, '+15557654321'],
  ])('%s', (_name, template, started, expected) => {
    expect(renderPrompt(template, started)).toBe(expected);
  });

  it("the agent's default variables apply unless the call overrides them", () => {
    const defaults = { company: 'Acme', greeting: 'Hello' };
    expect(renderPrompt('{{greeting}} from {{company}}', { ...call, variables: { greeting: 'Hi' } }, { defaults })).toBe('Hi from Acme');
  });

  it('a variable value is inserted literally, not rendered again', () => {
    expect(renderPrompt('{{note}}', { ...call, variables: { note: '{{caller.number}} $& $1 {{function.x()}}' } })).toBe('{{caller.number}} $& $1 {{function.x()}}');
  });

  it.each<[string, string, string]>([
    ['with arguments', 'Call {{function.check_order_status(order_id)}} first.', 'Call check_order_status(order_id) first.'],
    ['with several arguments and spaces', '- {{ function.process_return( order_id, reason ) }} - returns', '- process_return(order_id, reason) - returns'],
    ['without parentheses', 'Use {{function.hangup_call}} at the end.', 'Use hangup_call at the end.'],
    ['with empty parentheses', '{{function.hangup_call()}}', 'hangup_call()'],
  ])('renders {{function.…}} %s as a plain mention', (_name, template, expected) => {
    expect(renderPrompt(template, call)).toBe(expected);
  });

  it('mentions a function by the name the model is offered (prefixed MCP tools)', () => {
    expect(renderPrompt('Call {{function.check_order_status(order_id)}}.', call, { toolNames: new Map([['check_order_status', 'orders_check_order_status']]) })).toBe('Call orders_check_order_status(order_id).');
  });

  it('{{now}} is the time in the account zone with its offset, weekday and zone', () => {
    const at = new Date('2025-06-01T12:00:00.000Z');
    expect(renderPrompt('{{now}}', call, { now: at, timeZone: 'Europe/Berlin' })).toBe('2025-06-01T14:00:00+02:00 (Sunday, Europe/Berlin)');
    expect(renderPrompt('{{now}}', call, { now: at })).toBe('2025-06-01T12:00:00+00:00 (Sunday, UTC)');
  });
});

describe('formatNow', () => {
  it.each([
    ['America/New_York in winter', '2025-01-15T17:30:05.000Z', 'America/New_York', '2025-01-15T12:30:05-05:00 (Wednesday, America/New_York)'],
    ['Asia/Kolkata half-hour offset', '2025-01-15T17:30:05.000Z', 'Asia/Kolkata', '2025-01-15T23:00:05+05:30 (Wednesday, Asia/Kolkata)'],
    ['date change across the zone', '2025-01-15T23:30:00.000Z', 'Asia/Tokyo', '2025-01-16T08:30:00+09:00 (Thursday, Asia/Tokyo)'],
    ['an unknown zone falls back to UTC', '2025-01-15T17:30:05.000Z', 'Mars/Olympus', '2025-01-15T17:30:05+00:00 (Wednesday, UTC)'],
  ])('%s', (_name, iso, zone, expected) => {
    expect(formatNow(new Date(iso), zone)).toBe(expected);
  });
});

describe('functionReferences', () => {
  it('lists each referenced function once, in order', () => {
    const prompt = 'First {{function.lookup_customer(phone)}}, then {{function.check_order_status(order_id)}} and again {{function.lookup_customer(email)}}; {{function.hangup_call}}.';
    expect(functionReferences(prompt)).toEqual(['lookup_customer', 'check_order_status', 'hangup_call']);
  });

  it('ignores variables and malformed references', () => {
    expect(functionReferences('{{caller.number}} {{function.}} {{functions.x()}} {function.y()}')).toEqual([]);
  });
});
