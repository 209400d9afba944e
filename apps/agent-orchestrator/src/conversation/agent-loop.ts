import type { Logger } from 'pino';
import { SwitchboardError, ErrorCodes } from '@switchboard/contracts';
import type { ChatMessage, LanguageModel, ToolCallRequest } from '@switchboard/providers';
import type { OfferedTool, ToolOutcome, ToolSet } from './tool-set.ts';

/** What the caller of the loop (a phone call or the chat channel) does at each step. */
export interface LoopHooks {
  /** A text delta of the model's answer, as it streams. */
  onText?(delta: string): void;
  /** One model round finished streaming its text (voice: flush the sentence splitter). */
  onRoundEnd?(text: string): void;
  /** First text or tool calls of the turn's first round, on the performance clock. */
  onFirstToken?(at: number): void;
  /** The assistant message of a round was added to the history (voice keeps it to truncate on barge-in). */
  onAssistantMessage?(message: Extract<ChatMessage, { role: 'assistant' }>): void;
  /** Before a round's tools run: voice records pending speech, waits for call-ending tools, arms the filler. */
  beforeTools?(calls: Array<{ call: ToolCallRequest; tool: OfferedTool | undefined; invocationId: string }>): Promise<void>;
  /** After a round's tools ran (in call order). */
  afterTools?(outcomes: ToolOutcome[], wallMs: number): Promise<void> | void;
}

export interface LoopOptions {
  llm: LanguageModel;
  /** The conversation; the loop appends the assistant and tool messages. */
  messages: ChatMessage[];
  tools: ToolSet;
  maxIterations: number;
  /** Aborts the model stream (barge-in); running tools finish and their results are still recorded. */
  signal: AbortSignal;
  /** The id a tool invocation carries to the broker (idempotency, progress, cancel). */
  invocationId(call: ToolCallRequest): string;
  hooks: LoopHooks;
  log: Logger;
}

export interface LoopResult {
  /** Everything the model said this turn, all rounds. */
  text: string;
  outcomes: ToolOutcome[];
  /** A call-ending tool succeeded. */
  endsCall: boolean;
  /** The model failed (after one retry of a retryable failure); the caller says a fallback line. */
  failed?: SwitchboardError;
  /** Stopped by the signal. */
  aborted: boolean;
  /** Stopped at `maxIterations` rounds that all asked for tools. */
  hitLimit: boolean;
  rounds: number;
}

/**
 * One turn of the agent: stream the model, run the tools it asks for, feed their results back, until
 * it answers without tools, a call-ending tool succeeds, the signal aborts or `maxIterations` rounds
 * asked for tools. Shared by phone calls and the chat channel so both behave the same.
 */
export async function runAgentLoop(opts: LoopOptions): Promise<LoopResult> {
  const { llm, messages, tools, signal, hooks, log } = opts;
  const result: LoopResult = { text: '', outcomes: [], endsCall: false, aborted: false, hitLimit: false, rounds: 0 };
  for (let round = 0; round < opts.maxIterations; round++) {
    result.rounds = round + 1;
    let said = '';
    let calls: ToolCallRequest[] = [];
    for (let attempt = 1; ; attempt++) {
      let emitted = false;
      try {
        for await (const ev of llm.stream({ messages, tools: tools.llmTools(), signal })) {
          if (signal.aborted) break;
          if (ev.type === 'text') {
            if (!emitted && round === 0) hooks.onFirstToken?.(performance.now());
            emitted = true;
            said += ev.delta;
            hooks.onText?.(ev.delta);
          } else if (ev.type === 'tool-calls') {
            if (!emitted && round === 0) hooks.onFirstToken?.(performance.now());
            emitted = true;
            calls = ev.calls;
          }
        }
        break;
      } catch (err) {
        if (signal.aborted) break;
        const e = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCodes.PROVIDER_FAILED, (err as Error).message);
        // A failure before anything was said is retried once at once; a failure mid-answer is not.
        if (attempt === 1 && !emitted && e.retryable) {
          log.warn({ code: e.code }, `model failed (${e.message}); retrying once`);
          continue;
        }
        log.error({ code: e.code }, `model failed: ${e.message}`);
        hooks.onRoundEnd?.(said);
        result.text += said;
        result.failed = e;
        if (said) pushAssistant(messages, said, [], hooks);
        return result;
      }
    }
    hooks.onRoundEnd?.(said);
    result.text += said;
    if (signal.aborted && calls.length === 0) {
      if (said) pushAssistant(messages, said, [], hooks);
      result.aborted = true;
      return result;
    }
    pushAssistant(messages, said, calls, hooks);
    if (calls.length === 0) return result;

    const planned = calls.map((call) => ({ call, tool: tools.get(call.function.name), invocationId: opts.invocationId(call) }));
    await hooks.beforeTools?.(planned);
    const t0 = performance.now();
    const outcomes = await Promise.all(planned.map((p) => tools.execute(p.call, p.invocationId)));
    const wallMs = performance.now() - t0;
    for (const o of outcomes) messages.push({ role: 'tool', tool_call_id: o.callId, content: o.text });
    result.outcomes.push(...outcomes);
    await hooks.afterTools?.(outcomes, wallMs);
    if (outcomes.some((o) => o.endsCall)) {
      result.endsCall = true;
      return result;
    }
    if (signal.aborted) {
      result.aborted = true;
      return result;
    }
  }
  log.warn({ max: opts.maxIterations }, 'tool iteration limit reached');
  result.hitLimit = true;
  return result;
}

function pushAssistant(messages: ChatMessage[], said: string, calls: ToolCallRequest[], hooks: LoopHooks): void {
  const message: Extract<ChatMessage, { role: 'assistant' }> = calls.length ? { role: 'assistant', content: said || null, tool_calls: calls } : { role: 'assistant', content: said };
  messages.push(message);
  hooks.onAssistantMessage?.(message);
}
