import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
    /** Agent files loaded into the Redis agent store at boot (a file's agent replaces the stored one with its id). */
    AGENTS_DIR: { type: 'string', default: 'config/agents' },
    /** Base URL of the OpenAI-compatible provider (OpenAI, Groq, vLLM, Ollama, LocalAI, the bundled fake). */
    OPENAI_BASE_URL: { type: 'string', default: 'https://api.openai.com/v1' },
    OPENAI_API_KEY: { type: 'string' },
    /** OpenAI Realtime WebSocket URL for agents with `engine: openai-realtime`. */
    OPENAI_REALTIME_URL: { type: 'string' },
    /** Deepgram streaming STT (`stt.provider: deepgram`). */
    DEEPGRAM_API_KEY: { type: 'string' },
    DEEPGRAM_URL: { type: 'string' },
    /** ElevenLabs streaming TTS (`tts.provider: elevenlabs`). */
    ELEVENLABS_API_KEY: { type: 'string' },
    ELEVENLABS_URL: { type: 'string' },
    /** Anthropic Messages API (`llm.provider: anthropic`). */
    ANTHROPIC_API_KEY: { type: 'string' },
    ANTHROPIC_BASE_URL: { type: 'string' },
    /** Longest a call start waits on MCP discovery (ms). */
    TOOL_DISCOVERY_BUDGET_MS: { type: 'integer', minimum: 0, default: 1500 },
    /** How long ended calls' transcripts, session state and metrics stay in Redis (s). */
    CALL_RETENTION_S: { type: 'integer', minimum: 60, default: 604800 },
    /** Voice activity detector: `silero` (falls back to `energy` when the model cannot load) or `energy`. */
    VAD: { type: 'string', enum: ['silero', 'energy'], default: 'silero' },
    /** Silero speech probability at which speech starts (it ends 0.15 lower). */
    VAD_THRESHOLD: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.5 },
    /** Default wait before a filler line while a tool runs (ms); per-tool `fillerAfterMs` overrides it. */
    FILLER_AFTER_MS: { type: 'integer', minimum: 0, default: 1000 },
    /** Webhook tools: per-attempt deadline unless the tool sets `timeoutMs` (ms). */
    WEBHOOK_TIMEOUT_MS: { type: 'integer', minimum: 1, default: 10000 },
    /** Webhook tools may reach private, loopback and link-local addresses. Development and tests only. */
    WEBHOOK_ALLOW_PRIVATE: { type: 'boolean', default: false },
    /** How long an idle text-chat session (`POST /v1/agents/:id/chat`) is kept (s). */
    CHAT_SESSION_TTL_S: { type: 'integer', minimum: 60, default: 3600 },
    /** Longest the end-of-call summary may take (ms). */
    SUMMARY_TIMEOUT_MS: { type: 'integer', minimum: 1000, default: 20000 },
  },
} as const;

export type OrchestratorConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
