import { describe, expect, it } from 'vitest';
import type { CallStarted } from '@switchboard/contracts';
import { renderPrompt } from './call-session.ts';

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
    ['unknown placeholders left as they are', 'Hi {{customer_name}}, {{caller.number}} {{ no.such }}', call, 'Hi {{customer_name}}, +15557654321 {{ no.such }}'],
    ['not a placeholder', 'Braces {single} and {{has space}} and {{}} stay', call, 'Braces {single} and {{has space}} and {{}} stay'],
    ['no placeholders', 'Plain prompt.', call, 'Plain prompt.'],
  ])('%s', (_name, template, started, expected) => {
    expect(renderPrompt(template, started)).toBe(expected);
  });

  it('now is the current time in ISO 8601', () => {
    const before = Date.now();
    const out = renderPrompt('{{now}}', call);
    expect(out).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    expect(Date.parse(out)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(out)).toBeLessThanOrEqual(Date.now());
  });

  it('a variable value is inserted literally, not rendered again', () => {
    expect(renderPrompt('{{note}}', { ...call, variables: { note: '{{caller.number}} $& $1' } })).toBe('{{caller.number}} $& $1');
  });
});
