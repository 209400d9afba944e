import { describe, expect, it } from 'vitest';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { baseEnvProperties, parseConfig } from './index.ts';

const serviceSchema = {
  type: 'object',
  required: ['PUBLIC_URL'],
  properties: {
    ...baseEnvProperties,
    PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 4000 },
    PUBLIC_URL: { type: 'string', minLength: 1 },
    TWILIO_VALIDATE: { type: 'boolean', default: true },
    RATIO: { type: 'number', default: 0.5 },
  },
} as const;

function configError(env: Record<string, string | undefined>): SwitchboardError {
  try {
    parseConfig(serviceSchema, env);
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected parseConfig to throw');
}

describe('parseConfig', () => {
  it('fills every default', () => {
    expect(parseConfig(serviceSchema, { PUBLIC_URL: 'https://sb.example' })).toEqual({
      NATS_URL: 'nats://127.0.0.1:4222',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'info',
      HOST: '0.0.0.0',
      DRAIN_TIMEOUT_MS: 10000,
      PORT: 4000,
      PUBLIC_URL: 'https://sb.example',
      TWILIO_VALIDATE: true,
      RATIO: 0.5,
    });
  });

  it.each<[string, Record<string, string>, Record<string, unknown>]>([
    ['an integer', { PORT: '8080' }, { PORT: 8080 }],
    ['a number', { RATIO: '0.25' }, { RATIO: 0.25 }],
    ['false', { TWILIO_VALIDATE: 'false' }, { TWILIO_VALIDATE: false }],
    ['true', { TWILIO_VALIDATE: 'true' }, { TWILIO_VALIDATE: true }],
    ['zero', { DRAIN_TIMEOUT_MS: '0' }, { DRAIN_TIMEOUT_MS: 0 }],
    ['a string kept as is', { NATS_URL: 'nats://nats:4222' }, { NATS_URL: 'nats://nats:4222' }],
  ])('coerces %s from its environment string', (_what, env, expected) => {
    expect(parseConfig(serviceSchema, { PUBLIC_URL: 'https://sb.example', ...env })).toMatchObject(expected);
  });

  it('treats an empty variable as unset, so the default applies', () => {
    expect(parseConfig(serviceSchema, { PUBLIC_URL: 'https://sb.example', PORT: '', LOG_LEVEL: '' })).toMatchObject({ PORT: 4000, LOG_LEVEL: 'info' });
  });

  it('takes only the variables its schema names', () => {
    const config = parseConfig(serviceSchema, { PUBLIC_URL: 'https://sb.example', PATH: '/usr/bin', OPENAI_API_KEY: 'sk-secret' });
    expect(Object.keys(config)).not.toContain('PATH');
    expect(Object.keys(config)).not.toContain('OPENAI_API_KEY');
  });

  it('returns a frozen object', () => {
    const config = parseConfig(serviceSchema, { PUBLIC_URL: 'https://sb.example' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { PORT: number }).PORT = 1;
    }).toThrow(TypeError);
    expect(config.PORT).toBe(4000);
  });

  it.each<[string, Record<string, string>, string]>([
    ['a non-integer', { PORT: 'eighty' }, 'PORT must be integer'],
    ['a value out of range', { PORT: '70000' }, 'PORT must be <= 65535'],
    ['a negative drain timeout', { DRAIN_TIMEOUT_MS: '-1' }, 'DRAIN_TIMEOUT_MS must be >= 0'],
    ['a log level outside the enum', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL must be equal to one of the allowed values'],
    ['a non-boolean', { TWILIO_VALIDATE: 'yes please' }, 'TWILIO_VALIDATE must be boolean'],
  ])('refuses %s naming the variable', (_what, env, expected) => {
    const err = configError({ PUBLIC_URL: 'https://sb.example', ...env });
    expect(err.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(err.message).toBe(`invalid configuration: ${expected}`);
  });

  it('refuses a missing required variable naming it', () => {
    const err = configError({});
    expect(err.message).toMatch(/^invalid configuration: PUBLIC_URL /);
  });

  it('names every variable at fault in one line', () => {
    const err = configError({ PORT: 'x', LOG_LEVEL: 'loud' });
    expect(err.message).not.toContain('\n');
    for (const name of ['PUBLIC_URL', 'PORT', 'LOG_LEVEL']) expect(err.message).toContain(name);
  });

  it('does not read process.env values it was not given', () => {
    process.env.SB_TEST_ONLY_VAR = '1';
    try {
      const schema = { type: 'object', properties: { SB_TEST_ONLY_VAR: { type: 'integer', default: 7 } } } as const;
      expect(parseConfig(schema, {})).toEqual({ SB_TEST_ONLY_VAR: 7 });
      expect(parseConfig(schema)).toEqual({ SB_TEST_ONLY_VAR: 1 });
    } finally {
      delete process.env.SB_TEST_ONLY_VAR;
    }
  });
});
