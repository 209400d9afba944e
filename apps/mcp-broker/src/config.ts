import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8082 },
    /** Default longest wait on discovery at call start (ms). */
    DISCOVERY_BUDGET_MS: { type: 'integer', minimum: 0, default: 1500 },
    /** How long a server's tool list is trusted before a background refresh (s). */
    TOOLS_CACHE_TTL_S: { type: 'integer', minimum: 1, default: 300 },
    /** Default per-tool timeout (ms). */
    TOOL_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 10000 },
    /** More tools than this from one server are cut off with a warning. */
    MAX_TOOLS_PER_SERVER: { type: 'integer', minimum: 1, default: 256 },
    /** Largest tool result passed to the model (bytes). */
    MAX_RESULT_BYTES: { type: 'integer', minimum: 1024, default: 1048576 },
  },
} as const;

export type BrokerConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
