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
    /** A cached tool list older than this is not served at call start without asking the server (within the budget) (s). */
    TOOLS_CACHE_MAX_STALE_S: { type: 'integer', minimum: 1, default: 3600 },
    /** Default per-tool timeout (ms). */
    TOOL_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 10000 },
    /** More tools than this from one server are cut off with a warning. */
    MAX_TOOLS_PER_SERVER: { type: 'integer', minimum: 1, default: 256 },
    /** Largest tool result passed to the model (bytes). */
    MAX_RESULT_BYTES: { type: 'integer', minimum: 1024, default: 1048576 },
    /** Longest an MCP connect (initialize handshake) may take (ms). */
    CONNECT_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 5000 },
    /** Longest one server's tools/list (all pages) may take in the background (ms). */
    LIST_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 10000 },
    /** Consecutive failures of a server that open its circuit. */
    BREAKER_FAILURE_THRESHOLD: { type: 'integer', minimum: 1, default: 3 },
    /** First wait before a half-open probe of an open circuit (ms); doubles per failed probe. */
    BREAKER_COOLDOWN_MS: { type: 'integer', minimum: 1, default: 5000 },
    /** Longest wait between probes of a server that stays down (ms). */
    BREAKER_MAX_COOLDOWN_MS: { type: 'integer', minimum: 1, default: 60000 },
    /** Tool calls still running this long after their call ended are cancelled (ms). */
    CANCEL_GRACE_MS: { type: 'integer', minimum: 0, default: 1500 },
    /** AES-256-GCM key (base64, 32 bytes) for registered servers' header secrets; without it only header-less servers can be registered. */
    SECRETS_KEY: { type: 'string' },
    /** Agent files, read for the attach-time collision check. */
    AGENTS_DIR: { type: 'string', default: 'config/agents' },
    /** How long attaching a server waits to list the agent's servers for the collision check (ms). */
    ATTACH_CHECK_BUDGET_MS: { type: 'integer', minimum: 0, default: 5000 },
    /** OpenAI-compatible base URL (`…/v1`) for embeddings ranking in tool selection; unset: BM25 only. */
    EMBEDDINGS_URL: { type: 'string' },
    EMBEDDINGS_MODEL: { type: 'string', default: 'text-embedding-3-small' },
    EMBEDDINGS_API_KEY: { type: 'string' },
    /** Longest an embeddings request may take before the turn falls back to BM25 (ms). */
    EMBEDDINGS_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 800 },
  },
} as const;

export type BrokerConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
