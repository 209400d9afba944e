import WebSocket from 'ws';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { ProviderEmitter } from '../emitter.ts';
import type { LlmTool, S2sSession, S2sSessionEvents, SpeechToSpeech } from '../types.ts';
import { closedUnexpectedly, connectWebSocket, toWebSocketUrl } from '../ws.ts';

export interface OpenAIRealtimeOptions {
  /** Sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  /** Default `wss://api.openai.com/v1/realtime` (OPENAI_REALTIME_URL); `?model=` is added unless present. */
  url?: string | undefined;
  /** Default `gpt-realtime`. */
  model?: string | undefined;
  /** Voice when `connect` gives none; default `marin`. */
  voice?: string | undefined;
  /** `audio.input.turn_detection`; default server VAD that starts and interrupts responses itself. */
  turnDetection?: Record<string, unknown> | undefined;
  /** `audio.input.transcription` (gives `transcript` events for the caller); default `{ model: 'gpt-4o-mini-transcribe' }`, `false` for none. */
  inputTranscription?: Record<string, unknown> | false | undefined;
  /** Deadline for the socket and the session to be configured (`session.updated`), default 10000 ms. */
  connectTimeoutMs?: number | undefined;
}

interface ServerEvent {
  type: string;
  event_id?: string;
  delta?: string;
  transcript?: string;
  item_id?: string;
  response_id?: string;
  call_id?: string;
  name?: string;
  arguments?: string;
  audio_start_ms?: number;
  audio_end_ms?: number;
  item?: { id?: string; type?: string; call_id?: string; name?: string };
  response?: { id?: string; status?: string; usage?: { input_tokens?: number; output_tokens?: number } };
  error?: { type?: string; code?: string | null; message?: string; event_id?: string | null };
}

/**
 * OpenAI Realtime (GA) speech-to-speech over WebSocket. Caller audio goes in as `audio/pcmu` and the
 * model's audio comes back as `audio/pcmu`: Twilio's μ-law passes straight through, no transcoding.
 * Function calls surface as `functionCall` events; their results go back with `sendFunctionResult`.
 */
export class OpenAIRealtime implements SpeechToSpeech {
  readonly name = 'openai-realtime';
  constructor(private readonly opts: OpenAIRealtimeOptions) {}

  /** The socket URL: the configured URL with `model` added when it has none. */
  realtimeUrl(): string {
    const url = new URL(toWebSocketUrl(this.opts.url ?? 'wss://api.openai.com/v1/realtime'));
    if (!url.searchParams.has('model')) url.searchParams.set('model', this.opts.model ?? 'gpt-realtime');
    return url.toString();
  }

  /** The `session` object of the `session.update` sent on connect. */
  sessionConfig(opts: { instructions: string; tools: LlmTool[]; voice?: string | undefined }): Record<string, unknown> {
    const transcription = this.opts.inputTranscription ?? { model: 'gpt-4o-mini-transcribe' };
    return {
      type: 'realtime',
      instructions: opts.instructions,
      output_modalities: ['audio'],
      audio: {
        input: {
          format: { type: 'audio/pcmu' },
          turn_detection: this.opts.turnDetection ?? { type: 'server_vad', create_response: true, interrupt_response: true },
          ...(transcription === false ? {} : { transcription }),
        },
        output: { format: { type: 'audio/pcmu' }, voice: opts.voice ?? this.opts.voice ?? 'marin' },
      },
      tools: opts.tools.map((t) => ({ type: 'function', name: t.name, description: t.description, parameters: t.parameters })),
      tool_choice: 'auto',
    };
  }

  async connect(opts: { instructions: string; tools: LlmTool[]; voice?: string; inputFormat: 'pcmu'; outputFormat: 'pcmu' }): Promise<S2sSession> {
    if (opts.inputFormat !== 'pcmu' || opts.outputFormat !== 'pcmu') throw new RangeError('OpenAIRealtime passes μ-law straight through: inputFormat and outputFormat must be pcmu');
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const started = Date.now();
    const config = this.sessionConfig(opts);
    const session = await connectWebSocket(
      this.realtimeUrl(),
      { headers: { authorization: `Bearer ${this.opts.apiKey}` }, timeoutMs, what: 'openai-realtime' },
      (ws) => new RealtimeSession(ws, config),
    );
    await session.ready(Math.max(1, timeoutMs - (Date.now() - started)));
    return session;
  }
}

class RealtimeSession extends ProviderEmitter<S2sSessionEvents> implements S2sSession {
  readonly #ws: WebSocket;
  readonly #config: Record<string, unknown>;
  #readyResolve!: () => void;
  #readyReject!: (err: unknown) => void;
  readonly #ready: Promise<void>;
  #configured = false;
  #ended = false;
  #byClient = false;
  #closing: Promise<void> | undefined;
  #lastSocketError: string | undefined;
  /** A response is in progress (between response.created and response.done). */
  #responseActive = false;
  /** Function calls of the model not answered yet. */
  readonly #pendingCalls = new Set<string>();
  /** Function outputs were sent and a response.create is owed once all are in and no response runs. */
  #owesResponse = false;
  /** Function names by call id, from response.output_item.added (for servers that omit `name` on `done`). */
  readonly #callNames = new Map<string, string>();
  /** Ids of sent events, for matching errors to what caused them. */
  #seq = 0;

  constructor(ws: WebSocket, config: Record<string, unknown>) {
    super();
    this.#ws = ws;
    this.#config = config;
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#readyResolve = resolve;
      this.#readyReject = reject;
    });
    this.#ready.catch(() => undefined);
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.#onEvent(data.toString());
    });
    ws.on('error', (err) => {
      this.#lastSocketError = err.message;
    });
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString()));
  }

  /** Resolves once the server confirmed our session.update; rejects (and closes) on error, close or timeout. */
  async ready(timeoutMs: number): Promise<void> {
    const timer = setTimeout(() => {
      this.#readyReject(new SwitchboardError(ErrorCodes.PROVIDER_TIMEOUT, `openai-realtime session not configured within ${timeoutMs} ms`));
    }, timeoutMs);
    try {
      await this.#ready;
    } catch (err) {
      this.#byClient = true;
      this.#ws.terminate();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #send(event: Record<string, unknown>): void {
    if (this.#ws.readyState !== WebSocket.OPEN || this.#closing) return;
    this.#ws.send(JSON.stringify({ event_id: `evt_sb_${++this.#seq}`, ...event }));
  }

  sendAudio(pcmu: Uint8Array): void {
    if (pcmu.length === 0) return;
    this.#send({ type: 'input_audio_buffer.append', audio: Buffer.from(pcmu.buffer, pcmu.byteOffset, pcmu.byteLength).toString('base64') });
  }

  sendFunctionResult(callId: string, output: string): void {
    this.#send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: callId, output } });
    this.#pendingCalls.delete(callId);
    this.#owesResponse = true;
    this.#maybeCreateResponse();
  }

  /** Sends response.create once every function call is answered and the response that made them is done. */
  #maybeCreateResponse(): void {
    if (!this.#owesResponse || this.#pendingCalls.size > 0 || this.#responseActive) return;
    this.#owesResponse = false;
    this.#responseActive = true; // until the server's response.done; avoids a second create meanwhile
    this.#send({ type: 'response.create' });
  }

  createResponse(opts: { instructions?: string } = {}): void {
    this.#send({ type: 'response.create', ...(opts.instructions !== undefined ? { response: { instructions: opts.instructions } } : {}) });
  }

  cancelResponse(): void {
    // Cancelling with no response in progress is an error event on the server; skip it.
    if (this.#responseActive) this.#send({ type: 'response.cancel' });
  }

  truncate(itemId: string, audioEndMs: number): void {
    this.#send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: Math.max(0, Math.round(audioEndMs)) });
  }

  /** `output_audio_buffer.clear`: cuts audio the server is still playing. Only meaningful on WebRTC/SIP connections; over WebSocket the client owns playback. */
  clearOutputAudio(): void {
    this.#send({ type: 'output_audio_buffer.clear' });
  }

  updateInstructions(instructions: string): void {
    this.#send({ type: 'session.update', session: { type: 'realtime', instructions } });
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#byClient = true;
      if (this.#ended) {
        resolve();
        return;
      }
      this.once('closed', () => resolve());
      this.#ws.close(1000);
      const timer = setTimeout(() => this.#ws.terminate(), 2000);
      timer.unref();
      this.once('closed', () => clearTimeout(timer));
    });
    return this.#closing;
  }

  #onEvent(text: string): void {
    let ev: ServerEvent;
    try {
      ev = JSON.parse(text) as ServerEvent;
    } catch {
      this.emit('error', new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `openai-realtime sent an unparseable event: ${text.slice(0, 80)}`, { retryable: false }));
      return;
    }
    switch (ev.type) {
      case 'session.created':
        this.#ws.send(JSON.stringify({ event_id: `evt_sb_${++this.#seq}`, type: 'session.update', session: this.#config }));
        return;
      case 'session.updated':
        if (!this.#configured) {
          this.#configured = true;
          this.#readyResolve();
        }
        return;
      case 'error': {
        const e = ev.error ?? {};
        const err = new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `openai-realtime error: ${e.code ?? e.type ?? 'error'}: ${e.message ?? 'unknown'}`, {
          retryable: false,
          details: { type: e.type, code: e.code, eventId: e.event_id },
        });
        if (!this.#configured) this.#readyReject(err);
        else this.emit('error', err);
        return;
      }
      case 'response.created':
        this.#responseActive = true;
        return;
      case 'response.output_audio.delta':
        if (ev.delta) this.emit('audio', { pcmu: new Uint8Array(Buffer.from(ev.delta, 'base64')), itemId: ev.item_id ?? '', responseId: ev.response_id ?? '' });
        return;
      case 'response.output_audio_transcript.delta':
        if (ev.delta) this.emit('transcript', { role: 'assistant', text: ev.delta, final: false, itemId: ev.item_id ?? '' });
        return;
      case 'response.output_audio_transcript.done':
        this.emit('transcript', { role: 'assistant', text: ev.transcript ?? '', final: true, itemId: ev.item_id ?? '' });
        return;
      case 'conversation.item.input_audio_transcription.delta':
        if (ev.delta) this.emit('transcript', { role: 'user', text: ev.delta, final: false, itemId: ev.item_id ?? '' });
        return;
      case 'conversation.item.input_audio_transcription.completed':
        this.emit('transcript', { role: 'user', text: ev.transcript ?? '', final: true, itemId: ev.item_id ?? '' });
        return;
      case 'response.output_item.added':
        if (ev.item?.type === 'function_call' && ev.item.call_id && ev.item.name) this.#callNames.set(ev.item.call_id, ev.item.name);
        return;
      case 'response.function_call_arguments.done': {
        const callId = ev.call_id ?? '';
        this.#pendingCalls.add(callId);
        this.emit('functionCall', { callId, name: ev.name ?? this.#callNames.get(callId) ?? '', arguments: ev.arguments ?? '{}', itemId: ev.item_id ?? '' });
        return;
      }
      case 'input_audio_buffer.speech_started':
        this.emit('speechStarted', { audioStartMs: ev.audio_start_ms ?? 0, itemId: ev.item_id ?? '' });
        return;
      case 'input_audio_buffer.speech_stopped':
        this.emit('speechStopped', { audioEndMs: ev.audio_end_ms ?? 0, itemId: ev.item_id ?? '' });
        return;
      case 'response.done': {
        this.#responseActive = false;
        const r = ev.response ?? {};
        const usage = r.usage && typeof r.usage.input_tokens === 'number' ? { inputTokens: r.usage.input_tokens, outputTokens: r.usage.output_tokens ?? 0 } : undefined;
        this.emit('responseDone', { responseId: r.id ?? '', status: r.status ?? 'completed', ...(usage ? { usage } : {}) });
        this.#maybeCreateResponse();
        return;
      }
      default:
        // Lifecycle events (conversation.item.*, content parts, rate limits) carry nothing the interface needs.
        return;
    }
  }

  #onClose(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const err = closedUnexpectedly('openai-realtime', code, reason || this.#lastSocketError || '');
    if (!this.#configured) this.#readyReject(err);
    else if (!this.#byClient) this.emit('error', err);
    this.emit('closed', { code, reason, byClient: this.#byClient });
  }
}
