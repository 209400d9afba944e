import WebSocket from 'ws';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { Pcm16Decoder } from '../pcm.ts';
import { AsyncQueue } from '../queue.ts';
import type { StreamingTextToSpeech, TtsAlignment, TtsInputStream } from '../types.ts';
import { closedUnexpectedly, connectWebSocket, toWebSocketUrl } from '../ws.ts';

/** PCM output formats of ElevenLabs (16-bit little-endian mono at the named rate). */
export type ElevenLabsPcmFormat = 'pcm_8000' | 'pcm_16000' | 'pcm_22050' | 'pcm_24000' | 'pcm_44100' | 'pcm_48000';

export interface ElevenLabsOptions {
  /** API key, sent as the `xi-api-key` header. */
  apiKey: string;
  voiceId: string;
  /** Base URL including `/v1`; default `wss://api.elevenlabs.io/v1` (http(s) is turned into ws(s)). */
  baseUrl?: string | undefined;
  /** Default `eleven_flash_v2_5` (lowest latency). */
  modelId?: string | undefined;
  /** Default `pcm_16000`. */
  outputFormat?: ElevenLabsPcmFormat | undefined;
  /** Sent in the init message as `voice_settings` (`stability`, `similarity_boost`, `speed`, …). */
  voiceSettings?: Record<string, unknown> | undefined;
  /** Sent in the init message as `generation_config.chunk_length_schedule` (characters buffered before each generation). */
  chunkLengthSchedule?: number[] | undefined;
  /** `language_code` query parameter. */
  languageCode?: string | undefined;
  /** Handshake deadline, default 10000 ms. */
  connectTimeoutMs?: number | undefined;
  /** Extra query parameters passed through verbatim (`auto_mode`, `inactivity_timeout`, …). */
  extraParams?: Record<string, string> | undefined;
}

interface ServerMessage {
  audio?: string | null;
  isFinal?: boolean | null;
  is_final?: boolean | null;
  normalizedAlignment?: RawAlignment | null;
  normalized_alignment?: RawAlignment | null;
  alignment?: RawAlignment | null;
  error?: unknown;
  message?: unknown;
}

type RawAlignment = Record<string, unknown>;

/**
 * ElevenLabs streaming TTS over the `stream-input` WebSocket: one socket per utterance, text in as it
 * comes (`open`) or whole (`synthesize`), base64 PCM16 out. Server messages are read in both the
 * camelCase (`isFinal`, `normalizedAlignment`) and the snake_case (`is_final`, `normalized_alignment`) form.
 */
export class ElevenLabsTextToSpeech implements StreamingTextToSpeech {
  readonly name = 'elevenlabs';
  readonly sampleRate: number;

  constructor(private readonly opts: ElevenLabsOptions) {
    const format = opts.outputFormat ?? 'pcm_16000';
    const m = /^pcm_(\d+)$/.exec(format);
    if (!m) throw new RangeError(`ElevenLabs outputFormat must be a pcm_<rate> format, got ${format}`);
    this.sampleRate = Number(m[1]);
  }

  /** The stream-input URL this adapter opens. */
  streamUrl(): string {
    const base = toWebSocketUrl(this.opts.baseUrl ?? 'wss://api.elevenlabs.io/v1').replace(/\/+$/, '');
    const q = new URLSearchParams({ model_id: this.opts.modelId ?? 'eleven_flash_v2_5', output_format: this.opts.outputFormat ?? 'pcm_16000' });
    if (this.opts.languageCode) q.set('language_code', this.opts.languageCode);
    for (const [k, v] of Object.entries(this.opts.extraParams ?? {})) q.set(k, v);
    return `${base}/text-to-speech/${encodeURIComponent(this.opts.voiceId)}/stream-input?${q.toString()}`;
  }

  open(signal?: AbortSignal): TtsInputStream {
    const init: Record<string, unknown> = { text: ' ' };
    if (this.opts.voiceSettings) init['voice_settings'] = this.opts.voiceSettings;
    if (this.opts.chunkLengthSchedule) init['generation_config'] = { chunk_length_schedule: this.opts.chunkLengthSchedule };
    const stream = new ElevenLabsStream(init, this.sampleRate, signal);
    stream.connect(
      connectWebSocket(
        this.streamUrl(),
        { headers: { 'xi-api-key': this.opts.apiKey }, timeoutMs: this.opts.connectTimeoutMs ?? 10_000, what: 'elevenlabs' },
        (ws) => stream.attach(ws),
        signal,
      ),
    );
    return stream;
  }

  async *synthesize(text: string, signal?: AbortSignal): AsyncIterable<Int16Array> {
    const stream = this.open(signal);
    stream.push(text);
    stream.end();
    yield* stream;
  }
}

class ElevenLabsStream implements TtsInputStream {
  readonly #queue = new AsyncQueue<Int16Array>();
  readonly #decoder = new Pcm16Decoder();
  readonly #pending: string[] = [];
  #ws: WebSocket | undefined;
  #ended = false;
  #cancelled = false;
  #finished = false;
  #samples = 0;
  readonly alignment: TtsAlignment = { chars: [], startMs: [], durationMs: [] };

  constructor(
    init: Record<string, unknown>,
    private readonly sampleRate: number,
    private readonly signal: AbortSignal | undefined,
  ) {
    this.#pending.push(JSON.stringify(init));
  }

  /** Follows the connection attempt: a failure (refused, unreachable, aborted) fails the audio iterator. */
  connect(connecting: Promise<void>): void {
    const onAbort = (): void => {
      this.#queue.fail(this.signal?.reason);
      this.cancel();
    };
    if (this.signal?.aborted) onAbort();
    else this.signal?.addEventListener('abort', onAbort, { once: true });
    connecting.then(
      () => this.signal?.removeEventListener('abort', onAbort),
      (err: unknown) => {
        this.signal?.removeEventListener('abort', onAbort);
        this.#queue.fail(err);
      },
    );
  }

  /** Called by the connector inside the socket's 'open' event. */
  attach(ws: WebSocket): void {
    if (this.#cancelled) {
      ws.on('error', () => undefined);
      ws.close(1000);
      return;
    }
    this.#ws = ws;
    const abort = (): void => {
      this.#queue.fail(this.signal?.reason);
      this.cancel();
    };
    this.signal?.addEventListener('abort', abort, { once: true });
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.#onMessage(data.toString());
    });
    ws.on('error', () => undefined); // 'close' follows and decides
    ws.on('close', (code, reason) => {
      this.signal?.removeEventListener('abort', abort);
      if (this.#finished || this.#cancelled) return this.#queue.end();
      // A clean close after our end-of-input is the end of the utterance even without isFinal.
      if (code === 1000 && this.#ended) return this.#queue.end();
      this.#queue.fail(closedUnexpectedly('elevenlabs', code, reason.toString()));
    });
    for (const m of this.#pending.splice(0)) ws.send(m);
  }

  #send(msg: Record<string, unknown>): void {
    if (this.#cancelled) return;
    const text = JSON.stringify(msg);
    if (!this.#ws) this.#pending.push(text);
    else if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(text);
  }

  push(text: string): void {
    // An empty text message means end-of-input on this protocol: never send one by accident.
    if (this.#ended || text === '') return;
    this.#send({ text, try_trigger_generation: true });
  }

  flush(): void {
    if (this.#ended) return;
    this.#send({ text: ' ', flush: true });
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#send({ text: '' });
  }

  cancel(): void {
    if (this.#cancelled || this.#finished) return;
    this.#cancelled = true;
    this.#pending.length = 0;
    this.#queue.end();
    if (this.#ws && this.#ws.readyState !== WebSocket.CLOSED) this.#ws.close(1000);
  }

  #onMessage(text: string): void {
    let msg: ServerMessage;
    try {
      msg = JSON.parse(text) as ServerMessage;
    } catch {
      return this.#fail(new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `elevenlabs sent an unparseable message: ${text.slice(0, 80)}`, { retryable: true }));
    }
    if (msg.error !== undefined && msg.error !== null && msg.audio === undefined) {
      const detail = typeof msg.message === 'string' ? msg.message : String(msg.error);
      return this.#fail(new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `elevenlabs error: ${detail}`, { retryable: true, details: { error: msg.error } }));
    }
    const offsetMs = (this.#samples * 1000) / this.sampleRate;
    const align = msg.normalizedAlignment ?? msg.normalized_alignment ?? msg.alignment;
    if (align) this.#addAlignment(align, offsetMs);
    if (typeof msg.audio === 'string' && msg.audio.length > 0) {
      const pcm = this.#decoder.decode(Buffer.from(msg.audio, 'base64'));
      if (pcm.length > 0) {
        this.#samples += pcm.length;
        this.#queue.push(pcm);
      }
    }
    if (msg.isFinal === true || msg.is_final === true) {
      this.#finished = true;
      this.#queue.end();
      this.#ws?.close(1000);
    }
  }

  #addAlignment(a: RawAlignment, offsetMs: number): void {
    const pick = (...keys: string[]): unknown[] => {
      for (const k of keys) if (Array.isArray(a[k])) return a[k] as unknown[];
      return [];
    };
    const chars = pick('chars');
    const starts = pick('charStartTimesMs', 'char_start_times_ms');
    const durations = pick('charDurationsMs', 'charsDurationsMs', 'char_durations_ms', 'chars_durations_ms');
    chars.forEach((c, i) => {
      this.alignment.chars.push(String(c));
      this.alignment.startMs.push(offsetMs + Number(starts[i] ?? 0));
      this.alignment.durationMs.push(Number(durations[i] ?? 0));
    });
  }

  #fail(err: SwitchboardError): void {
    this.#queue.fail(err);
    this.#cancelled = true;
    this.#ws?.close(1000);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Int16Array> {
    try {
      yield* this.#queue;
    } finally {
      // The consumer left early (barge-in, break): stop the provider instead of leaving it talking.
      this.cancel();
    }
  }
}
