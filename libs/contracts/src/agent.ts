import type { FromSchema } from 'json-schema-to-ts';

/** Provider-safe function names accepted by model APIs. */
export const TOOL_NAME_PATTERN = '^[a-zA-Z0-9_-]{1,64}$';

/** A provider block: which adapter, which model, which voice, free-form provider options. */
const providerBlock = <const P extends readonly string[]>(providers: P) =>
  ({
    type: 'object',
    additionalProperties: false,
    required: ['provider'],
    properties: {
      /** Adapter family. `openai` is any OpenAI-compatible server (OpenAI, Groq, vLLM, Ollama, LocalAI). */
      provider: { type: 'string', enum: providers },
      /** Model name as the provider spells it. */
      model: { type: 'string', minLength: 1 },
      /** TTS voice id. */
      voice: { type: 'string', minLength: 1 },
      /** Spoken language hint (BCP 47), for STT. */
      language: { type: 'string' },
      /** Passed through to the provider request body. */
      options: { type: 'object', additionalProperties: true },
    },
  }) as const;

/** Speech-to-text: `openai` (a request per utterance) or `deepgram` (streaming). */
const sttProviderSchema = providerBlock(['openai', 'deepgram'] as const);
/** Language model: `openai` (chat completions) or `anthropic` (Messages API). */
const llmProviderSchema = providerBlock(['openai', 'anthropic'] as const);
/** Text-to-speech: `openai`, `elevenlabs` (streaming) or `espeak` (local, no network). */
const ttsProviderSchema = providerBlock(['openai', 'elevenlabs', 'espeak'] as const);

/** A webhook tool: the model's arguments are POSTed to `url` with the call context (Patter's model). */
export const webhookToolSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'description', 'url'],
  properties: {
    name: { type: 'string', pattern: TOOL_NAME_PATTERN },
    description: { type: 'string', minLength: 1 },
    /** JSON Schema of the arguments (root type object). */
    parameters: { type: 'object', additionalProperties: true },
    url: { type: 'string', minLength: 1 },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 120000 },
  },
} as const;

/** Per-tool overrides inside an MCP server entry. */
const mcpToolOptionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
    /** Whether caller barge-in cancels this tool (sends notifications/cancelled). */
    cancelOnBargeIn: { type: 'boolean' },
    /** After this long without a result the agent says a filler line once. */
    fillerAfterMs: { type: 'integer', minimum: 0 },
  },
} as const;

/** Full form of an MCP server entry; a bare URL string is shorthand for `{ url }` over streamable HTTP. */
export const mcpServerObjectSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Endpoint for streamable-http, sse and http-functions. */
    url: { type: 'string', minLength: 1 },
    /** Headers on every request; values may use `${ENV}` (at load) and `{{call.id}}`-style call context (per call). */
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    /** Name in logs and telemetry; defaults to `mcp[<index>]`. */
    name: { type: 'string', minLength: 1 },
    /** Namespace prepended to this server's tool names. */
    prefix: { type: 'string', pattern: '^[a-zA-Z0-9_-]{0,32}$' },
    transport: { type: 'string', enum: ['streamable-http', 'sse', 'stdio', 'http-functions'] },
    /** Only these tools are offered to the model. */
    allowedTools: { type: 'array', items: { type: 'string' } },
    /** Default per-tool timeout for this server (ms). */
    timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
    tools: { type: 'object', additionalProperties: mcpToolOptionsSchema },
    /** stdio transport: the command, its arguments, environment and working directory. */
    command: { type: 'string' },
    args: { type: 'array', items: { type: 'string' } },
    env: { type: 'object', additionalProperties: { type: 'string' } },
    cwd: { type: 'string' },
  },
} as const;

const hhmm = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' } as const;

/** One day's opening: closed, open all day, or a list of open intervals in the account's time zone. */
const dayHoursSchema = {
  anyOf: [
    { type: 'string', enum: ['closed', '24h'] },
    {
      type: 'array',
      minItems: 1,
      maxItems: 8,
      items: { type: 'object', additionalProperties: false, required: ['open', 'close'], properties: { open: hhmm, close: hhmm } },
    },
  ],
} as const;

/** Office hours of a persona (seed 001 `is_office_open`), evaluated in the account's IANA time zone. */
export const officeHoursSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Weekly pattern; a missing day is closed. */
    weekly: {
      type: 'object',
      additionalProperties: false,
      properties: { mon: dayHoursSchema, tue: dayHoursSchema, wed: dayHoursSchema, thu: dayHoursSchema, fri: dayHoursSchema, sat: dayHoursSchema, sun: dayHoursSchema },
    },
    /** Dates that replace the weekly pattern (closed unless `hours` says otherwise). */
    holidays: {
      type: 'array',
      maxItems: 366,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['date'],
        properties: { date: { type: 'string', pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }, name: { type: 'string' }, hours: dayHoursSchema },
      },
    },
  },
} as const;

/** Per-persona custom tools (seed 001 "Custom Tools"), each with its own name and description. */
export const customToolSchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'name', 'description', 'userId'],
      properties: {
        /** Transfers the call to a pre-configured user. */
        type: { const: 'transfer_to_user' },
        name: { type: 'string', pattern: TOOL_NAME_PATTERN },
        description: { type: 'string', minLength: 1 },
        userId: { type: 'string', minLength: 1 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'name', 'description', 'queueId'],
      properties: {
        /** Transfers the call to a pre-configured queue. */
        type: { const: 'transfer_to_queue' },
        name: { type: 'string', pattern: TOOL_NAME_PATTERN },
        description: { type: 'string', minLength: 1 },
        queueId: { type: 'string', minLength: 1 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'name', 'description', 'url'],
      properties: {
        /** Makes an HTTP request to an external API; `{{var}}` placeholders in the URL are filled (URL-encoded) from typed variables. */
        type: { const: 'api_request' },
        name: { type: 'string', pattern: TOOL_NAME_PATTERN },
        description: { type: 'string', minLength: 1 },
        url: { type: 'string', minLength: 1 },
        method: { type: 'string', enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] },
        headers: { type: 'object', additionalProperties: { type: 'string' } },
        variables: {
          type: 'array',
          maxItems: 32,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'type'],
            properties: {
              name: { type: 'string', pattern: '^[a-zA-Z_][a-zA-Z0-9_]{0,63}$' },
              type: { type: 'string', enum: ['text', 'number', 'options'] },
              description: { type: 'string' },
              options: { type: 'array', items: { type: 'string' }, minItems: 1 },
              required: { type: 'boolean' },
            },
          },
        },
        timeoutMs: { type: 'integer', minimum: 1, maximum: 60000 },
        maxResponseBytes: { type: 'integer', minimum: 1, maximum: 10485760 },
      },
    },
  ],
} as const;

export const agentDefinitionSchema = {
  $id: 'switchboard/agent-definition',
  type: 'object',
  additionalProperties: false,
  required: ['id', 'systemPrompt'],
  /** A pipeline needs either a speech-to-speech `engine` or all three of `stt`, `llm` and `tts`. */
  anyOf: [{ required: ['engine'] }, { required: ['stt', 'llm', 'tts'] }],
  properties: {
    /** Stable id; also the MCP `persona_id`. */
    id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,63}$' },
    /** The account (tenant) that owns the agent. */
    accountId: { type: 'string', minLength: 1, default: 'default' },
    name: { type: 'string' },
    /** E.164 numbers routed to this agent. */
    phoneNumbers: { type: 'array', items: { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' }, default: [] },
    systemPrompt: { type: 'string', minLength: 1 },
    /** Spoken as soon as the call connects. */
    firstMessage: { type: 'string' },
    stt: sttProviderSchema,
    llm: llmProviderSchema,
    tts: ttsProviderSchema,
    tools: { type: 'array', items: webhookToolSchema, default: [] },
    mcpServers: {
      type: 'array',
      items: { anyOf: [{ type: 'string', minLength: 1 }, mcpServerObjectSchema] },
      default: [],
    },
    /** Caller speech shorter than this does not interrupt the agent; 0 disables barge-in. */
    bargeIn: {
      type: 'object',
      additionalProperties: false,
      properties: { thresholdMs: { type: 'integer', minimum: 0, default: 300 } },
    },
    endpointing: {
      type: 'object',
      additionalProperties: false,
      properties: {
        minSilenceMs: { type: 'integer', minimum: 100, maximum: 5000 },
        maxSilenceMs: { type: 'integer', minimum: 100, maximum: 10000 },
      },
    },
    /** How many model→tool rounds one caller turn may take. */
    maxToolIterations: { type: 'integer', minimum: 1, maximum: 50, default: 10 },
    /** A speech-to-speech model instead of `stt`/`llm`/`tts` (e.g. OpenAI Realtime with audio/pcmu). */
    engine: {
      type: 'object',
      additionalProperties: false,
      required: ['provider'],
      properties: {
        provider: { type: 'string', enum: ['openai-realtime'] },
        model: { type: 'string', minLength: 1 },
        voice: { type: 'string', minLength: 1 },
        options: { type: 'object', additionalProperties: true },
      },
    },
    /** Default prompt variables (`{{name}}`); an outbound call's variables override them. */
    variables: { type: 'object', additionalProperties: { type: 'string' } },
    /** End-of-call summary, published with the call-ended event. */
    summary: {
      type: 'object',
      additionalProperties: false,
      properties: { enabled: { type: 'boolean', default: false }, prompt: { type: 'string' } },
    },
    /** Opening hours for `is_office_open`. */
    officeHours: officeHoursSchema,
    /** Per-persona tools served by the mcp-tool-server (transfer to user/queue, API request). */
    customTools: { type: 'array', items: customToolSchema, maxItems: 64 },
    /**
     * Dynamic tool selection (agtOS): above `maxTools` tools, each turn offers the model only the most
     * relevant ones (BM25 over the conversation, or embeddings), pinned tools and `discover_tools`.
     */
    toolSelection: {
      type: 'object',
      additionalProperties: false,
      properties: {
        /** Default 8. */
        maxTools: { type: 'integer', minimum: 1, maximum: 128 },
        /** Always offered (provider-safe or original names, `*` wildcards); call control is always pinned. */
        pinned: { type: 'array', items: { type: 'string' }, maxItems: 64 },
        /** Category → tool name patterns; a category named in the recent turns boosts its tools. */
        categories: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
        /** `bm25` (default) or `embeddings` (the broker's EMBEDDINGS_URL). */
        strategy: { type: 'string', enum: ['bm25', 'embeddings'] },
        /** `false` offers every tool whatever the count. */
        enabled: { type: 'boolean' },
      },
    },
  },
} as const;

export type AgentDefinition = FromSchema<typeof agentDefinitionSchema>;
export type McpServerObject = FromSchema<typeof mcpServerObjectSchema>;
export type McpServerEntry = string | McpServerObject;
export type WebhookTool = FromSchema<typeof webhookToolSchema>;

/** An MCP server entry after normalisation: the shorthand expanded, the name and transport set. */
export interface McpServerConfig extends McpServerObject {
  name: string;
  transport: 'streamable-http' | 'sse' | 'stdio' | 'http-functions';
  headers: Record<string, string>;
}

/** Expands URL shorthand and fills defaults (`name` = `mcp[<index>]`, transport streamable-http). */
export function normalizeMcpServers(entries: readonly McpServerEntry[]): McpServerConfig[] {
  return entries.map((entry, index) => {
    const obj: McpServerObject = typeof entry === 'string' ? { url: entry } : entry;
    return {
      ...obj,
      name: obj.name ?? `mcp[${index}]`,
      transport: obj.transport ?? 'streamable-http',
      headers: obj.headers ?? {},
    };
  });
}
