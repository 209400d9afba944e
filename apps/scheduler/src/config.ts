import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8083 },
    /** Agent definitions: schedules name agents, and a tool_call uses the agent's MCP server entry. */
    AGENTS_DIR: { type: 'string', default: 'config/agents' },
    /** BullMQ queue name (its keys live under `bull:<name>`, the schedule records under `sb:sched:<name>`). */
    SCHEDULER_QUEUE: { type: 'string', default: 'switchboard-schedules' },
    /** Runs one instance handles at once. Runs wait on the network (a dial waits for the gateway), so this is well above the core count. */
    SCHEDULER_CONCURRENCY: { type: 'integer', minimum: 1, default: 64 },
    /** A run that starts later than this after its due time was missed (no scheduler was up): its missedRunPolicy applies. */
    SCHEDULER_MISFIRE_THRESHOLD_MS: { type: 'integer', minimum: 100, default: 60000 },
    /** Attempts per run, the first included. */
    SCHEDULER_ATTEMPTS: { type: 'integer', minimum: 1, maximum: 20, default: 3 },
    /** First retry delay of a failed run; doubles with each retry. */
    SCHEDULER_BACKOFF_MS: { type: 'integer', minimum: 10, default: 2000 },
    /** Longest a dial or tool call of a run may take (a tool's own timeout from the agent file wins). */
    SCHEDULER_ACTION_TIMEOUT_MS: { type: 'integer', minimum: 100, default: 15000 },
    /** Largest action a schedule may carry, as JSON bytes. */
    SCHEDULER_MAX_ACTION_BYTES: { type: 'integer', minimum: 256, maximum: 524288, default: 65536 },
    /** An outbound run of an account at its concurrent-call cap looks again after this long. */
    SCHEDULER_OUTBOUND_RECHECK_MS: { type: 'integer', minimum: 100, default: 5000 },
    /** How long failed run jobs stay in the queue for inspection. */
    SCHEDULER_KEEP_FAILED_S: { type: 'integer', minimum: 0, default: 604800 },
  },
} as const;

export type SchedulerConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
