import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
    AGENTS_DIR: { type: 'string', default: 'config/agents' },
    /** Base URL of the OpenAI-compatible provider (OpenAI, Groq, vLLM, Ollama, LocalAI, the bundled fake). */
    OPENAI_BASE_URL: { type: 'string', default: 'https://api.openai.com/v1' },
    OPENAI_API_KEY: { type: 'string' },
    /** Longest a call start waits on MCP tool discovery (ms). */
    TOOL_DISCOVERY_BUDGET_MS: { type: 'integer', minimum: 0, default: 1500 },
    /** How long ended calls' transcripts stay in Redis (s). */
    CALL_RETENTION_S: { type: 'integer', minimum: 60, default: 604800 },
  },
} as const;

export type OrchestratorConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
