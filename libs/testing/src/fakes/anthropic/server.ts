import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChatScript, isRecord, randomId, splitArguments, tokenize } from '../../fake-openai/chat.ts';
import type { ChatMessage } from '../../fake-openai/chat.ts';
import type { ScriptRule } from '../../fake-openai/server.ts';

export interface FakeAnthropicOptions {
  host?: string;
  port?: number;
  /** When set, requests without `x-api-key: <apiKey>` get 401 `authentication_error`. */
  apiKey?: string;
  /** The same rule language as the fake OpenAI server (`whenUser`, `afterTool`, `say`, `toolCalls`, `times`); first match wins. */
  rules?: ScriptRule[];
  /** Reply when no rule matches, default "Sorry, I did not catch that.". */
  fallbackReply?: string;
  /** Delay before `message_start` (time to first token), ms; default 0. */
  ttftMs?: number;
  /** Delay between content deltas, ms; default 0. */
  tokenMs?: number;
}

export type FakeAnthropicFailure =
  /** Answer with this HTTP status and Anthropic's error body. */
  | { status: number }
  /** Close the socket after `message_start` and the first delta. */
  | 'drop'
  /** Send an `overloaded_error` error event after the first delta. */
  | 'error-event';

export interface FakeAnthropic {
  /** Base URL without /v1 (as the Anthropic SDKs take it), e.g. http://127.0.0.1:53211. */
  url: string;
  counters: { messages: number; errors: number };
  requests: {
    /** Valid request bodies, in order. */
    messages: unknown[];
    /** `x-api-key` and `anthropic-version` of each valid request. */
    headers: Array<{ apiKey: string | undefined; version: string | undefined }>;
  };
  setRules(rules: ScriptRule[]): void;
  /** The next `count` (default 1) valid requests fail this way. */
  failNext(how: FakeAnthropicFailure, count?: number): void;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The Anthropic Messages API (`POST /v1/messages`, streaming only) with a scripted model: checks
 * `x-api-key` and `anthropic-version`, validates the conversation the way the API does (user turn
 * first, alternating roles, every `tool_use` answered by a `tool_result` in the next user turn) and
 * streams `message_start`, text and `tool_use` content blocks (`input_json_delta`), `message_delta`
 * with the stop reason and usage, and `message_stop`.
 */
export async function startFakeAnthropic(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const script = new ChatScript(opts.rules ?? [], opts.fallbackReply ?? 'Sorry, I did not catch that.');
  const failures: FakeAnthropicFailure[] = [];
  const counters = { messages: 0, errors: 0 };
  const requests: FakeAnthropic['requests'] = { messages: [], headers: [] };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0]?.replace(/\/+$/, '');
    if (req.method !== 'POST' || path !== '/v1/messages') throw new ApiError(404, 'not_found_error', `Not found: ${req.method} ${path}`);
    const apiKey = header(req, 'x-api-key');
    if (opts.apiKey !== undefined && apiKey !== opts.apiKey) throw new ApiError(401, 'authentication_error', 'invalid x-api-key');
    const version = header(req, 'anthropic-version');
    if (!version) throw new ApiError(400, 'invalid_request_error', 'anthropic-version: header is required');
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8'));
    } catch {
      throw new ApiError(400, 'invalid_request_error', 'Request body is not valid JSON');
    }
    const valid = validate(body);
    counters.messages++;
    requests.messages.push(body);
    requests.headers.push({ apiKey, version });
    const failure = failures.shift();
    if (failure !== undefined && failure !== 'drop' && failure !== 'error-event') throw injected(failure.status);

    const reply = script.reply(toScriptMessages(valid.messages));
    const toolCalls = reply.toolCalls.map((c) => ({ id: `toolu_01${randomId(22)}`, name: c.name, json: JSON.stringify(c.arguments ?? {}) }));
    const inputTokens = Math.ceil(JSON.stringify(valid.messages).length / 4) + Math.ceil((valid.system?.length ?? 0) / 4);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': `req_${randomId(24)}` });
    res.flushHeaders();
    const send = (type: string, data: Record<string, unknown>): void => {
      if (!res.destroyed) res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
    };
    let deltas = 0;
    const afterDelta = async (): Promise<boolean> => {
      deltas++;
      if (deltas === 1 && failure === 'drop') {
        counters.errors++;
        await new Promise<void>((resolve) => res.write('', () => resolve()));
        res.destroy();
        return false;
      }
      if (deltas === 1 && failure === 'error-event') {
        counters.errors++;
        send('error', { error: { type: 'overloaded_error', message: 'Overloaded' } });
        res.end();
        return false;
      }
      if (opts.tokenMs) await sleep(opts.tokenMs);
      return !res.destroyed;
    };

    if (opts.ttftMs) await sleep(opts.ttftMs);
    send('message_start', {
      message: { id: `msg_01${randomId(22)}`, type: 'message', role: 'assistant', content: [], model: valid.model, stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
    });
    let index = 0;
    let outputTokens = 0;
    if (reply.text) {
      send('content_block_start', { index, content_block: { type: 'text', text: '' } });
      send('ping', {});
      for (const token of tokenize(reply.text)) {
        send('content_block_delta', { index, delta: { type: 'text_delta', text: token } });
        outputTokens++;
        if (!(await afterDelta())) return;
      }
      send('content_block_stop', { index });
      index++;
    }
    for (const call of toolCalls) {
      send('content_block_start', { index, content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} } });
      // Anthropic's first input_json_delta is an empty string.
      for (const fragment of ['', ...splitArguments(call.json)]) {
        send('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: fragment } });
        if (!(await afterDelta())) return;
      }
      outputTokens += 8 + Math.ceil(call.json.length / 4);
      send('content_block_stop', { index });
      index++;
    }
    send('message_delta', { delta: { stop_reason: toolCalls.length ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: outputTokens } });
    send('message_stop', {});
    res.end();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.destroyed) return;
      const e = err instanceof ApiError ? err : new ApiError(500, 'api_error', 'Internal server error');
      counters.errors++;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const out = JSON.stringify({ type: 'error', error: { type: e.type, message: e.message } });
      res.writeHead(e.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
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
    url: `http://${host}:${address.port}`,
    counters,
    requests,
    setRules: (rules) => script.setRules(rules),
    failNext: (how, count = 1) => {
      for (let i = 0; i < count; i++) failures.push(how);
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

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function injected(status: number): ApiError {
  if (status === 529) return new ApiError(529, 'overloaded_error', 'Overloaded');
  if (status === 429) return new ApiError(429, 'rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit (injected by fake-anthropic).');
  if (status >= 500) return new ApiError(status, 'api_error', 'Internal server error');
  return new ApiError(status, 'invalid_request_error', `Injected failure with status ${status} (fake-anthropic failNext).`);
}

type Block = Record<string, unknown>;
interface ValidRequest {
  model: string;
  system: string | undefined;
  messages: Array<{ role: 'user' | 'assistant'; blocks: Block[] }>;
}

/** The checks of the real API that a converting adapter can get wrong. */
function validate(body: unknown): ValidRequest {
  const bad = (message: string): never => {
    throw new ApiError(400, 'invalid_request_error', message);
  };
  if (!isRecord(body)) return bad('Request body must be a JSON object');
  if (typeof body['model'] !== 'string') bad('model: Field required');
  if (typeof body['max_tokens'] !== 'number') bad('max_tokens: Field required');
  if (body['stream'] !== true) bad('The fake only implements streaming: stream must be true');
  const system = body['system'];
  if (system !== undefined && typeof system !== 'string' && !Array.isArray(system)) bad('system: Input should be a valid string or list');
  const systemText = typeof system === 'string' ? system : Array.isArray(system) ? system.map((b: unknown) => (isRecord(b) ? String(b['text'] ?? '') : '')).join('\n') : undefined;
  if (body['tools'] !== undefined) {
    if (!Array.isArray(body['tools'])) bad('tools: Input should be a valid list');
    (body['tools'] as unknown[]).forEach((t, i) => {
      if (!isRecord(t) || typeof t['name'] !== 'string' || !isRecord(t['input_schema'])) bad(`tools.${i}: name and input_schema are required`);
    });
  }
  const raw = body['messages'];
  if (!Array.isArray(raw) || raw.length === 0) return bad('messages: at least one message is required');
  const messages = raw.map((m: unknown, i): { role: 'user' | 'assistant'; blocks: Block[] } => {
    if (!isRecord(m) || (m['role'] !== 'user' && m['role'] !== 'assistant')) return bad(`messages.${i}.role: Input should be 'user' or 'assistant'`);
    const content = m['content'];
    const blocks: Block[] = typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? (content as Block[]) : bad(`messages.${i}.content: Field required`);
    blocks.forEach((b, j) => {
      if (!isRecord(b)) bad(`messages.${i}.content.${j}: Input should be an object`);
      if (b['type'] === 'text' && (typeof b['text'] !== 'string' || b['text'] === '')) bad(`messages.${i}.content.${j}: text content blocks must be non-empty`);
      if (b['type'] === 'tool_use' && (typeof b['id'] !== 'string' || typeof b['name'] !== 'string' || !isRecord(b['input']))) bad(`messages.${i}.content.${j}: tool_use needs id, name and an input object`);
      if (b['type'] === 'tool_result' && typeof b['tool_use_id'] !== 'string') bad(`messages.${i}.content.${j}.tool_use_id: Field required`);
      if (b['type'] === 'tool_result' && m['role'] !== 'user') bad(`messages.${i}: tool_result blocks must be in a user message`);
    });
    if (blocks.length === 0) bad(`messages.${i}: all messages must have non-empty content`);
    return { role: m['role'], blocks };
  });
  if (messages[0]?.role !== 'user') bad('messages: first message must use the "user" role');
  messages.forEach((m, i) => {
    const prev = messages[i - 1];
    if (prev && prev.role === m.role) bad(`messages: roles must alternate between "user" and "assistant", but found multiple "${m.role}" roles in a row`);
    const uses = (prev?.role === 'assistant' ? prev.blocks : []).filter((b) => b['type'] === 'tool_use').map((b) => b['id']);
    const results = m.blocks.filter((b) => b['type'] === 'tool_result').map((b) => b['tool_use_id']);
    for (const id of results) if (!uses.includes(id)) bad(`messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`);
    const next = messages[i + 1];
    if (m.role === 'assistant' && next) {
      const answered = next.blocks.filter((b) => b['type'] === 'tool_result').map((b) => b['tool_use_id']);
      for (const b of m.blocks) if (b['type'] === 'tool_use' && !answered.includes(b['id'])) bad(`messages.${i + 1}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${String(b['id'])}`);
    }
  });
  return { model: body['model'] as string, system: systemText, messages };
}

/** The conversation in the OpenAI shape the shared script matcher reads. */
function toScriptMessages(messages: ValidRequest['messages']): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (const m of messages) {
    const text = m.blocks.filter((b) => b['type'] === 'text').map((b) => String(b['text'])).join('');
    if (m.role === 'assistant') {
      const calls = m.blocks.filter((b) => b['type'] === 'tool_use').map((b) => ({ id: b['id'], type: 'function', function: { name: b['name'], arguments: JSON.stringify(b['input']) } }));
      out.push({ role: 'assistant', content: text || null, ...(calls.length ? { tool_calls: calls } : {}) });
      continue;
    }
    for (const b of m.blocks) {
      if (b['type'] === 'tool_result') out.push({ role: 'tool', tool_call_id: b['tool_use_id'], content: typeof b['content'] === 'string' ? b['content'] : JSON.stringify(b['content']) });
    }
    if (text) out.push({ role: 'user', content: text });
  }
  return out;
}
