import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TTS_SAMPLE_RATE, synthesizeVoice, wavDurationSeconds, wavHeader } from './audio.ts';
import { ChatScript, isRecord, planReply, randomId } from './chat.ts';
import type { ChatMessage, PlannedReply } from './chat.ts';
import { MultipartError, multipartBoundary, parseMultipart } from './multipart.ts';

/** A tool call the scripted model makes. */
export interface ScriptedToolCall {
  /** Function name, sent as `function.name`. */
  name: string;
  /** Arguments, sent JSON-encoded as `function.arguments` in 2-3 streamed fragments. */
  arguments: Record<string, unknown>;
}

/**
 * One line of the scripted model. A rule with several conditions needs all of them; a rule with
 * none matches every request. Because `whenUser` looks at the last user message, it still matches
 * on the follow-up request that carries the tool result: list `afterTool` rules before the
 * `whenUser` rule that calls the tool, or give that rule `times`.
 */
export interface ScriptRule {
  /** Matches when the last message with role 'user' contains this (case-insensitive substring) or matches this regex source when written /like this/. */
  whenUser?: string;
  /** Matches when the last message is a tool result ('tool' role) for this tool name (found via tool_call_id → the assistant tool_calls). */
  afterTool?: string;
  /** Reply text; may contain {{tool}} (the last tool message content) and {{tool.some.path}} (a path into that content parsed as JSON; missing → ''). */
  say?: string;
  /** Tool calls made after the text, in order, in the same response. */
  toolCalls?: ScriptedToolCall[];
  /** Use at most this many times (default unlimited). */
  times?: number;
}

/** Artificial delays, all in milliseconds, all 0 when absent. */
export interface FakeOpenAILatency {
  /** Chat: from request to the first chunk (streaming) or to the response (plain). */
  chatTtftMs?: number;
  /** Chat: between consecutive streamed deltas. */
  chatTokenMs?: number;
  /** Transcription: from request to response. */
  sttMs?: number;
  /** Speech: from request to the response headers and first audio bytes. */
  ttsTtfbMs?: number;
}

export interface FakeOpenAIOptions {
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** Listen port, default 0 (any free port; read it back from `url`). */
  port?: number;
  /** When set, requests without `Authorization: Bearer <apiKey>` get 401 with the OpenAI error body. */
  apiKey?: string;
  /** First matching rule wins; no match → say `fallbackReply`. */
  rules?: ScriptRule[];
  /** Reply when no rule matches, default "Sorry, I did not catch that.". */
  fallbackReply?: string;
  /** Queue consumed by /v1/audio/transcriptions, one per request; empty queue → "". */
  transcripts?: string[];
  latency?: FakeOpenAILatency;
  /** Duration of synthesized speech per input character, default 45 ms. */
  ttsMsPerChar?: number;
}

/** The endpoints whose failures can be scripted. */
export type FakeOpenAIEndpoint = 'chat' | 'stt' | 'tts';

export interface FakeOpenAI {
  /** Base URL including /v1, e.g. http://127.0.0.1:53211/v1. */
  url: string;
  /**
   * Authenticated requests per endpoint, whatever their outcome; `errors` counts every error the fake
   * produced (4xx, 5xx, injected status and dropped connection), across all paths.
   */
  counters: { chat: number; stt: number; tts: number; errors: number };
  /**
   * Requests that passed validation, in arrival order (including ones then failed by `failNext`):
   * chat and tts hold the parsed JSON bodies.
   */
  requests: { chat: unknown[]; stt: Array<{ model: string; bytes: number; filename: string }>; tts: unknown[] };
  /** Replaces the rules; `times` counts start again from zero. */
  setRules(rules: ScriptRule[]): void;
  pushTranscripts(...t: string[]): void;
  /**
   * The next `count` (default 1) valid requests to `endpoint` fail: with an HTTP status and OpenAI
   * error body, or by closing the socket mid-stream ('drop'): after the response headers and the
   * first bytes of the body. A request rejected with 400 does not use up an injected failure.
   */
  failNext(endpoint: FakeOpenAIEndpoint, how: { status: number } | 'drop', count?: number): void;
  /** Replaces all latency settings; omitted fields become 0. */
  setLatency(l: FakeOpenAIOptions['latency']): void;
  /** Stops listening and closes every open connection, ending streams in flight. */
  close(): Promise<void>;
}

const DEFAULT_FALLBACK = 'Sorry, I did not catch that.';
const DEFAULT_TTS_MS_PER_CHAR = 45;
/** OpenAI's upload limit for audio files. */
const MAX_BODY_BYTES = 25 * 1024 * 1024;
/** OpenAI's limit on `input` of /v1/audio/speech. */
const MAX_TTS_INPUT = 4096;
/** Speech is sent in chunks of this much audio. */
const TTS_CHUNK_MS = 100;

const MODELS = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1-mini',
  'gpt-4o-mini-transcribe',
  'gpt-4o-transcribe',
  'whisper-1',
  'gpt-4o-mini-tts',
  'tts-1',
];
const CHAT_ROLES = ['system', 'developer', 'user', 'assistant', 'tool', 'function'];
const STT_FORMATS = ['json', 'text', 'verbose_json'];

/** An error answered with its status and an OpenAI error body; anything else thrown becomes 500. */
class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: string = errorType(status),
  ) {
    super(message);
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => Promise<void>;
type Failure = { status: number } | 'drop';

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const script = new ChatScript(opts.rules ?? [], opts.fallbackReply ?? DEFAULT_FALLBACK);
  const transcripts = [...(opts.transcripts ?? [])];
  const failures: Record<FakeOpenAIEndpoint, Failure[]> = { chat: [], stt: [], tts: [] };
  let latency = checkLatency(opts.latency);
  const ttsMsPerChar = opts.ttsMsPerChar ?? DEFAULT_TTS_MS_PER_CHAR;
  const systemFingerprint = `fp_${randomBytes(5).toString('hex')}`;
  const counters = { chat: 0, stt: 0, tts: 0, errors: 0 };
  const requests: FakeOpenAI['requests'] = { chat: [], stt: [], tts: [] };

  const wait = async (ms: number | undefined, signal: AbortSignal): Promise<void> => {
    if (ms && ms > 0) await sleep(ms, undefined, { signal });
  };

  const sendError = (res: ServerResponse, err: HttpError): void => {
    counters.errors++;
    const body = JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.code } });
    res.writeHead(err.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      'x-request-id': requestId(),
    });
    res.end(body);
  };

  /** Sends a real-looking start of the response, then destroys the socket once those bytes are out. */
  const drop = async (res: ServerResponse, contentType: string, firstBytes: string | Buffer, declaredLength?: number): Promise<void> => {
    counters.errors++;
    const headers: Record<string, string | number> = { 'content-type': contentType, 'x-request-id': requestId() };
    if (declaredLength !== undefined) headers['content-length'] = declaredLength;
    res.writeHead(200, headers);
    await new Promise<void>((resolve) => res.write(firstBytes, () => resolve()));
    res.destroy();
  };

  const takeFailure = (endpoint: FakeOpenAIEndpoint): Failure | undefined => failures[endpoint].shift();

  const chat: Handler = async (req, res, signal) => {
    counters.chat++;
    const body = parseJson(await readBody(req));
    const chatRequest = validateChat(body);
    requests.chat.push(body);
    const id = `chatcmpl-${randomId(29)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: chatRequest.model,
        system_fingerprint: systemFingerprint,
        choices,
        ...(chatRequest.includeUsage ? { usage: null } : {}),
        ...extra,
      })}\n\n`;
    const choice = (delta: Record<string, unknown>, finishReason: string | null = null): unknown => ({
      index: 0,
      delta,
      logprobs: null,
      finish_reason: finishReason,
    });

    const failure = takeFailure('chat');
    if (failure !== undefined && failure !== 'drop') throw injectedError(failure.status);
    if (failure === 'drop') {
      if (chatRequest.stream) {
        return drop(res, 'text/event-stream; charset=utf-8', chunk([choice({ role: 'assistant', content: '', refusal: null })]));
      }
      return drop(res, 'application/json', `{"id":"${id}","object":"chat.completion",`, 600);
    }

    const plan = planReply(script.reply(chatRequest.messages), chatRequest.messages);
    if (!chatRequest.stream) {
      await wait(latency.chatTtftMs, signal);
      await wait((latency.chatTokenMs ?? 0) * Math.max(0, plan.deltas.length - 1), signal);
      const out = JSON.stringify(completionObject(id, created, chatRequest.model, systemFingerprint, plan));
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out), 'x-request-id': requestId() });
      res.end(out);
      return;
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-request-id': requestId(),
    });
    res.flushHeaders();
    await wait(latency.chatTtftMs, signal);
    const roleContent = plan.text === '' && plan.toolCalls.length > 0 ? null : '';
    res.write(chunk([choice({ role: 'assistant', content: roleContent, refusal: null })]));
    for (const [i, delta] of plan.deltas.entries()) {
      if (i > 0) await wait(latency.chatTokenMs, signal);
      if (res.destroyed) return;
      res.write(chunk([choice(delta)]));
    }
    res.write(chunk([choice({}, plan.finishReason)]));
    if (chatRequest.includeUsage) res.write(chunk([], { usage: plan.usage }));
    res.end('data: [DONE]\n\n');
  };

  const stt: Handler = async (req, res, signal) => {
    counters.stt++;
    const form = parseTranscriptionForm(req.headers['content-type'], await readBody(req));
    requests.stt.push({ model: form.model, bytes: form.file.length, filename: form.filename });
    const failure = takeFailure('stt');
    if (failure !== undefined && failure !== 'drop') throw injectedError(failure.status);
    if (failure === 'drop') return drop(res, 'application/json', '{"text":', 64);
    await wait(latency.sttMs, signal);
    const text = transcripts.shift() ?? '';
    let out: string;
    let contentType = 'application/json';
    if (form.responseFormat === 'text') {
      out = text;
      contentType = 'text/plain; charset=utf-8';
    } else if (form.responseFormat === 'verbose_json') {
      const duration = wavDurationSeconds(form.file) ?? 0;
      out = JSON.stringify({
        task: 'transcribe',
        language: form.language ?? 'english',
        duration,
        text,
        segments: [{ id: 0, seek: 0, start: 0, end: duration, text, tokens: [], temperature: 0, avg_logprob: -0.2, compression_ratio: 1, no_speech_prob: text ? 0.01 : 0.9 }],
      });
    } else {
      out = JSON.stringify({ text });
    }
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(out), 'x-request-id': requestId() });
    res.end(out);
  };

  const tts: Handler = async (req, res, signal) => {
    counters.tts++;
    const body = parseJson(await readBody(req));
    const speech = validateSpeech(body);
    requests.tts.push(body);
    const failure = takeFailure('tts');
    if (failure !== undefined && failure !== 'drop') throw injectedError(failure.status);
    const contentType = speech.format === 'wav' ? 'audio/wav' : 'audio/pcm';
    const pcm = synthesizeVoice((speech.input.length * ttsMsPerChar) / speech.speed);
    const chunkBytes = ((TTS_SAMPLE_RATE * TTS_CHUNK_MS) / 1000) * 2;
    if (failure === 'drop') return drop(res, contentType, pcm.subarray(0, chunkBytes));
    await wait(latency.ttsTtfbMs, signal);
    res.writeHead(200, { 'content-type': contentType, 'transfer-encoding': 'chunked', 'x-request-id': requestId() });
    if (speech.format === 'wav') res.write(wavHeader(pcm.length));
    for (let offset = 0; offset < pcm.length; offset += chunkBytes) {
      if (res.destroyed) return;
      if (!res.write(pcm.subarray(offset, offset + chunkBytes))) {
        await new Promise<void>((resolve) => {
          res.once('drain', resolve);
          res.once('close', resolve);
        });
      }
    }
    res.end();
  };

  const models: Handler = async (_req, res) => {
    const out = JSON.stringify({
      object: 'list',
      data: MODELS.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'system' })),
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  };

  const routes: Record<string, Handler> = {
    'POST /v1/chat/completions': chat,
    'POST /v1/audio/transcriptions': stt,
    'POST /v1/audio/speech': tts,
    'GET /v1/models': models,
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> => {
    if (opts.apiKey !== undefined) checkAuth(req.headers.authorization, opts.apiKey);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = routes[`${req.method} ${path.replace(/\/+$/, '')}`];
    if (!route) throw new HttpError(404, `Invalid URL (${req.method} ${path})`);
    await route(req, res, signal);
  };

  const server = createServer((req, res) => {
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    handle(req, res, controller.signal).catch((err: unknown) => {
      // The client went away or close() ended the connection: nobody is left to answer.
      if (controller.signal.aborted || res.destroyed) return;
      const httpError =
        err instanceof HttpError
          ? err
          : new HttpError(500, 'The server had an error while processing your request. Sorry about that!', null, null, 'server_error');
      if (res.headersSent) {
        counters.errors++;
        res.destroy();
        return;
      }
      sendError(res, httpError);
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;

  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}/v1`,
    counters,
    requests,
    setRules: (rules) => script.setRules(rules),
    pushTranscripts: (...t) => void transcripts.push(...t),
    failNext: (endpoint, how, count = 1) => {
      if (how !== 'drop' && !(Number.isInteger(how.status) && how.status >= 400 && how.status <= 599)) {
        throw new RangeError(`failNext status must be an HTTP error status (400-599), got ${how.status}`);
      }
      for (let i = 0; i < count; i++) failures[endpoint].push(how);
    },
    setLatency: (l) => {
      latency = checkLatency(l);
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function checkLatency(l: FakeOpenAILatency | undefined): FakeOpenAILatency {
  for (const [key, value] of Object.entries(l ?? {})) {
    if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`latency.${key} must be a non-negative number of milliseconds, got ${String(value)}`);
    }
  }
  return { ...l };
}

function errorType(status: number): string {
  if (status === 429) return 'requests';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function injectedError(status: number): HttpError {
  if (status === 429) {
    return new HttpError(429, 'Rate limit reached for requests (injected by fake-openai).', null, 'rate_limit_exceeded');
  }
  if (status === 503) return new HttpError(503, 'The engine is currently overloaded, please try again later.');
  if (status >= 500) return new HttpError(status, 'The server had an error while processing your request. Sorry about that!');
  return new HttpError(status, `Injected failure with status ${status} (fake-openai failNext).`);
}

function checkAuth(header: string | undefined, apiKey: string): void {
  if (!header) {
    throw new HttpError(
      401,
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
    );
  }
  const key = /^Bearer\s+(.*)$/i.exec(header)?.[1]?.trim();
  if (key !== apiKey) {
    const shown = key && key.length > 8 ? `${key.slice(0, 3)}***${key.slice(-4)}` : '***';
    throw new HttpError(
      401,
      `Incorrect API key provided: ${shown}. You can find your API key at https://platform.openai.com/account/api-keys.`,
      null,
      'invalid_api_key',
    );
  }
}

function requestId(): string {
  return `req_${randomBytes(16).toString('hex')}`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `Request body exceeds ${MAX_BODY_BYTES} bytes.`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function parseJson(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw new HttpError(
      400,
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    );
  }
}

function missing(param: string): HttpError {
  return new HttpError(400, `Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

function invalidType(param: string, expected: string, got: unknown): HttpError {
  const shown = JSON.stringify(got) ?? String(got);
  return new HttpError(400, `Invalid type for '${param}': expected ${expected}, but got ${shown.slice(0, 80)} instead.`, param, 'invalid_type');
}

interface ChatRequest {
  model: string;
  messages: ChatMessage[];
  stream: boolean;
  includeUsage: boolean;
}

/** Checks what OpenAI checks that an adapter can get wrong, including the tool-call/tool-result pairing. */
function validateChat(body: unknown): ChatRequest {
  if (!isRecord(body)) throw new HttpError(400, 'The request body must be a JSON object.');
  if (body.model === undefined) throw new HttpError(400, 'you must provide a model parameter', null, null);
  if (typeof body.model !== 'string' || body.model === '') throw invalidType('model', 'a string', body.model);
  if (body.messages === undefined) throw missing('messages');
  if (!Array.isArray(body.messages)) throw invalidType('messages', 'an array', body.messages);
  if (body.messages.length === 0) throw new HttpError(400, "[] is too short - 'messages'", 'messages', 'empty_array');
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean') {
    throw invalidType('stream', 'a boolean', body.stream);
  }
  const messages = body.messages as unknown[];
  let unanswered: Set<string> | undefined;
  let callerIndex = -1;
  const checkAnswered = (): void => {
    if (unanswered && unanswered.size > 0) {
      throw new HttpError(
        400,
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...unanswered].join(', ')}`,
        `messages.[${callerIndex}].role`,
      );
    }
  };
  messages.forEach((m, i) => {
    if (!isRecord(m)) throw invalidType(`messages.[${i}]`, 'an object', m);
    if (typeof m.role !== 'string') throw missing(`messages.[${i}].role`);
    if (!CHAT_ROLES.includes(m.role)) {
      throw new HttpError(400, `Invalid value: '${m.role}'. Supported values are: ${CHAT_ROLES.map((r) => `'${r}'`).join(', ')}.`, `messages.[${i}].role`, 'invalid_value');
    }
    if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string') throw missing(`messages.[${i}].tool_call_id`);
      if (!unanswered?.delete(m.tool_call_id)) {
        throw new HttpError(
          400,
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        );
      }
      return;
    }
    checkAnswered();
    unanswered = undefined;
    if (m.role === 'assistant' && m.tool_calls !== undefined && m.tool_calls !== null) {
      if (!Array.isArray(m.tool_calls)) throw invalidType(`messages.[${i}].tool_calls`, 'an array', m.tool_calls);
      unanswered = new Set();
      callerIndex = i;
      (m.tool_calls as unknown[]).forEach((call, j) => {
        const param = `messages.[${i}].tool_calls.[${j}]`;
        if (!isRecord(call) || typeof call.id !== 'string') throw missing(`${param}.id`);
        if (call.type !== 'function') throw missing(`${param}.type`);
        if (!isRecord(call.function) || typeof call.function.name !== 'string') throw missing(`${param}.function.name`);
        if (typeof call.function.arguments !== 'string') throw missing(`${param}.function.arguments`);
        unanswered?.add(call.id);
      });
    }
  });
  checkAnswered();
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null && body.stream !== true) {
    throw new HttpError(400, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
  }
  return {
    model: body.model,
    messages: messages as ChatMessage[],
    stream: body.stream === true,
    includeUsage: isRecord(streamOptions) && streamOptions.include_usage === true,
  };
}

function completionObject(id: string, created: number, model: string, systemFingerprint: string, plan: PlannedReply): unknown {
  const message: Record<string, unknown> = {
    role: 'assistant',
    content: plan.text === '' && plan.toolCalls.length > 0 ? null : plan.text,
    refusal: null,
    annotations: [],
  };
  if (plan.toolCalls.length > 0) {
    message.tool_calls = plan.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
  }
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    system_fingerprint: systemFingerprint,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
    usage: plan.usage,
    service_tier: 'default',
  };
}

interface TranscriptionForm {
  file: Buffer;
  filename: string;
  model: string;
  responseFormat: string;
  language: string | undefined;
}

function parseTranscriptionForm(contentType: string | undefined, raw: Buffer): TranscriptionForm {
  const boundary = multipartBoundary(contentType);
  if (!boundary) {
    throw new HttpError(400, `Invalid Content-Type header (${contentType ?? 'none'}), expected multipart/form-data with a boundary.`);
  }
  let parts;
  try {
    parts = parseMultipart(raw, boundary);
  } catch (err) {
    if (err instanceof MultipartError) throw new HttpError(400, `Could not parse multipart form: ${err.message}`);
    throw err;
  }
  const field = (name: string): string | undefined => {
    const part = parts.find((p) => p.name === name && p.filename === undefined);
    return part?.data.toString('utf8');
  };
  const file = parts.find((p) => p.name === 'file' && p.filename !== undefined);
  if (!file) throw missing('file');
  const model = field('model');
  if (!model) throw missing('model');
  const responseFormat = field('response_format') ?? 'json';
  if (!STT_FORMATS.includes(responseFormat)) {
    throw new HttpError(
      400,
      `response_format '${responseFormat}' is not supported by this fake; use ${STT_FORMATS.join(', ')}.`,
      'response_format',
      'unsupported_value',
    );
  }
  return { file: file.data, filename: file.filename ?? '', model, responseFormat, language: field('language') };
}

interface SpeechRequest {
  input: string;
  format: 'pcm' | 'wav';
  speed: number;
}

function validateSpeech(body: unknown): SpeechRequest {
  if (!isRecord(body)) throw new HttpError(400, 'The request body must be a JSON object.');
  if (body.model === undefined) throw missing('model');
  if (typeof body.model !== 'string' || body.model === '') throw invalidType('model', 'a string', body.model);
  if (body.input === undefined || body.input === null) throw missing('input');
  if (typeof body.input !== 'string') throw invalidType('input', 'a string', body.input);
  if (body.input === '') throw new HttpError(400, "Invalid 'input': empty string. Expected a string with minimum length 1.", 'input', 'string_below_min_length');
  if (body.input.length > MAX_TTS_INPUT) {
    throw new HttpError(400, `Invalid 'input': string too long. Expected a string with maximum length ${MAX_TTS_INPUT}.`, 'input', 'string_above_max_length');
  }
  if (body.voice === undefined) throw missing('voice');
  if (typeof body.voice !== 'string' && !(isRecord(body.voice) && typeof body.voice.id === 'string')) {
    throw invalidType('voice', "a string or an object with 'id'", body.voice);
  }
  const format = body.response_format ?? 'mp3';
  if (format !== 'pcm' && format !== 'wav') {
    throw new HttpError(
      400,
      `response_format ${JSON.stringify(format)}: only pcm and wav are supported by this fake (OpenAI defaults to mp3 when it is absent).`,
      'response_format',
      'unsupported_value',
    );
  }
  if (body.stream_format !== undefined && body.stream_format !== 'audio') {
    throw new HttpError(400, "stream_format: only 'audio' is supported by this fake.", 'stream_format', 'unsupported_value');
  }
  const speed = body.speed ?? 1;
  if (typeof speed !== 'number' || !(speed >= 0.25 && speed <= 4)) {
    throw new HttpError(400, `Invalid 'speed': expected a number between 0.25 and 4, got ${JSON.stringify(speed)}.`, 'speed', 'invalid_value');
  }
  return { input: body.input, format, speed };
}
