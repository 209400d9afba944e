import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { ChatMessage, LanguageModel, LlmEvent, LlmTool, ToolCallRequest } from '../types.ts';
import { postOpenAI, type OpenAICompatibleOptions } from './http.ts';

interface ChunkDelta {
  content?: string | null;
  tool_calls?: Array<{ index: number; id?: string; type?: string; function?: { name?: string; arguments?: string } }>;
}
interface Chunk {
  choices?: Array<{ index: number; delta?: ChunkDelta; finish_reason?: string | null }>;
  usage?: { prompt_tokens: number; completion_tokens: number } | null;
  error?: { message?: string };
}

/** Streamed `/v1/chat/completions` with tools: SSE chunks, tool-call deltas assembled by index. */
export class OpenAIChatModel implements LanguageModel {
  readonly name = 'openai-chat';
  constructor(private readonly opts: OpenAICompatibleOptions & { model: string; temperature?: number | undefined; extra?: Record<string, unknown> | undefined }) {}

  async *stream(req: { messages: ChatMessage[]; tools: LlmTool[]; signal?: AbortSignal }): AsyncIterable<LlmEvent> {
    const body = {
      ...(this.opts.extra ?? {}),
      model: this.opts.model,
      messages: req.messages,
      stream: true,
      stream_options: { include_usage: true },
      ...(this.opts.temperature !== undefined ? { temperature: this.opts.temperature } : {}),
      ...(req.tools.length
        ? { tools: req.tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })), tool_choice: 'auto' }
        : {}),
    };
    const res = await postOpenAI(this.opts, '/chat/completions', JSON.stringify(body), 'application/json', req.signal);
    if (!res.body) throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, 'chat completion has no body');

    const queue: Chunk[] = [];
    let sawDone = false;
    let streamError: string | undefined;
    const parser = createParser({
      onEvent: (ev: EventSourceMessage) => {
        if (ev.data === '[DONE]') {
          sawDone = true;
          return;
        }
        if (ev.event === 'error') {
          streamError = ev.data;
          return;
        }
        try {
          queue.push(JSON.parse(ev.data) as Chunk);
        } catch {
          streamError = `unparseable chunk: ${ev.data.slice(0, 80)}`;
        }
      },
    });

    const calls = new Map<number, ToolCallRequest>();
    let finishReason = 'stop';
    let usage: { promptTokens: number; completionTokens: number } | undefined;
    const decoder = new TextDecoder();
    try {
      for await (const bytes of res.body as unknown as AsyncIterable<Uint8Array>) {
        parser.feed(decoder.decode(bytes, { stream: true }));
        if (streamError) throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `chat stream error: ${streamError}`, { retryable: true });
        while (queue.length) {
          const chunk = queue.shift()!;
          if (chunk.error) throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `chat stream error: ${chunk.error.message ?? 'unknown'}`, { retryable: true });
          if (chunk.usage) usage = { promptTokens: chunk.usage.prompt_tokens, completionTokens: chunk.usage.completion_tokens };
          for (const choice of chunk.choices ?? []) {
            const d = choice.delta;
            if (d?.content) yield { type: 'text', delta: d.content };
            for (const tc of d?.tool_calls ?? []) {
              let call = calls.get(tc.index);
              if (!call) {
                call = { id: tc.id ?? `call_${tc.index}`, type: 'function', function: { name: '', arguments: '' } };
                calls.set(tc.index, call);
              }
              if (tc.id) call.id = tc.id;
              if (tc.function?.name) call.function.name += tc.function.name;
              if (tc.function?.arguments) call.function.arguments += tc.function.arguments;
            }
            if (choice.finish_reason) finishReason = choice.finish_reason;
          }
        }
      }
    } catch (err) {
      if (err instanceof SwitchboardError || req.signal?.aborted) throw err;
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `chat stream broke (${(err as Error).message})`, { retryable: true });
    }
    if (!sawDone) throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, 'chat stream ended without [DONE]', { retryable: true });
    if (calls.size) yield { type: 'tool-calls', calls: [...calls.entries()].sort((a, b) => a[0] - b[0]).map(([, c]) => c) };
    yield { type: 'done', finishReason, ...(usage ? { usage } : {}) };
  }
}
