import WebSocket from 'ws';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { ProviderEmitter } from '../emitter.ts';
import type { StreamingSpeechToText, SttStream, SttStreamEvents } from '../types.ts';
import { closedUnexpectedly, connectWebSocket, toWebSocketUrl } from '../ws.ts';

export interface DeepgramOptions {
  /** API key, sent as `Authorization: Token <key>`. */
  apiKey: string;
  /** Base URL including `/v1`; default `wss://api.deepgram.com/v1` (http(s) is turned into ws(s)). */
  baseUrl?: string | undefined;
  /** Model, default `nova-3`. */
  model?: string | undefined;
  /** Default language when `open` gives none (e.g. `en`, `multi`); unset lets the model default apply. */
  language?: string | undefined;
  /** Interim results, default true (needed for `utterance_end_ms`). */
  interimResults?: boolean | undefined;
  /** Silence (ms) after which a final result is `speech_final`; default 300. `false` turns endpointing off. */
  endpointingMs?: number | false | undefined;
  /** Word gap (ms) that produces an `UtteranceEnd` message; default 1000 (Deepgram's minimum). `false` turns it off. */
  utteranceEndMs?: number | false | undefined;
  /** Punctuation and number formatting, default true. */
  smartFormat?: boolean | undefined;
  /** Interval of `KeepAlive` messages while the stream is open, default 4000 ms (Deepgram closes after 10 s without data). 0 turns them off. */
  keepAliveMs?: number | undefined;
  /** How long `close()` waits for Deepgram's Metadata and close frame after `CloseStream`, default 3000 ms. */
  closeTimeoutMs?: number | undefined;
  /** Handshake deadline, default 10000 ms. */
  connectTimeoutMs?: number | undefined;
  /** Extra query parameters passed through verbatim (`keyterm`, `numerals`, …). */
  extraParams?: Record<string, string> | undefined;
}

interface DeepgramResults {
  type: 'Results';
  is_final?: boolean;
  speech_final?: boolean;
  from_finalize?: boolean;
  start?: number;
  duration?: number;
  channel?: { alternatives?: Array<{ transcript?: string; confidence?: number }> };
}

/**
 * Deepgram live transcription (`/v1/listen` over WebSocket). Audio goes out as binary frames in the
 * encoding given to `open`; `Results` come back as `transcript` events, `UtteranceEnd` as `utteranceEnd`.
 */
export class DeepgramSpeechToText implements StreamingSpeechToText {
  readonly name = 'deepgram';
  constructor(private readonly opts: DeepgramOptions) {}

  /** The `/listen` URL this adapter opens for the given audio format. */
  listenUrl(o: { sampleRate: number; encoding: 'linear16' | 'mulaw'; language?: string | undefined }): string {
    const base = toWebSocketUrl(this.opts.baseUrl ?? 'wss://api.deepgram.com/v1').replace(/\/+$/, '');
    const q = new URLSearchParams({
      model: this.opts.model ?? 'nova-3',
      encoding: o.encoding,
      sample_rate: String(o.sampleRate),
      channels: '1',
      interim_results: String(this.opts.interimResults ?? true),
      smart_format: String(this.opts.smartFormat ?? true),
    });
    const language = o.language ?? this.opts.language;
    if (language) q.set('language', language);
    const endpointing = this.opts.endpointingMs ?? 300;
    q.set('endpointing', endpointing === false ? 'false' : String(endpointing));
    const utteranceEnd = this.opts.utteranceEndMs ?? 1000;
    if (utteranceEnd !== false && (this.opts.interimResults ?? true)) q.set('utterance_end_ms', String(utteranceEnd));
    for (const [k, v] of Object.entries(this.opts.extraParams ?? {})) q.set(k, v);
    return `${base}/listen?${q.toString()}`;
  }

  async open(o: { sampleRate: number; encoding: 'linear16' | 'mulaw'; language?: string }): Promise<SttStream> {
    if (!Number.isInteger(o.sampleRate) || o.sampleRate <= 0) throw new RangeError(`sampleRate must be a positive integer, got ${o.sampleRate}`);
    return connectWebSocket(
      this.listenUrl(o),
      { headers: { authorization: `Token ${this.opts.apiKey}` }, timeoutMs: this.opts.connectTimeoutMs ?? 10_000, what: 'deepgram' },
      (ws) => new DeepgramStream(ws, this.opts.keepAliveMs ?? 4000, this.opts.closeTimeoutMs ?? 3000),
    );
  }
}

class DeepgramStream extends ProviderEmitter<SttStreamEvents> implements SttStream {
  readonly #ws: WebSocket;
  readonly #keepAlive: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;
  #byClient = false;
  #ended = false;
  /** Request id from Deepgram's Metadata message, once seen. */
  requestId: string | undefined;

  constructor(ws: WebSocket, keepAliveMs: number, private readonly closeTimeoutMs: number) {
    super();
    this.#ws = ws;
    if (keepAliveMs > 0) {
      this.#keepAlive = setInterval(() => this.#control({ type: 'KeepAlive' }), keepAliveMs);
      this.#keepAlive.unref();
    }
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      this.#onMessage(data.toString());
    });
    ws.on('error', (err) => {
      // 'close' follows; the cause is reported there.
      this.#lastError = err.message;
    });
    ws.on('close', (code, reason) => this.#onClose(code, reason.toString()));
  }

  #lastError: string | undefined;

  send(audio: Uint8Array): void {
    if (this.#ws.readyState !== WebSocket.OPEN || this.#closing) return;
    this.#ws.send(audio, { binary: true });
  }

  finalize(): void {
    this.#control({ type: 'Finalize' });
  }

  close(): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#byClient = true;
      if (this.#ended) {
        resolve();
        return;
      }
      this.once('closed', () => resolve());
      if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify({ type: 'CloseStream' }));
      const timer = setTimeout(() => this.#ws.terminate(), this.closeTimeoutMs);
      timer.unref();
      this.once('closed', () => clearTimeout(timer));
    });
    return this.#closing;
  }

  #control(msg: { type: string }): void {
    if (this.#ws.readyState !== WebSocket.OPEN || this.#closing) return;
    this.#ws.send(JSON.stringify(msg));
  }

  #onMessage(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text) as Record<string, unknown>;
    } catch {
      this.emit('error', new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `deepgram sent an unparseable message: ${text.slice(0, 80)}`, { retryable: false }));
      return;
    }
    switch (msg['type']) {
      case 'Results': {
        const r = msg as unknown as DeepgramResults;
        const alt = r.channel?.alternatives?.[0];
        this.emit('transcript', {
          text: alt?.transcript ?? '',
          isFinal: r.is_final === true,
          speechFinal: r.speech_final === true,
          ...(r.from_finalize === true ? { fromFinalize: true } : {}),
          ...(typeof alt?.confidence === 'number' ? { confidence: alt.confidence } : {}),
          ...(typeof r.start === 'number' ? { start: r.start } : {}),
          ...(typeof r.duration === 'number' ? { duration: r.duration } : {}),
        });
        return;
      }
      case 'UtteranceEnd':
        this.emit('utteranceEnd', { lastWordEnd: typeof msg['last_word_end'] === 'number' ? msg['last_word_end'] : 0 });
        return;
      case 'Metadata':
        if (typeof msg['request_id'] === 'string') this.requestId = msg['request_id'];
        return;
      case 'Error': {
        const description = [msg['err_code'], msg['description'] ?? msg['err_msg'] ?? msg['message']].filter((v) => typeof v === 'string').join(': ');
        this.emit('error', new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `deepgram error: ${description || 'unknown'}`, { retryable: true }));
        return;
      }
      default:
        // SpeechStarted and future message types carry nothing the interface needs.
        return;
    }
  }

  #onClose(code: number, reason: string): void {
    if (this.#ended) return;
    this.#ended = true;
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    // After our CloseStream any close is the expected end; otherwise Deepgram (or the network) ended the stream on us.
    if (!this.#byClient) this.emit('error', closedUnexpectedly('deepgram', code, reason || this.#lastError || ''));
    this.emit('closed', { code, reason, byClient: this.#byClient });
  }
}
