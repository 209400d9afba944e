import { describe, expect, it } from 'vitest';
import { scheduleCreateSchema } from '@switchboard/contracts';
import { describeErrors, validatorFor } from './validation.ts';

const base = { accountId: 'acme', name: 'n', when: { delayMs: 1000 } };

function problems(schema: object, value: unknown): string[] {
  const validate = validatorFor(schema);
  expect(validate(value)).toBe(false);
  return describeErrors(validate.errors);
}

/** Tagged unions (`oneOf` branches pinned by a `const` tag) report only what the caller got wrong. */
describe('describeErrors on a tagged union', () => {
  it.each([
    ['an unknown tag lists the allowed tags', { type: 'email', to: 'x' }, ['/action/type must be one of outbound_call, callback, publish, tool_call']],
    ['a known tag reports only its own branch', { type: 'publish', subject: 'foo.bar', payload: 1 }, ['/action/subject must match pattern "^evt(\\.[A-Za-z0-9_-]{1,64}){1,8}$"']],
    ['a missing field of the selected branch', { type: 'outbound_call', agentId: 'a' }, ["/action must have required property 'to'"]],
    ['an extra field of the selected branch', { type: 'publish', subject: 'evt.a', payload: {}, to: '+15550001111' }, ['/action must NOT have additional properties (to)']],
  ])('%s', (_what, action, expected) => {
    expect(problems(scheduleCreateSchema, { ...base, action })).toEqual(expected);
  });

  it('leaves a oneOf without const tags as ajv reports it', () => {
    const schema = { oneOf: [{ type: 'string' }, { type: 'number' }] };
    expect(problems(schema, true)).toEqual(['/ must be string', '/ must be number', '/ must match exactly one schema in oneOf']);
  });
});
