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
    /** Requests per minute of the bootstrap key: the platform's own key, which the broker uses for every call. */
    BOOTSTRAP_RATE_PER_MIN: { type: 'integer', minimum: 1, maximum: 1000000, default: 6000 },
    /** Agent definitions: a `persona_id` must be an agent of the key's account. */
    AGENTS_DIR: { type: 'string', default: 'config/agents' },
    /** Workflow definitions for `workflow.run` (a missing directory means none). */
    WORKFLOWS_DIR: { type: 'string', default: 'config/workflows' },
    /** `stateless` (a fresh transport per request, JSON responses) or `session` (sessions and resumable SSE in Redis). */
    MCP_SESSION_MODE: { type: 'string', enum: ['stateless', 'session'], default: 'stateless' },
    /** Session mode: idle lifetime of a session and of its stored events. */
    MCP_SESSION_TTL_S: { type: 'integer', minimum: 10, maximum: 604800, default: 3600 },
    /** Session mode: how long a resumed stream waits for a request still running on another instance. */
    MCP_REPLAY_WAIT_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 30000 },
    /**
     * Browser origins allowed to call `/mcp` (comma-separated, `*` for any). A request with any other
     * `Origin` header gets 403 (DNS-rebinding protection); requests without one (servers, desktop
     * clients) are unaffected. Default: localhost origins only.
     */
    MCP_ALLOWED_ORIGINS: { type: 'string', default: 'http://localhost,https://localhost,http://127.0.0.1,https://127.0.0.1,http://[::1],https://[::1]' },
    /** Requests per minute per API key (token bucket, burst of one minute) unless the key sets its own. */
    RATE_LIMIT_PER_MIN: { type: 'integer', minimum: 1, maximum: 1000000, default: 100 },
    /** Enables `/admin/*` (keys, account settings, contacts, users, queues, leads) for `Authorization: Bearer <token>`. */
    ADMIN_TOKEN: { type: 'string', minLength: 16 },
    /** Region (ISO 3166 alpha-2) for phone numbers written without a country code. */
    DEFAULT_PHONE_REGION: { type: 'string', pattern: '^[A-Z]{2}$', default: 'US' },
    /** API request tools: longest a request may take, redirects included (a tool's `timeoutMs` may only lower it). */
    API_REQUEST_TIMEOUT_MS: { type: 'integer', minimum: 100, maximum: 60000, default: 10000 },
    /** API request tools: largest response body read (a tool's `maxResponseBytes` may only lower it). */
    API_REQUEST_MAX_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 1048576 },
    /** API request tools: comma-separated IPs or CIDRs allowed although private or loopback (e.g. an internal API). */
    API_REQUEST_ALLOW_IPS: { type: 'string', default: '' },
  },
} as const;

export type ToolServerConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}

/** stdio mode (`src/stdio.ts`): the same service configuration plus who is asking, from the environment. */
export const stdioConfigSchema = {
  type: 'object',
  additionalProperties: true,
  required: ['SWITCHBOARD_API_KEY', 'ACCOUNT_ID', 'PERSONA_ID'],
  properties: {
    ...configSchema.properties,
    /** stdio mode: the API key (checked against Redis like an `X-API-Key`). */
    SWITCHBOARD_API_KEY: { type: 'string', minLength: 1 },
    /** stdio mode: the `account_id` context; must be the key's account. */
    ACCOUNT_ID: { type: 'string', minLength: 1 },
    /** stdio mode: the `persona_id` context; an agent of that account. */
    PERSONA_ID: { type: 'string', minLength: 1 },
    /** stdio mode: the `call_id` context, for tools that act on a call (optional). */
    CALL_ID: { type: 'string', minLength: 1 },
    /** stdio mode: the `caller_id_number` context (optional). */
    CALLER_ID_NUMBER: { type: 'string', minLength: 1 },
  },
} as const;

export type StdioConfig = ReturnType<typeof loadStdioConfig>;

export function loadStdioConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(stdioConfigSchema, env);
}
