import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    /** Streamable HTTP port (`POST /mcp`). */
    MCP_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 4100 },
    /** Largest accepted request body (bytes); larger gets 413. */
    MCP_MAX_BODY_BYTES: { type: 'integer', minimum: 1024, default: 1048576 },
    /** A key to store (hashed) at boot, so a fresh deployment has one working key. */
    BOOTSTRAP_API_KEY: { type: 'string', minLength: 16 },
    /** The account the bootstrap key belongs to. */
    BOOTSTRAP_ACCOUNT_ID: { type: 'string', default: 'default' },
  },
} as const;

export type ToolServerConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
