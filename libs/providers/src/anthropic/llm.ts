import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ErrorCodes, SwitchboardError, isRetryableStatus } from '@switchboard/contracts';
import type { ChatMessage, LanguageModel, LlmEvent, LlmTool, ToolCallRequest } from '../types.ts';
import { providerMessage } from '../errors.ts';

export interface AnthropicOptions {
  apiKey: string;
  /** Default `https://api.anthropic.com` (with or without a trailing `/v1`). */
  baseUrl?: string | undefined;
  model: string;
  /** `max_tokens`, required by the API; default 1024. */
  maxTokens?: number | undefined;
  temperature?: number | undefined;
  /** `anthropic-version` header, default `2023-06-01`. */
  anthropicVersion?: string | undefined;
  /** Deadline (ms) for the response headers, default 15000. */
  timeoutMs?: number | undefined;
  /** Extra body fields (`top_p`, `metadata`, …); the adapter's own fields win. */
  extra?: Record<string, unknown> | undefined;
}

export type AnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'tool_use'; id: string; name: string; input: unknown }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: true };

export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | AnthropicBlock[];
}

/** Text of the user turn put first when a conversation starts with the agent speaking (the API wants a user turn first). */
export const CALL_STARTED_TURN = '(The call has started.)';

/**
 * Converts our OpenAI-shaped history to the Messages API: system messages become the top-level
 * `system`; assistant `tool_calls` become `tool_use` blocks; `tool` messages become `tool_result`
 * blocks in a user turn; consecutive turns of one role are merged (the API wants them alternating);
 * a history that starts with the assistant gets a placeholder user turn first. A tool result that is
 * our failure envelope (`{"error":…, "fallback":true}`) is marked `is_error`.
 */
export function toAnthropicMessages(history: ChatMessage[]): { system?: string; messages: AnthropicMessage[] } {
  const system: string[] = [];
  const out: Array<{ role: 'user' | 'assistant'; blocks: AnthropicBlock[] }> = [];
  const add = (role: 'user' | 'assistant', blocks: AnthropicBlock[]): void => {
    if (blocks.length === 0) return;
    const last = out.at(-1);
    if (last?.role === role) last.blocks.push(...blocks);
    else out.push({ role, blocks });
  };
  for (const m of history) {
    switch (m.role) {
      case 'system':
        if (m.content) system.push(m.content);
        break;
      case 'user':
        add('user', m.content ? [{ type: 'text', text: m.content }] : []);
        break;
      case 'assistant': {
        const blocks: AnthropicBlock[] = m.content ? [{ type: 'text', text: m.content }] : [];
        for (const call of m.tool_calls ?? []) blocks.push({ type: 'tool_use', id: call.id, name: call.function.name, input: parseInput(call.function.arguments) });
        add('assistant', blocks);
        break;
      }
      case 'tool':
        add('user', [{ type: 'tool_result', tool_use_id: m.tool_call_id, content: m.content, ...(isFailureEnvelope(m.content) ? { is_error: true as const } : {}) }]);
        break;
    }
  }
  if (out[0]?.role === 'assistant') out.unshift({ role: 'user', blocks: [{ type: 'text', text: CALL_STARTED_TURN }] });
  const messages = out.map(({ role, blocks }): AnthropicMessage => {
    const only = blocks[0];
    return { role, content: blocks.length === 1 && only?.type === 'text' ? only.text : blocks };
  });
  return { ...(system.length ? { system: system.join('\n\n') } : {}), messages };
}

function parseInput(args: string): unknown {
  if (!args.trim()) return {};
  try {
    const v: unknown = JSON.parse(args);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v : { value: v };
  } catch {
    // The model produced broken JSON; the API needs an object, so keep the text visible.
    return { _raw: args };
  }
}

function isFailureEnvelope(content: string): boolean {
  if (!content.startsWith('{')) return false;
  try {
    const v = JSON.parse(content) as Record<string, unknown>;
    return v['fallback'] === true && typeof v['error'] === 'string';
  } catch {
    return false;
  }
}

const FINISH: Record<string, string> = { end_turn: 'stop', stop_sequence: 'stop', pause_turn: 'stop', tool_use: 'tool_calls', max_tokens: 'length', refusal: 'content_filter' };
/** Stream error types worth retrying. */
const RETRYABLE_TYPES = new Set(['overloaded_error', 'api_error', 'rate_limit_error', 'timeout_error']);

interface StreamEvent {
  type: string;
  index?: number;
  message?: { usage?: Usage };
  content_block?: { type: string; text?: string; id?: string; name?: string; input?: unknown };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string | null };
  usage?: Usage;
  error?: { type?: string; message?: string };
}
interface Usage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/**
 * Anthropic Messages API, streamed (`POST /v1/messages`, `stream: true`). Yields the same events as the
 * OpenAI adapter: text deltas, one `tool-calls` event with `ToolCallRequest`s (tool_use input JSON
 * assembled from `input_json_delta`), then `done` with an OpenAI-style finish reason.
 */
export class AnthropicChatModel implements LanguageModel {
  readonly name = 'anthropic';
  constructor(private readonly opts: AnthropicOptions) {}

  async *stream(req: { messages: ChatMessage[]; tools: LlmTool[]; signal?: AbortSignal }): AsyncIterable<LlmEvent> {
    const { system, messages } = toAnthropicMessages(req.messages);
    const body = {
      ...(this.opts.extra ?? {}),
      model: this.opts.model,
      max_tokens: this.opts.maxTokens ?? 1024,
      stream: true,
      ...(system !== undefined ? { system } : {}),
      messages,
      ...(this.opts.temperature !== undefined ? { temperature: this.opts.temperature } : {}),
      ...(req.tools.length ? { tools: req.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })), tool_choice: { type: 'auto' } } : {}),
    };
    const res = await this.#post(JSON.stringify(body), req.signal);
    if (!res.body) throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, 'messages response has no body', { retryable: true });

    const queue: StreamEvent[] = [];
    let streamError: SwitchboardError | undefined;
    const parser = createParser({
      onEvent: (ev: EventSourceMessage) => {
        try {
          queue.push(JSON.parse(ev.data) as StreamEvent);
        } catch {
          streamError ??= new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `messages stream error: unparseable event: ${ev.data.slice(0, 80)}`, { retryable: true });
        }
      },
    });

    const blocks = new Map<number, { id: string; name: string; json: string; input: unknown }>();
    let finishReason = 'stop';
    let promptTokens = 0;
    let completionTokens = 0;
    let sawUsage = false;
    let stopped = false;
    const decoder = new TextDecoder();
    try {
      for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(bytes, { stream: true }));
        if (streamError) throw streamError;
        while (queue.length) {
          const ev = queue.shift()!;
          switch (ev.type) {
            case 'message_start': {
              const u = ev.message?.usage;
              if (u) {
                sawUsage = true;
                promptTokens = (u.input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
                completionTokens = u.output_tokens ?? 0;
              }
              break;
            }
            case 'content_block_start':
              if (ev.content_block?.type === 'tool_use') {
                blocks.set(ev.index ?? blocks.size, { id: ev.content_block.id ?? `toolu_${ev.index}`, name: ev.content_block.name ?? '', json: '', input: ev.content_block.input });
              } else if (ev.content_block?.type === 'text' && ev.content_block.text) {
                yield { type: 'text', delta: ev.content_block.text };
              }
              break;
            case 'content_block_delta':
              if (ev.delta?.type === 'text_delta' && ev.delta.text) yield { type: 'text', delta: ev.delta.text };
              else if (ev.delta?.type === 'input_json_delta') {
                const b = blocks.get(ev.index ?? -1);
                if (b) b.json += ev.delta.partial_json ?? '';
              }
              break;
            case 'message_delta':
              if (ev.delta?.stop_reason) finishReason = FINISH[ev.delta.stop_reason] ?? ev.delta.stop_reason;
              if (typeof ev.usage?.output_tokens === 'number') {
                sawUsage = true;
                completionTokens = ev.usage.output_tokens;
              }
              break;
            case 'message_stop':
              stopped = true;
              break;
            case 'error': {
              const type = ev.error?.type ?? 'error';
              throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `messages stream error: ${type}: ${ev.error?.message ?? 'unknown'}`, {
                retryable: RETRYABLE_TYPES.has(type),
                details: { type },
              });
            }
            default:
              // ping, content_block_stop and event types added later carry nothing we need.
              break;
          }
        }
      }
    } catch (err) {
      if (err instanceof SwitchboardError || req.signal?.aborted) throw err;
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `messages stream broke (${(err as Error).message})`, { retryable: true });
    }
    if (!stopped) throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, 'messages stream ended without message_stop', { retryable: true });
    if (blocks.size) {
      const calls: ToolCallRequest[] = [...blocks.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([, b]) => ({ id: b.id, type: 'function', function: { name: b.name, arguments: b.json || JSON.stringify(b.input ?? {}) } }));
      yield { type: 'tool-calls', calls };
    }
    yield { type: 'done', finishReason, ...(sawUsage ? { usage: { promptTokens, completionTokens } } : {}) };
  }

  async #post(body: string, signal?: AbortSignal): Promise<Response> {
    const timeoutMs = this.opts.timeoutMs ?? 15_000;
    const timeout = AbortSignal.timeout(timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const base = (this.opts.baseUrl ?? 'https://api.anthropic.com').replace(/\/+$/, '').replace(/\/v1$/, '');
    let res: Response;
    try {
      res = await fetch(`${base}/v1/messages`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-api-key': this.opts.apiKey,
          'anthropic-version': this.opts.anthropicVersion ?? '2023-06-01',
        },
        body,
        signal: combined,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      if (timeout.aborted) throw new SwitchboardError(ErrorCodes.PROVIDER_TIMEOUT, `/v1/messages did not answer within ${timeoutMs} ms`);
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `/v1/messages unreachable (${(err as Error).message})`, { retryable: true });
    }
    if (!res.ok) {
      let detail = '';
      try {
        detail = providerMessage(await res.text());
      } catch {
        /* body unreadable: keep the status line */
      }
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `/v1/messages failed (HTTP ${res.status}${detail ? `: ${detail}` : ''})`, {
        retryable: isRetryableStatus(res.status),
        details: { status: res.status },
      });
    }
    return res;
  }
}
