import type { Logger } from 'pino';
import { context } from '@opentelemetry/api';
import type { Subscription } from '@nats-io/nats-core';
import { FrameChunker, Resampler, bufferToPcm16, mulawDecode, mulawEncode, pcm16ToBuffer } from '@switchboard/audio';
import {
  DIAL_VARIABLES,
  ErrorCodes,
  Headers,
  SwitchboardError,
  audioSubjects,
  contracts,
  type AgentDefinition,
  type CallStarted,
  type ListenReply,
  type SpeakReply,
  type TranscriptAppended,
} from '@switchboard/contracts';
import { rawHeaders } from '@switchboard/bus';
import type { CallStore } from '@switchboard/session-store';
import type { ChatMessage, S2sSession } from '@switchboard/providers';
import { renderPrompt } from '../agents/prompt.ts';
import { FALLBACK_LINE, GIVE_UP_LINE } from '../conversation/lines.ts';
import { ToolSet } from '../conversation/tool-set.ts';
import type { SessionDeps } from './call-session.ts';
import { CallSession } from './call-session.ts';
import { TurnTimer } from './metrics.ts';
import { Speaker, Utterance } from './speaker.ts';

/** Agent audio between two marks: the granularity of "what the caller heard" for truncation. */
const MARK_EVERY_MS = 200;
/** Reconnects to the model after it drops mid-call before the agent gives up politely. */
const MAX_RECONNECTS = 1;

interface SpokenItem {
  itemId: string;
  /** Audio published for the item (ms). */
  sentMs: number;
  /** Audio the gateway reported played (ms, at mark granularity). */
  heardMs: number;
  transcript: string;
  done: boolean;
  interrupted: boolean;
  recorded: boolean;
}

/**
 * A call run by a speech-to-speech model (`engine: openai-realtime`): caller audio goes to the model as
 * μ-law, the model's μ-law audio comes back as 16 kHz frames with a mark every 200 ms, the model's
 * server VAD decides turns. Barge-in clears the gateway, cancels the response and tells the model how
 * much of its item the caller heard (`truncate`). Tools are the same ToolSet as a pipeline call. A
 * model that fails or drops mid-call gets a fallback line (through the fallback TTS) and one
 * reconnect; after that the agent says goodbye and hangs up.
 */
export class RealtimeSession {
  readonly callId: string;
  readonly tools: ToolSet;
  private session: S2sSession | undefined;
  private readonly subs: Subscription[] = [];
  private readonly down = new Resampler(16000, 8000);
  private readonly items = new Map<string, SpokenItem>();
  private readonly marks = new Map<string, { itemId: string; ms: number }>();
  private markSeq = 0;
  private current: { itemId: string; up: Resampler; chunker: FrameChunker; sinceMark: number } | undefined;
  private ended = false;
  private ending = false;
  private reconnects = 0;
  private turnCount = 0;
  private timer: TurnTimer | undefined;
  private readonly instructions: string;
  private readonly speaker: Speaker;
  private readonly messages: ChatMessage[] = [];
  /** Audio still playing at the caller (performance clock), from the frames published. */
  private playingUntil = 0;
  private readonly log: Logger;
  private summary: Promise<string | undefined> | undefined;

  constructor(
    readonly started: CallStarted,
    readonly agent: AgentDefinition,
    private readonly deps: SessionDeps,
  ) {
    this.callId = started.callId;
    this.log = deps.log;
    this.tools = new ToolSet({
      bus: deps.bus,
      log: deps.log,
      agent,
      context: { callId: started.callId, agentId: agent.id, accountId: started.accountId, from: started.from, to: started.to },
      discoveryBudgetMs: deps.discoveryBudgetMs,
      fillerAfterMs: deps.fillerAfterMs,
      webhook: deps.webhook,
      control: {
        hangup: async (reason) => {
          await deps.bus.request(contracts.hangup, reason ? { reason: reason.slice(0, 200) } : {}, { param: this.callId, timeoutMs: 10_000 });
          return 'Call ended';
        },
        transfer: async (destination) => {
          await deps.bus.request(contracts.transfer, { destination }, { param: this.callId, timeoutMs: 15_000 });
          return `Call transferred to ${destination}`;
        },
      },
    });
    const goal = started.variables?.[DIAL_VARIABLES.goal];
    this.instructions = goal ? `${agent.systemPrompt}\n\nThe goal of this call: ${goal}` : agent.systemPrompt;
    // Fallback lines when the model itself fails: the fallback TTS (espeak) or the OpenAI-compatible one.
    this.speaker = new Speaker(this.callId, deps.bus, deps.providers.fallbackTts ?? deps.providers.tts, deps.log);
  }

  async start(): Promise<void> {
    const { bus, state } = this.deps;
    state.init(this.agent, this.started, 'openai-realtime (server VAD)');
    state.turn('greeting', 0);
    // start() runs inside the start-session handler's span, which continues the gateway's call trace:
    // every turn's work (STT, LLM, tool calls, TTS, bus requests) runs in that context, so it joins the call's trace.
    const callCtx = context.active();
    this.subs.push(bus.subscribeRaw(audioSubjects.mediaIn(this.callId), (data) => context.with(callCtx, () => this.onCallerFrame(data))));
    this.subs.push(
      bus.subscribe(
        contracts.mediaEvents,
        (evt) => {
          if (evt.type !== 'mark-played' || !evt.name) return;
          this.speaker.markPlayed(evt.name, evt.cleared === true);
          const m = this.marks.get(evt.name);
          if (!m) return;
          this.marks.delete(evt.name);
          const item = this.items.get(m.itemId);
          if (item && !evt.cleared) item.heardMs = Math.max(item.heardMs, m.ms);
        },
        { param: this.callId },
      ),
    );
    this.subs.push(bus.handle(contracts.speak, (req) => this.speakRequested(req.text), { param: this.callId, queue: false }));
    this.subs.push(bus.handle(contracts.listen, () => this.listenRequested(), { param: this.callId, queue: false }));
    // The model's tools are fixed when the session is configured: discovery comes first (within its budget).
    await this.tools.discover();
    await this.connect();
    const first = this.started.variables?.[DIAL_VARIABLES.firstMessage] ?? this.agent.firstMessage;
    if (first) this.session?.createResponse({ instructions: `Greet the caller by saying exactly: "${renderPrompt(first, this.started, { timeZone: this.deps.timeZone, defaults: this.agent.variables })}"` });
  }

  private async connect(): Promise<void> {
    const engine = this.deps.providers.engine!;
    const instructions = renderPrompt(this.instructions, this.started, { timeZone: this.deps.timeZone, defaults: this.agent.variables, toolNames: this.tools.names() });
    try {
      const s = await engine.connect({ instructions, tools: this.tools.llmTools(), ...(this.agent.engine?.voice ? { voice: this.agent.engine.voice } : {}), inputFormat: 'pcmu', outputFormat: 'pcmu' });
      if (this.ended) {
        void s.close();
        return;
      }
      this.session = s;
      s.on('audio', (a) => this.onModelAudio(a.pcmu, a.itemId));
      s.on('transcript', (t) => {
        if (!t.final) {
          if (t.role === 'assistant') this.item(t.itemId).transcript += t.text;
          return;
        }
        if (t.role === 'user') {
          if (t.text.trim()) void this.record({ role: 'caller', text: t.text.trim() });
          this.messages.push({ role: 'user', content: t.text });
        } else {
          const item = this.item(t.itemId);
          item.transcript = t.text;
          item.done = true;
          // The model streams faster than real time: the line is written once the caller has heard it (or at barge-in).
          if (item.interrupted) this.recordItem(item);
          else setTimeout(() => !item.interrupted && this.recordItem(item), Math.max(0, this.playingUntil - performance.now()) + 50).unref();
        }
      });
      s.on('speechStarted', () => this.onCallerSpeech());
      s.on('speechStopped', () => {
        this.timer?.finish({ 'switchboard.agent_id': this.agent.id, 'switchboard.call_id': this.callId });
        const now = performance.now();
        this.timer = new TurnTimer(++this.turnCount, now, now);
      });
      s.on('functionCall', (c) => void this.onFunctionCall(c.callId, c.name, c.arguments));
      s.on('error', (err) => this.log.warn({ code: err.code }, `realtime model error: ${err.message}`));
      s.on('closed', (info) => {
        if (this.session !== s) return;
        this.session = undefined;
        if (!info.byClient && !this.ended) void this.modelFailed(`closed (${info.code} ${info.reason})`);
      });
    } catch (err) {
      await this.modelFailed((err as Error).message);
    }
  }

  /** The model dropped or could not connect: a fallback line, one reconnect, then a polite goodbye. */
  private async modelFailed(why: string): Promise<void> {
    if (this.ended || this.ending) return;
    this.log.error({ reconnects: this.reconnects }, `realtime model failed: ${why}`);
    if (this.reconnects < MAX_RECONNECTS) {
      this.reconnects++;
      this.sayLine(FALLBACK_LINE);
      await this.connect();
      return;
    }
    this.ending = true;
    this.sayLine(GIVE_UP_LINE);
    await this.speaker.whenPublished();
    try {
      await this.deps.bus.request(contracts.hangup, { reason: 'model failure' }, { param: this.callId, timeoutMs: 15_000 });
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'hang-up after model failures failed');
    }
  }

  private sayLine(text: string): void {
    const u = new Utterance('fallback');
    this.speaker.say(text, u);
    u.sealed = true;
    void this.record({ role: 'agent', text });
  }

  private onCallerFrame(data: Uint8Array): void {
    if (this.ended || !this.session) return;
    const pcm = bufferToPcm16(data);
    this.session.sendAudio(mulawEncode(this.down.process(pcm)));
  }

  private item(itemId: string): SpokenItem {
    let item = this.items.get(itemId);
    if (!item) {
      item = { itemId, sentMs: 0, heardMs: 0, transcript: '', done: false, interrupted: false, recorded: false };
      this.items.set(itemId, item);
    }
    return item;
  }

  private onModelAudio(pcmu: Uint8Array, itemId: string): void {
    if (this.ended) return;
    const item = this.item(itemId);
    if (item.interrupted) return;
    if (this.current?.itemId !== itemId) this.current = { itemId, up: new Resampler(8000, 16000), chunker: new FrameChunker(320), sinceMark: 0 };
    const c = this.current;
    const out = audioSubjects.mediaOut(this.callId);
    for (const frame of c.chunker.push(c.up.process(mulawDecode(pcmu)))) {
      item.sentMs += 20;
      c.sinceMark += 20;
      const now = performance.now();
      this.playingUntil = Math.max(this.playingUntil, now) + 20;
      if (this.timer && this.timer.firstFrameAt === undefined) this.timer.firstFrameAt = now;
      let mark: string | undefined;
      if (c.sinceMark >= MARK_EVERY_MS) {
        mark = `rt-${++this.markSeq}`;
        this.marks.set(mark, { itemId, ms: item.sentMs });
        c.sinceMark = 0;
      }
      this.deps.bus.publishRaw(out, pcm16ToBuffer(frame), mark ? rawHeaders({ [Headers.mark]: mark, [Headers.callId]: this.callId }) : undefined);
    }
  }

  /** Server VAD heard the caller: if the agent is still audible, stop it and tell the model what was heard. */
  private onCallerSpeech(): void {
    if ((this.agent.bargeIn?.thresholdMs ?? 300) === 0) return;
    const speaking = performance.now() < this.playingUntil;
    const c = this.current;
    if (!speaking || !c) return;
    const item = this.item(c.itemId);
    item.interrupted = true;
    this.deps.bus.publish(contracts.mediaControl, { type: 'clear' }, { param: this.callId });
    this.playingUntil = 0;
    this.current = undefined;
    if (this.timer) this.timer.interrupted = true;
    this.session?.cancelResponse();
    this.session?.truncate(item.itemId, item.heardMs);
    this.log.info({ heardMs: item.heardMs, sentMs: item.sentMs }, 'barge-in: model response cut');
    // The final transcript of a cancelled response normally follows; without it, what streamed so far is recorded.
    setTimeout(() => {
      item.done = true;
      this.recordItem(item);
    }, 1000).unref();
  }

  private recordItem(item: SpokenItem): void {
    if (item.recorded || !item.done) return;
    item.recorded = true;
    let text = item.transcript.trim();
    if (item.interrupted && item.sentMs > 0) {
      // The model's words have no timing: keep the share of words matching the share of audio heard.
      const words = text.split(/\s+/);
      text = words.slice(0, Math.floor((words.length * item.heardMs) / item.sentMs)).join(' ');
    }
    this.messages.push({ role: 'assistant', content: text });
    if (text) void this.record({ role: 'agent', text, ...(item.interrupted ? { interrupted: true } : {}) });
  }

  private async onFunctionCall(callId: string, name: string, args: string): Promise<void> {
    const invocationId = `${this.callId}:${callId}`;
    const tool = this.tools.get(name);
    if (tool?.endsCall) {
      // The model's goodbye must reach the gateway before the call ends.
      while (performance.now() < this.playingUntil && !this.ended) await new Promise((r) => setTimeout(r, 50));
    }
    this.deps.state.toolStarted({ invocationId, server: tool?.server ?? 'unknown', name: tool?.originalName ?? name, arguments: args, startedAt: new Date().toISOString() });
    const t0 = performance.now();
    const o = await this.tools.execute({ id: callId, type: 'function', function: { name, arguments: args } }, invocationId);
    if (this.timer) this.timer.toolMs += performance.now() - t0;
    this.deps.state.toolDone(invocationId);
    void this.record({ role: 'tool', text: o.text, tool: { server: o.server, name: o.name, arguments: o.arguments, result: o.text, isError: o.isError, latencyMs: o.latencyMs } });
    if (o.endsCall) {
      this.ending = true;
      return;
    }
    this.session?.sendFunctionResult(callId, o.text);
  }

  private async speakRequested(text: string): Promise<SpeakReply> {
    if (this.ended || !this.session) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call has ended');
    this.session.createResponse({ instructions: `Say exactly: "${text}"` });
    return { ok: true };
  }

  private async listenRequested(): Promise<ListenReply> {
    throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'voice.listen is not available on speech-to-speech calls: the model answers the caller itself');
  }

  private async record(line: Omit<TranscriptAppended, 'callId' | 'at'>): Promise<void> {
    const entry = { ...line, at: new Date().toISOString() };
    this.deps.bus.publish(contracts.transcriptAppended, { callId: this.callId, ...entry }, { callId: this.callId });
    try {
      await this.deps.store.append(this.callId, entry as Parameters<CallStore['append']>[1]);
    } catch (err) {
      this.log.warn({ err }, 'transcript write failed');
    }
  }

  async stop(reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    for (const s of this.subs) s.unsubscribe();
    this.tools.close();
    this.speaker.close();
    const s = this.session;
    this.session = undefined;
    await s?.close().catch(() => undefined);
    if (this.timer) {
      const m = this.timer.finish({ 'switchboard.agent_id': this.agent.id, 'switchboard.call_id': this.callId });
      this.deps.state.turnMetrics(this.agent.id, m);
    }
    try {
      await this.deps.store.end(this.callId, reason);
    } catch (err) {
      this.log.warn({ err }, 'could not mark the call ended in Redis');
    }
    this.deps.state.messages(this.messages);
    if (this.agent.summary?.enabled) this.summary = CallSession.summarize(this.deps, this.agent, this.started, this.messages);
    await this.summary;
    this.deps.state.end(this.deps.retentionS);
    await this.deps.state.flush();
  }
}
