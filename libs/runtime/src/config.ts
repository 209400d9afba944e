import { Ajv } from 'ajv';
import type { FromSchema, JSONSchema } from 'json-schema-to-ts';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';

/** Environment variables every service reads. */
export const baseEnvProperties = {
  /** NATS server URL. */
  NATS_URL: { type: 'string', default: 'nats://127.0.0.1:4222' },
  /** Redis URL. */
  REDIS_URL: { type: 'string', default: 'redis://127.0.0.1:6379' },
  /** pino level. */
  LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
  /** Interface the HTTP server binds. */
  HOST: { type: 'string', default: '0.0.0.0' },
  /** Instance id in logs, health and claims; defaults to host-pid. */
  INSTANCE_ID: { type: 'string' },
  /** How long SIGTERM waits for in-flight work before closing anyway. */
  DRAIN_TIMEOUT_MS: { type: 'integer', minimum: 0, default: 10000 },
} as const;

const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false });

/**
 * Parses the environment once at boot against a JSON schema (types coerced, defaults filled) into a
 * frozen object. A bad value throws one line naming every variable at fault.
 */
export function parseConfig<const S extends JSONSchema, T = FromSchema<S>>(schema: S, env: Record<string, string | undefined> = process.env): Readonly<T> {
  const props = (schema as { properties?: Record<string, unknown> }).properties ?? {};
  const picked: Record<string, unknown> = {};
  for (const key of Object.keys(props)) if (env[key] !== undefined && env[key] !== '') picked[key] = env[key];
  const validate = ajv.compile(schema as object);
  if (!validate(picked)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath.replace(/^\//, '') || (e.params as { missingProperty?: string }).missingProperty || 'env'} ${e.message ?? 'invalid'}`);
    throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `invalid configuration: ${problems.join('; ')}`);
  }
  return Object.freeze(picked) as Readonly<T>;
}
