import type { Logger } from 'pino';
import type { Subscription } from '@nats-io/nats-core';
import { Endpointer, bufferToPcm16 } from '@switchboard/audio';
import {
  audioSubjects,
  contracts,
  normalizeMcpServers,
  SwitchboardError,
  type AgentDefinition,
  type CallContext,
  type CallStarted,
  type McpServerConfig,
  type ToolDescriptor,
  type TranscriptAppended,
} from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { CallStore } from '@switchboard/session-store';
import type { ChatMessage, LlmTool, ToolCallRequest } from '@switchboard/providers';
import type { AgentProviders } from '../adapters/providers.ts';
import { SentenceSplitter } from './sentences.ts';
import { Speaker } from './speaker.ts';

/** Tools whose effect ends or moves the call: run only after the agent's words have been sent. */
const CALL_ENDING_TOOLS = new Set(['hangup_call', 'transfer_call']);
const FALLBACK_LINE = "Sorry, I'm having trouble right now. Could you say that again?";
const FILLER_LINE = 'One moment while I check that.';

export interface SessionDeps {
  bus: Bus;
  store: CallStore;
  providers: AgentProviders;
  log: Logger;
  discoveryBudgetMs: number;
}

interface OfferedTool {
  descriptor: ToolDescriptor;
  server: McpServerConfig;
}

/**
 * One agent session per call: caller audio → endpointing → STT → streamed LLM with tools → sentence
 * TTS → agent audio. Failures inside the call degrade it (fallback line, envelope to the model),
 * never drop it.
 */
export class CallSession {
  readonly callId: string;
  private readonly endpointer: Endpointer;
  private readonly speaker: Speaker;
  private readonly messages: ChatMessage[] = [];
  private readonly tools = new Map<string, OfferedTool>();
  private readonly servers: McpServerConfig[];
  private readonly subs: Subscription[] = [];
  private readonly context: CallContext;
  private turnChain: Promise<void> = Promise.resolve();
  private turnAbort = new AbortController();
  private bargedIn = false;
  private ended = false;
  private ending = false;
  private speechEndAt: number | undefined;
  /** Per-turn latency of the agent's first audio after the caller stopped (ms). */
  readonly responseTimes: number[] = [];

  constructor(
    readonly started: CallStarted,
    readonly agent: AgentDefinition,
    private readonly deps: SessionDeps,
  ) {
    this.callId = started.callId;
    this.context = { callId: started.callId, agentId: agent.id, accountId: started.accountId, from: started.from, to: started.to };
    this.endpointer = new Endpointer({ sampleRate: 16000, minSilenceMs: agent.endpointing?.minSilenceMs ?? 500, ...(agent.endpointing?.maxSilenceMs ? { maxSilenceMs: agent.endpointing.maxSilenceMs } : {}) });
    this.speaker = new Speaker(this.callId, deps.bus, deps.providers.tts, deps.log);
    this.speaker.onFirstFrame = (at) => {
      if (this.speechEndAt !== undefined) {
        this.responseTimes.push(at - this.speechEndAt);
        this.speechEndAt = undefined;
      }
    };
    this.servers = normalizeMcpServers(agent.mcpServers ?? []);
    this.messages.push({ role: 'system', content: renderPrompt(agent.systemPrompt, started) });
  }

  /** Subscribes the call's subjects, greets the caller and discovers tools in parallel. */
  async start(): Promise<void> {
    const { bus } = this.deps;
    this.subs.push(bus.subscribeRaw(audioSubjects.mediaIn(this.callId), (data) => this.onCallerFrame(bufferToPcm16(data))));
    this.subs.push(
      bus.subscribe(contracts.mediaEvents, (evt) => {
        if (evt.type === 'mark-played' && evt.name) this.speaker.markPlayed(evt.name, evt.cleared === true);
      }, { param: this.callId }),
    );
    if (this.agent.firstMessage) {
      this.speaker.say(this.agent.firstMessage);
      this.messages.push({ role: 'assistant', content: this.agent.firstMessage });
      void this.record({ role: 'agent', text: this.agent.firstMessage });
    }
    await this.discoverTools();
  }

  private async discoverTools(): Promise<void> {
    // The re-poll for pending servers outlives the call otherwise.
    if (this.servers.length === 0 || this.ended) return;
    try {
      const reply = await this.deps.bus.request(contracts.listTools, { context: this.context, servers: this.servers, budgetMs: this.deps.discoveryBudgetMs }, { callId: this.callId, timeoutMs: this.deps.discoveryBudgetMs + 2000 });
      const byName = new Map(this.servers.map((s) => [s.name, s]));
      for (const d of reply.tools) {
        const server = byName.get(d.server);
        if (server) this.tools.set(d.name, { descriptor: d, server });
      }
      for (const f of reply.failed) this.deps.log.error({ server: f.server, code: f.code }, `MCP server '${f.server}' skipped: ${f.message}`);
      this.deps.log.info({ tools: reply.tools.length, pending: reply.pending }, `MCP: merged ${reply.tools.length} tool(s) into agent`);
      if (reply.pending.length) setTimeout(() => void this.discoverTools(), 1000).unref();
    } catch (err) {
      this.deps.log.error({ code: (err as SwitchboardError).code }, `tool discovery failed: ${(err as Error).message}; the call goes on without MCP tools`);
    }
  }

  private onCallerFrame(frame: Int16Array): void {
    if (this.ended) return;
    for (const ev of this.endpointer.push(frame)) {
      if (ev.type === 'speech-end') {
        this.bargedIn = false;
        const at = performance.now();
        const audio = ev.audio;
        this.turnChain = this.turnChain.then(() => this.turn(audio, at)).catch((err: unknown) => this.deps.log.error({ err }, 'turn failed'));
      }
    }
    const threshold = this.agent.bargeIn?.thresholdMs ?? 300;
    if (threshold > 0 && !this.bargedIn && this.endpointer.speaking && this.endpointer.speechMs >= threshold && this.speaker.speaking) {
      this.bargedIn = true;
      const unheard = this.speaker.interrupt();
      this.turnAbort.abort();
      this.deps.log.info({ unheard: unheard.length }, 'barge-in: agent stopped');
    }
  }

  /** One caller turn: transcribe, then run the model (and its tools) until it answers. */
  private async turn(audio: Int16Array, speechEndAt: number): Promise<void> {
    if (this.ended || this.ending) return;
    const { stt } = this.deps.providers;
    let text: string;
    try {
      text = await stt.transcribe(audio, 16000);
    } catch (err) {
      this.deps.log.error({ code: (err as SwitchboardError).code }, `STT failed: ${(err as Error).message}`);
      this.speaker.say(FALLBACK_LINE);
      return;
    }
    if (!text) return;
    this.turnAbort = new AbortController();
    this.speechEndAt = speechEndAt;
    this.speaker.armFirstFrame();
    this.messages.push({ role: 'user', content: text });
    await this.record({ role: 'caller', text });
    await this.respond(this.turnAbort.signal);
  }

  private offeredTools(): LlmTool[] {
    return [...this.tools.values()].map((t) => ({ name: t.descriptor.name, description: t.descriptor.description, parameters: t.descriptor.inputSchema }));
  }

  private async respond(signal: AbortSignal): Promise<void> {
    const max = this.agent.maxToolIterations ?? 10;
    for (let i = 0; i < max; i++) {
      const splitter = new SentenceSplitter();
      let said = '';
      let calls: ToolCallRequest[] = [];
      try {
        for await (const ev of this.deps.providers.llm.stream({ messages: this.messages, tools: this.offeredTools(), signal })) {
          if (signal.aborted) break;
          if (ev.type === 'text') {
            said += ev.delta;
            for (const s of splitter.push(ev.delta)) this.speaker.say(s);
          } else if (ev.type === 'tool-calls') {
            calls = ev.calls;
          }
        }
      } catch (err) {
        if (signal.aborted) return;
        this.deps.log.error({ code: (err as SwitchboardError).code }, `model failed: ${(err as Error).message}`);
        this.speaker.say(FALLBACK_LINE);
        await this.record({ role: 'agent', text: FALLBACK_LINE });
        return;
      }
      if (signal.aborted) return;
      const rest = splitter.flush();
      if (rest) this.speaker.say(rest);
      this.messages.push(calls.length ? { role: 'assistant', content: said || null, tool_calls: calls } : { role: 'assistant', content: said });
      if (said) await this.record({ role: 'agent', text: said.trim(), ...(this.responseTimes.length ? { responseMs: Math.round(this.responseTimes[this.responseTimes.length - 1]!) } : {}) });
      if (calls.length === 0) return;
      const results = await Promise.all(calls.map((c) => this.runTool(c)));
      for (const [idx, c] of calls.entries()) this.messages.push({ role: 'tool', tool_call_id: c.id, content: results[idx]! });
      if (this.ending || this.ended) return;
    }
    this.deps.log.warn({ max }, 'tool iteration limit reached');
  }

  /** Runs one tool through the broker; every failure comes back as the fallback envelope, never a throw. */
  private async runTool(call: ToolCallRequest): Promise<string> {
    const offered = this.tools.get(call.function.name);
    const envelope = (error: string) => JSON.stringify({ error, fallback: true });
    if (!offered) return envelope(`Unknown tool ${call.function.name}`);
    let args: Record<string, unknown>;
    try {
      const parsed: unknown = call.function.arguments ? JSON.parse(call.function.arguments) : {};
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      args = parsed as Record<string, unknown>;
    } catch {
      return envelope(`Arguments for ${call.function.name} are not a JSON object`);
    }
    const original = offered.descriptor.originalName;
    if (CALL_ENDING_TOOLS.has(original)) await this.speaker.whenPublished();
    const toolOpts = offered.server.tools?.[original];
    const timeoutMs = toolOpts?.timeoutMs ?? offered.server.timeoutMs ?? 10_000;
    const filler = setTimeout(() => this.speaker.say(FILLER_LINE), toolOpts?.fillerAfterMs ?? 1000);
    const t0 = performance.now();
    let text: string;
    let isError: boolean;
    try {
      const reply = await this.deps.bus.request(
        contracts.callTool,
        { context: this.context, server: offered.server, tool: original, arguments: args, timeoutMs, invocationId: `${this.callId}:${call.id}` },
        { callId: this.callId, timeoutMs: timeoutMs + 2000 },
      );
      text = reply.text;
      isError = reply.isError;
    } catch (err) {
      text = envelope((err as Error).message);
      isError = true;
    } finally {
      clearTimeout(filler);
    }
    const latencyMs = Math.round(performance.now() - t0);
    if (!isError && CALL_ENDING_TOOLS.has(original)) this.ending = true;
    await this.record({ role: 'tool', text, tool: { server: offered.server.name, name: original, arguments: args, result: text, isError, latencyMs } });
    return text;
  }

  private async record(line: Omit<TranscriptAppended, 'callId' | 'at'>): Promise<void> {
    const entry = { ...line, at: new Date().toISOString() };
    this.deps.bus.publish(contracts.transcriptAppended, { callId: this.callId, ...entry }, { callId: this.callId });
    try {
      await this.deps.store.append(this.callId, entry as Parameters<CallStore['append']>[1]);
    } catch (err) {
      this.deps.log.warn({ err }, 'transcript write failed');
    }
  }

  /** The call ended (any reason): stop everything, keep the transcript. */
  async stop(reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.turnAbort.abort();
    for (const s of this.subs) s.unsubscribe();
    try {
      await this.deps.store.end(this.callId, reason);
    } catch (err) {
      this.deps.log.warn({ err }, 'could not mark the call ended in Redis');
    }
  }
}

/** Fills `{{caller.number}}`, `{{call.direction}}`, `{{now}}` and outbound-call variables. */
export function renderPrompt(template: string, call: CallStarted): string {
  // Built-ins come last: variables passed with an outbound call cannot impersonate the caller's number.
  const vars: Record<string, string> = {
    ...(call.variables ?? {}),
    'caller.number': call.from,
    'call.direction': call.direction,
    'call.id': call.callId,
    now: new Date().toISOString(),
  };
  return template.replace(/\{\{\s*([a-zA-Z0-9_.]+)\s*\}\}/g, (m, k: string) => vars[k] ?? m);
}
