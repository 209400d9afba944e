import type { Logger } from 'pino';
import { context } from '@opentelemetry/api';
import type { Subscription } from '@nats-io/nats-core';
import { Endpointer, bufferToPcm16, type EndpointEvent, type VoiceActivityDetector } from '@switchboard/audio';
import {
  DIAL_VARIABLES,
  ErrorCodes,
  SwitchboardError,
  audioSubjects,
  contracts,
  type AgentDefinition,
  type CallContext,
  type CallStarted,
  type ListenReply,
  type SpeakReply,
  type TranscriptAppended,
} from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { destinationAllowed, type AccountStore, type CallStore } from '@switchboard/session-store';
import type { ChatMessage, LanguageModel } from '@switchboard/providers';
import type { AgentProviders } from '../adapters/providers.ts';
import type { WebhookOptions } from '../adapters/webhook-tool.ts';
import type { VadFactory } from '../adapters/silero-vad.ts';
import { renderPrompt } from '../agents/prompt.ts';
import { runAgentLoop } from '../conversation/agent-loop.ts';
import { ToolSet, type CallControl, type ToolOutcome } from '../conversation/tool-set.ts';
import { FALLBACK_LINE, FILLER_LINE, GIVE_UP_LINE, LIMIT_LINE, STILL_WORKING_LINE } from '../conversation/lines.ts';
import { SentenceSplitter } from './sentences.ts';
import { Speaker, Utterance } from './speaker.ts';
import { TurnTimer } from './metrics.ts';
import type { SessionState } from './session-state.ts';
import type { Transcriber } from './transcriber.ts';

/** Consecutive failed turns before the agent ends the call politely. */
const MAX_CONSECUTIVE_FAILURES = 3;
/** Filler lines one tool wait may produce (the first plus progress refreshes). */
const MAX_FILLERS = 3;
/** How far the VAD model may fall behind the caller's audio before the call switches to the energy VAD (ms). */
const MAX_VAD_LAG_MS = 500;
const DEFAULT_SUMMARY_PROMPT =
  'Summarize this phone call in 2-4 sentences for the business: who called, what they wanted, what the agent did (tools used, results) and any follow-up needed.';

export interface SessionDeps {
  bus: Bus;
  store: CallStore;
  state: SessionState;
  accounts: AccountStore;
  providers: AgentProviders;
  log: Logger;
  vad: VadFactory;
  discoveryBudgetMs: number;
  fillerAfterMs: number;
  webhook: WebhookOptions;
  retentionS: number;
  summaryTimeoutMs: number;
  /** The account's IANA time zone, for `{{now}}`. */
  timeZone: string;
}

type VadWithPrepare = VoiceActivityDetector & { prepare?(frame: Int16Array): Promise<void>; useEnergy?(): void };

/**
 * One agent session per call: caller audio → VAD and endpointing → STT → streamed LLM with tools →
 * sentence TTS → agent audio. Barge-in stops the agent and truncates what it said to what the caller
 * heard; slow tools get a filler line; failures degrade the call (fallback line, envelope to the
 * model), never drop it. State is written to Redis as the call goes.
 */
export class CallSession {
  readonly callId: string;
  private readonly endpointer: Endpointer;
  private readonly vad: VadWithPrepare;
  private readonly speaker: Speaker;
  private readonly transcriber: Transcriber;
  readonly tools: ToolSet;
  readonly messages: ChatMessage[] = [];
  private readonly subs: Subscription[] = [];
  private readonly context: CallContext;
  private turnChain: Promise<void> = Promise.resolve();
  private frameChain: Promise<void> = Promise.resolve();
  private streamMs = 0;
  private turnAbort = new AbortController();
  /** A turn is transcribing or waiting on the model, nothing said yet. */
  private thinking = false;
  private bargedIn = false;
  private ended = false;
  private ending = false;
  private turnCount = 0;
  private consecutiveFailures = 0;
  /** The turn whose figures are being collected; finished when the next one starts or the call ends. */
  private timer: TurnTimer | undefined;
  /** Agent utterances not yet written to the transcript. */
  private readonly open: Utterance[] = [];
  /** The assistant message each answer utterance belongs to (for truncation). */
  private readonly messageOf = new Map<Utterance, Extract<ChatMessage, { role: 'assistant' }>>();
  /** Tool invocations in flight and whether barge-in cancels them. */
  private readonly running = new Map<string, { cancelOnBargeIn: boolean }>();
  private filler: { timer: NodeJS.Timeout | undefined; said: number; afterMs: number } | undefined;
  private listener: { resolve: (r: ListenReply) => void; timer: NodeJS.Timeout } | undefined;
  private readonly systemTemplate: string;
  private readonly llm: LanguageModel;
  private summary: Promise<string | undefined> | undefined;
  /** Barge-in truncations waiting on the gateway's marks; a caller line is written after them. */
  private truncations: Promise<void> = Promise.resolve();
  private lastState: string | undefined;

  constructor(
    readonly started: CallStarted,
    readonly agent: AgentDefinition,
    private readonly deps: SessionDeps,
  ) {
    this.callId = started.callId;
    this.llm = deps.providers.llm;
    this.context = { callId: started.callId, agentId: agent.id, accountId: started.accountId, from: started.from, to: started.to };
    this.vad = deps.vad.create((err) => deps.log.error({ err: err.message }, 'Silero VAD failed; this call continues with the energy VAD'));
    this.endpointer = new Endpointer({
      sampleRate: 16000,
      vad: this.vad,
      minSilenceMs: agent.endpointing?.minSilenceMs ?? 500,
      ...(agent.endpointing?.maxSilenceMs ? { maxSilenceMs: agent.endpointing.maxSilenceMs } : {}),
    });
    this.speaker = new Speaker(this.callId, deps.bus, deps.providers.tts, deps.log, deps.providers.fallbackTts);
    this.speaker.onProgress = () => this.recordCompleted();
    this.transcriber = deps.providers.transcriber(deps.log);
    this.tools = new ToolSet({
      bus: deps.bus,
      log: deps.log,
      agent,
      context: this.context,
      discoveryBudgetMs: deps.discoveryBudgetMs,
      fillerAfterMs: deps.fillerAfterMs,
      webhook: deps.webhook,
      control: this.callControl(),
    });
    const goal = started.variables?.[DIAL_VARIABLES.goal];
    this.systemTemplate = goal ? `${agent.systemPrompt}\n\nThe goal of this call: ${goal}` : agent.systemPrompt;
    this.messages.push({ role: 'system', content: this.renderSystem() });
    this.tools.onChange = () => {
      this.messages[0] = { role: 'system', content: this.renderSystem() };
    };
  }

  private renderSystem(): string {
    return renderPrompt(this.systemTemplate, this.started, { timeZone: this.deps.timeZone, defaults: this.agent.variables, toolNames: this.tools?.names() });
  }

  private callControl(): CallControl {
    const { bus, accounts } = this.deps;
    return {
      hangup: async (reason) => {
        await bus.request(contracts.hangup, reason ? { reason: reason.slice(0, 200) } : {}, { param: this.callId, timeoutMs: 10_000 });
        return 'Call ended';
      },
      transfer: async (destination) => {
        const settings = await accounts.get(this.started.accountId);
        if (!destinationAllowed(destination, settings.allowedDestinations ?? [])) throw new Error(`Transfers to ${destination} are not allowed for this account`);
        await bus.request(contracts.transfer, { destination }, { param: this.callId, timeoutMs: 15_000 });
        return `Call transferred to ${destination}`;
      },
    };
  }

  /** Subscribes the call's subjects, greets the caller and discovers tools in parallel. */
  async start(): Promise<void> {
    const { bus, state } = this.deps;
    state.init(this.agent, this.started, this.deps.vad.kind);
    // start() runs inside the start-session handler's span, which continues the gateway's call trace:
    // every turn's work (STT, LLM, tool calls, TTS, bus requests) runs in that context, so it joins the call's trace.
    const callCtx = context.active();
    this.subs.push(bus.subscribeRaw(audioSubjects.mediaIn(this.callId), (data) => context.with(callCtx, () => this.onCallerFrame(data))));
    this.subs.push(
      bus.subscribe(
        contracts.mediaEvents,
        (evt) => {
          if (evt.type === 'mark-played' && evt.name) this.speaker.markPlayed(evt.name, evt.cleared === true);
          else if (evt.type === 'playout-started' && evt.at !== undefined && this.timer && this.timer.gatewayPlayoutAt === undefined && this.timer.firstFrameAt !== undefined) this.timer.gatewayPlayoutAt = evt.at;
        },
        { param: this.callId },
      ),
    );
    this.subs.push(bus.subscribe(contracts.toolProgressed, (p) => this.onToolProgress(p.invocationId), { param: this.callId }));
    this.subs.push(bus.handle(contracts.speak, (req) => this.speakRequested(req.text, req.interrupt === true), { param: this.callId, queue: false }));
    this.subs.push(bus.handle(contracts.listen, (req) => this.listenRequested(req.timeoutMs), { param: this.callId, queue: false }));
    const first = this.started.variables?.[DIAL_VARIABLES.firstMessage] ?? this.agent.firstMessage;
    if (first) {
      const text = renderPrompt(first, this.started, { timeZone: this.deps.timeZone, defaults: this.agent.variables });
      const u = this.newUtterance('greeting');
      this.sayAll(text, u);
      u.sealed = true;
      const msg: Extract<ChatMessage, { role: 'assistant' }> = { role: 'assistant', content: text };
      this.messages.push(msg);
      this.messageOf.set(u, msg);
      this.setState('greeting');
    } else {
      this.setState('listening');
    }
    state.messages(this.messages);
    await this.tools.discover();
  }

  /** Writes the turn state to Redis when it changes. */
  private setState(next: 'greeting' | 'listening' | 'thinking' | 'tool' | 'speaking' | 'ended'): void {
    if (next === this.lastState) return;
    this.lastState = next;
    this.deps.state.turn(next, this.turnCount);
  }

  private newUtterance(kind: Utterance['kind']): Utterance {
    const u = new Utterance(kind);
    this.open.push(u);
    const timer = this.timer;
    if (timer && kind !== 'greeting') {
      u.onFirstFrame = (at) => {
        if (timer.firstFrameAt !== undefined) return;
        timer.firstFrameAt = at;
        timer.ttsTtfbMs = u.ttsTtfbMs;
      };
    }
    return u;
  }

  /** Speaks a text through the sentence splitter (several sentences, several marks). */
  private sayAll(text: string, u: Utterance): void {
    const splitter = new SentenceSplitter();
    for (const s of splitter.push(`${text} `)) this.speaker.say(s, u);
    const rest = splitter.flush();
    if (rest) this.speaker.say(rest, u);
  }

  // ---------------------------------------------------------------------------------------------
  // Caller audio

  private onCallerFrame(data: Uint8Array): void {
    if (this.ended) return;
    const arrival = performance.now();
    const frame = bufferToPcm16(data);
    if (frame.length !== 320) return;
    this.transcriber.feed(frame);
    const prepare = this.vad.prepare;
    if (!prepare) {
      this.processFrame(frame, arrival);
      return;
    }
    this.frameChain = this.frameChain
      .then(() => {
        // Frames may arrive in bursts; what matters is how long this one waited for the model.
        const lag = performance.now() - arrival;
        if (lag > MAX_VAD_LAG_MS && this.vad.name !== 'energy') {
          this.vad.useEnergy?.();
          this.deps.log.warn({ lagMs: Math.round(lag) }, 'VAD model too slow for real time; this call continues with the energy VAD');
        }
        return prepare.call(this.vad, frame);
      })
      .then(() => this.processFrame(frame, arrival))
      .catch((err: unknown) => this.deps.log.error({ err }, 'caller frame failed'));
  }

  private processFrame(frame: Int16Array, arrival: number): void {
    if (this.ended) return;
    const events: EndpointEvent[] = this.endpointer.push(frame);
    this.streamMs += 20;
    for (const ev of events) {
      if (ev.type !== 'speech-end') continue;
      this.bargedIn = false;
      // The caller's last speech frame arrived (streamMs - atMs) of stream time before this one.
      const speechEndAt = arrival - (this.streamMs - ev.atMs);
      this.onUtterance(ev.audio, speechEndAt, performance.now());
    }
    const threshold = this.agent.bargeIn?.thresholdMs ?? 300;
    // While the agent talks, or while it is still working out an answer nobody has heard yet (the
    // caller had only paused), caller speech past the threshold takes the floor back.
    if (threshold > 0 && !this.bargedIn && this.endpointer.speaking && this.endpointer.speechMs >= threshold && (this.speaker.speaking || this.thinking)) this.bargeIn('caller');
  }

  private onUtterance(audio: Int16Array, speechEndAt: number, endpointAt: number): void {
    this.finishTurnMetrics();
    const timer = new TurnTimer(++this.turnCount, speechEndAt, endpointAt);
    this.timer = timer;
    this.turnChain = this.turnChain.then(() => this.runTurn(audio, timer)).catch((err: unknown) => this.deps.log.error({ err }, 'turn failed'));
  }

  /**
   * Barge-in (or `speak` with interrupt): stop TTS and the model, clear the gateway's queue, ask the
   * broker to cancel running tools marked `cancelOnBargeIn`, then, once the gateway has reported the
   * marks, keep only what the caller heard in the transcript and in the model's history.
   */
  private bargeIn(by: 'caller' | 'speak'): void {
    this.bargedIn = true;
    const speaking = this.open.filter((u) => !u.complete);
    for (const u of speaking) u.interrupted = true;
    this.speaker.interrupt();
    this.turnAbort.abort();
    if (this.timer && by === 'caller') this.timer.interrupted = true;
    for (const [invocationId, t] of this.running) {
      if (t.cancelOnBargeIn) this.deps.bus.publish(contracts.toolCancelRequested, { invocationId, reason: 'barge-in' }, { param: this.callId });
    }
    this.deps.log.info({ by, utterances: speaking.length }, 'barge-in: agent stopped');
    this.truncations = this.truncations.then(async () => {
      for (const u of speaking) {
        u.sealed = true;
        await this.speaker.whenResolved(u, 1000);
        this.truncate(u);
      }
    });
  }

  /** Keeps what the caller heard of an interrupted utterance: transcript line and model history. */
  private truncate(u: Utterance): void {
    const heard = u.heardText();
    const msg = this.messageOf.get(u);
    if (msg) {
      if (msg.tool_calls?.length) msg.content = heard || null;
      else if (heard) msg.content = heard;
      else {
        const i = this.messages.indexOf(msg);
        if (i >= 0) this.messages.splice(i, 1);
      }
      this.deps.state.messages(this.messages);
    }
    this.writeLine(u, heard, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Transcript lines

  /** Writes the lines of utterances the caller has fully heard. */
  private recordCompleted(): void {
    for (const u of [...this.open]) if (u.complete && !u.interrupted) this.writeLine(u, u.heardText(), false);
  }

  /** Before another line is written: agent speech still playing is written as said (not interrupted) so lines stay in order. */
  private flushOpen(): void {
    for (const u of [...this.open]) {
      if (u.interrupted) continue;
      if (u.sealed || u.sentences.length) this.writeLine(u, u.fullText(), false);
    }
  }

  private writeLine(u: Utterance, text: string, interrupted: boolean): void {
    const i = this.open.indexOf(u);
    if (i < 0) return;
    this.open.splice(i, 1);
    this.messageOf.delete(u);
    if (!text.trim()) return;
    const responseMs = u.kind !== 'greeting' && this.timer?.firstFrameAt !== undefined && u.firstFrameAt === this.timer.firstFrameAt ? this.timer.snapshot().agent_response_ms : undefined;
    void this.record({ role: 'agent', text: text.trim(), ...(interrupted ? { interrupted: true } : {}), ...(responseMs !== undefined ? { responseMs } : {}) });
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

  // ---------------------------------------------------------------------------------------------
  // Turns

  /** One caller turn: transcribe, then run the model (and its tools) until it answers. */
  private async runTurn(audio: Int16Array, timer: TurnTimer): Promise<void> {
    if (this.ended || this.ending) return;
    this.setState('thinking');
    this.turnAbort = new AbortController();
    const signal = this.turnAbort.signal;
    this.thinking = true;
    try {
      await this.answer(audio, timer, signal);
    } finally {
      this.thinking = false;
    }
  }

  private async answer(audio: Int16Array, timer: TurnTimer, signal: AbortSignal): Promise<void> {
    const { state, log } = this.deps;
    timer.sttStartAt = performance.now();
    let text: string;
    try {
      // Not aborted with the turn: what the caller said is kept even when they go on talking.
      text = (await this.transcriber.transcribe(audio)).trim();
    } catch (err) {
      log.error({ code: (err as SwitchboardError).code }, `STT failed: ${(err as Error).message}`);
      await this.failedTurn();
      return;
    } finally {
      timer.sttEndAt = performance.now();
    }
    if (!text || this.ended) {
      this.setState('listening');
      return;
    }
    await this.truncations;
    this.flushOpen();
    // Not awaited: Redis keeps the order of one connection's writes, and the model should not wait on it.
    void this.record({ role: 'caller', text });
    this.messages.push({ role: 'user', content: text });
    if (this.listener) {
      // An MCP client is driving the call (voice.listen): it gets the utterance, the model does not answer.
      const l = this.listener;
      this.listener = undefined;
      clearTimeout(l.timer);
      l.resolve({ text, timedOut: false });
      state.messages(this.messages);
      this.setState('listening');
      return;
    }
    if (signal.aborted) {
      // The caller went on talking: this part stays in the history, the next utterance gets the answer.
      this.setState('listening');
      return;
    }
    await this.tools.beginTurn(this.messages.filter((m) => m.role === 'user' || m.role === 'assistant').map((m) => (typeof m.content === 'string' ? m.content : '')));
    timer.llmStartAt = performance.now();
    let round: Utterance | undefined;
    let splitter = new SentenceSplitter();
    const roundUtterance = () => (round ??= this.newUtterance('answer'));
    const result = await runAgentLoop({
      llm: this.llm,
      messages: this.messages,
      tools: this.tools,
      maxIterations: this.agent.maxToolIterations ?? 10,
      signal,
      log,
      invocationId: (c) => `${this.callId}:${c.id}`,
      hooks: {
        onFirstToken: (at) => {
          timer.firstTokenAt = at;
        },
        onText: (delta) => {
          if (signal.aborted) return;
          for (const s of splitter.push(delta)) this.speaker.say(s, roundUtterance());
          this.setState('speaking');
        },
        onRoundEnd: () => {
          const rest = splitter.flush();
          splitter = new SentenceSplitter();
          if (rest && !signal.aborted) this.speaker.say(rest, roundUtterance());
          if (round) round.sealed = true;
          timer.modelRounds++;
        },
        onAssistantMessage: (msg) => {
          if (round) this.messageOf.set(round, msg);
          round = undefined;
        },
        beforeTools: async (planned) => {
          this.thinking = false;
          if (planned.some((p) => p.tool?.endsCall)) await this.speaker.whenPublished();
          this.setState('tool');
          let afterMs = Infinity;
          for (const p of planned) {
            this.running.set(p.invocationId, { cancelOnBargeIn: p.tool?.cancelOnBargeIn === true });
            if (p.tool && !p.tool.endsCall) afterMs = Math.min(afterMs, p.tool.fillerAfterMs);
            state.toolStarted({ invocationId: p.invocationId, server: p.tool?.server ?? 'unknown', name: p.tool?.originalName ?? p.call.function.name, arguments: p.call.function.arguments, startedAt: new Date().toISOString() });
          }
          if (Number.isFinite(afterMs)) this.armFiller(afterMs);
          state.messages(this.messages);
        },
        afterTools: async (outcomes, wallMs) => {
          this.clearFiller();
          timer.toolMs += wallMs;
          for (const o of outcomes) {
            const id = `${this.callId}:${o.callId}`;
            this.running.delete(id);
            state.toolDone(id);
          }
          await this.recordTools(outcomes);
          if (outcomes.some((o) => o.endsCall)) this.ending = true;
          state.messages(this.messages);
        },
      },
    });
    if (result.failed) {
      await this.failedTurn();
      return;
    }
    this.consecutiveFailures = 0;
    if (result.hitLimit && !this.ended) this.sayLine(LIMIT_LINE, 'fallback', true);
    state.messages(this.messages);
    this.setState(result.endsCall ? 'ended' : 'listening');
  }

  private async recordTools(outcomes: ToolOutcome[]): Promise<void> {
    this.flushOpen();
    for (const o of outcomes) {
      await this.record({ role: 'tool', text: o.text, tool: { server: o.server, name: o.name, arguments: o.arguments, result: o.text, isError: o.isError, latencyMs: o.latencyMs } });
    }
  }

  /** Says a line outside the model (fallback, limit, filler), optionally into the model's history. */
  private sayLine(text: string, kind: Utterance['kind'], remember: boolean): Utterance {
    const u = this.newUtterance(kind);
    this.sayAll(text, u);
    u.sealed = true;
    if (remember) {
      const msg: Extract<ChatMessage, { role: 'assistant' }> = { role: 'assistant', content: text };
      this.messages.push(msg);
      this.messageOf.set(u, msg);
    }
    return u;
  }

  /** A turn the providers could not answer: a fallback line, and after several in a row a polite goodbye and hang-up. */
  private async failedTurn(): Promise<void> {
    if (this.ended) return;
    this.consecutiveFailures++;
    if (this.consecutiveFailures < MAX_CONSECUTIVE_FAILURES) {
      this.sayLine(FALLBACK_LINE, 'fallback', true);
      this.setState('listening');
      return;
    }
    this.deps.log.error({ failures: this.consecutiveFailures }, 'providers keep failing; ending the call politely');
    this.sayLine(GIVE_UP_LINE, 'fallback', true);
    this.ending = true;
    await this.speaker.whenPublished();
    try {
      await this.deps.bus.request(contracts.hangup, { reason: 'provider failures' }, { param: this.callId, timeoutMs: 15_000 });
    } catch (err) {
      this.deps.log.warn({ err: (err as Error).message }, 'hang-up after provider failures failed');
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Filler while tools run

  private armFiller(afterMs: number): void {
    this.clearFiller();
    this.filler = { timer: undefined, said: 0, afterMs };
    this.scheduleFiller(afterMs);
  }

  private scheduleFiller(ms: number): void {
    const f = this.filler;
    if (!f) return;
    if (f.timer) clearTimeout(f.timer);
    f.timer = setTimeout(() => {
      f.timer = undefined;
      if (this.filler !== f || this.ended || this.ending || f.said >= MAX_FILLERS) return;
      // The agent is still talking ("Let me check"): the filler waits until it is quiet.
      if (this.speaker.speaking) return this.scheduleFiller(250);
      this.sayLine(f.said === 0 ? FILLER_LINE : STILL_WORKING_LINE, 'filler', false);
      f.said++;
    }, ms);
  }

  /** A progress notification of a running tool: after the first filler, the agent may say another one later. */
  private onToolProgress(invocationId: string): void {
    const f = this.filler;
    if (!f || !this.running.has(invocationId) || f.said === 0 || f.timer) return;
    this.scheduleFiller(f.afterMs);
  }

  private clearFiller(): void {
    if (this.filler?.timer) clearTimeout(this.filler.timer);
    this.filler = undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // voice.speak / voice.listen

  private async speakRequested(text: string, interrupt: boolean): Promise<SpeakReply> {
    if (this.ended) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call has ended');
    if (interrupt && this.speaker.speaking) this.bargeIn('speak');
    this.flushOpen();
    const u = this.sayLine(text, 'speak', true);
    await this.speaker.whenPublished();
    this.deps.state.messages(this.messages);
    return { ok: u.segments.length > 0, durationMs: u.publishedMs };
  }

  private listenRequested(timeoutMs: number): Promise<ListenReply> {
    if (this.ended) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call has ended');
    if (this.listener) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'a listen request is already waiting on this call');
    return new Promise<ListenReply>((resolve) => {
      const timer = setTimeout(() => {
        this.listener = undefined;
        resolve({ timedOut: true });
      }, timeoutMs);
      this.listener = { resolve, timer };
    });
  }

  // ---------------------------------------------------------------------------------------------
  // End of call

  private finishTurnMetrics(): void {
    const t = this.timer;
    if (!t) return;
    this.timer = undefined;
    const m = t.finish({ 'switchboard.agent_id': this.agent.id, 'switchboard.call_id': this.callId });
    this.deps.state.turnMetrics(this.agent.id, m);
  }

  /** The call ended (any reason): stop everything, write what the caller heard, the metrics and (if on) the summary. */
  async stop(reason: string): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.turnAbort.abort();
    this.clearFiller();
    if (this.listener) {
      clearTimeout(this.listener.timer);
      this.listener.resolve({ timedOut: true });
      this.listener = undefined;
    }
    for (const s of this.subs) s.unsubscribe();
    this.tools.close();
    // After an agent hang-up or a transfer the gateway played everything out; otherwise only the marks tell.
    const playedOut = reason === 'agent-hangup' || reason === 'transferred';
    for (const u of [...this.open]) {
      const heard = playedOut ? u.fullText() : u.heardText();
      this.writeLine(u, heard, !playedOut && heard.length < u.fullText().length);
    }
    this.speaker.close();
    this.finishTurnMetrics();
    void this.transcriber.close();
    try {
      await this.deps.store.end(this.callId, reason);
    } catch (err) {
      this.deps.log.warn({ err }, 'could not mark the call ended in Redis');
    }
    if (this.agent.summary?.enabled) this.summary = CallSession.summarize(this.deps, this.agent, this.started, this.messages);
    await this.summary;
    this.deps.state.end(this.deps.retentionS);
    await this.deps.state.flush();
  }

  /** Resolves with the summary once made (undefined when off or failed). */
  whenSummarized(): Promise<string | undefined> {
    return this.summary ?? Promise.resolve(undefined);
  }

  /**
   * Asks the agent's model for an end-of-call summary (the agent's summary prompt or a default),
   * stores it with the session and publishes `evt.call.summarized`. Undefined when there was no
   * conversation or the model failed (logged; the call is over either way).
   */
  static async summarize(deps: SessionDeps, agent: AgentDefinition, started: CallStarted, messages: readonly ChatMessage[]): Promise<string | undefined> {
    const { log, bus, state } = deps;
    const lines = messages
      .filter((m) => (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string' && m.content)
      .map((m) => `${m.role === 'user' ? 'Caller' : 'Agent'}: ${m.content as string}`);
    const tools = messages.filter((m): m is Extract<ChatMessage, { role: 'tool' }> => m.role === 'tool').map((m) => `Tool result: ${m.content.slice(0, 500)}`);
    if (lines.length === 0) return undefined;
    const prompt = agent.summary?.prompt ?? DEFAULT_SUMMARY_PROMPT;
    const signal = AbortSignal.timeout(deps.summaryTimeoutMs);
    try {
      let text = '';
      const request: ChatMessage[] = [
        { role: 'system', content: prompt },
        { role: 'user', content: `Transcript of call ${started.callId} (${started.direction}, caller ${started.from}):\n${[...lines, ...tools].join('\n')}` },
      ];
      for await (const ev of deps.providers.llm.stream({ messages: request, tools: [], signal })) if (ev.type === 'text') text += ev.delta;
      const summary = text.trim();
      if (!summary) return undefined;
      state.summary(summary);
      bus.publish(contracts.callSummarized, { callId: started.callId, accountId: started.accountId, agentId: agent.id, summary, at: new Date().toISOString() }, { callId: started.callId });
      log.info({ chars: summary.length }, 'call summarized');
      return summary;
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'call summary failed');
      return undefined;
    }
  }
}
