import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8083 },
    /** BullMQ queue name (its keys live under `bull:<name>`). */
    SCHEDULER_QUEUE: { type: 'string', default: 'switchboard-schedules' },
    /** Jobs one instance runs at once. */
    SCHEDULER_CONCURRENCY: { type: 'integer', minimum: 1, default: 16 },
  },
} as const;

export type SchedulerConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
