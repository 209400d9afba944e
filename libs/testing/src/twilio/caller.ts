import { performance } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import type { RawData } from 'ws';
import { encodeWav, MULAW_SILENCE, mulawDecode, mulawEncode } from '@switchboard/audio';
import { synthesizeSpeech } from '../speech/speech.ts';
import type { SpeechEngine } from '../speech/speech.ts';
import { twilioSid } from './sid.ts';

/** Twilio Media Streams audio: μ-law, 8000 Hz, mono, one 160-byte frame every 20 ms. */
const RATE = 8000;
const FRAME_MS = 20;
const FRAME_BYTES = 160;
/** After an event-loop stall the sender catches up at most this many frames at once, then skips. */
const MAX_CATCH_UP_FRAMES = 10;
/** How often waiters re-check time-based conditions between state changes. */
const WAIT_POLL_MS = 10;

const SILENCE_FRAME = new Uint8Array(FRAME_BYTES).fill(MULAW_SILENCE);
const BASE64_RE = /^[A-Za-z0-9+/]+={0,2}$/;
const DTMF_RE = /^[0-9*#A-D]$/;

export interface TwilioStreamCallerOptions {
  /** `wss://`/`ws://` URL of the media stream, normally the `<Stream url>` from the TwiML. */
  url: string;
  /** `start.customParameters`: the `<Parameter>`s of the TwiML. Default `{}`. */
  customParameters?: Record<string, string>;
  /** Extra handshake headers, e.g. `X-Twilio-Signature`. */
  headers?: Record<string, string>;
  /** Default: a random `CA…` SID. */
  callSid?: string;
  /** Default: a random `AC…` SID. */
  accountSid?: string;
  /** Default: a random `MZ…` SID. */
  streamSid?: string;
  /**
   * true (default): send one media frame every 20 ms, like a phone line. false: send queued caller
   * audio as fast as the socket takes it; idle silence is still paced at 20 ms.
   */
  realtime?: boolean;
}

/** One WebSocket message received from the server. */
export interface ReceivedMessage {
  /** Receive time in ms since the socket opened (monotonic clock). */
  at: number;
  /** true for a binary frame, which Twilio rejects. */
  binary: boolean;
  /** Text of a text frame, or the bytes of a binary frame. */
  raw: string | Buffer;
  /** The parsed message, when the text was a JSON object. */
  message?: Record<string, unknown>;
}

/** One continuous stretch of agent audio played to the caller, from idle to idle. */
export interface HeardSegment {
  /** ms since the socket opened when the first sample played. */
  startedAt: number;
  /** ms since the socket opened when playout stopped; absent while still playing. */
  endedAt?: number;
  /** Samples played (8 kHz). */
  samples: number;
  /** Samples received but never played because a `clear` or the end of the call dropped them. */
  droppedSamples: number;
  /** Marks whose preceding audio finished playing in this segment, in order. */
  marks: string[];
  /** Why playout stopped: the queue ran dry, a `clear` arrived, or the call ended. */
  endedBy?: 'drained' | 'clear' | 'closed';
}

export interface CloseInfo {
  code: number;
  reason: string;
}

/** The media-stream WebSocket handshake was answered with something other than 101. */
export class StreamHandshakeError extends Error {
  constructor(
    /** HTTP status of the refusal, e.g. 403 for a bad signature. */
    readonly status: number,
  ) {
    super(`media stream handshake refused with HTTP ${status}`);
    this.name = 'StreamHandshakeError';
  }
}

interface Utterance {
  data: Uint8Array;
  offset: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

type PlayoutItem = { kind: 'audio'; samples: Int16Array; offset: number } | { kind: 'mark'; name: string };

interface Playing {
  /** performance.now() at which sample 0 of this run played. */
  base: number;
  /** Samples played in this run. */
  played: number;
  segment: HeardSegment;
}

/**
 * The phone side of a Twilio Media Stream: connects to a gateway's media WebSocket and behaves as
 * Twilio does. It sends `connected`, `start`, a `media` frame every 20 ms (μ-law silence when the
 * caller is quiet), `dtmf` and `stop`; it plays the server's `media` on a real-time playout clock,
 * echoes `mark`s when playout reaches them, honours `clear`, and records every message that
 * Twilio would reject (errors 31950/31951) in `violations` instead of throwing.
 */
export class TwilioStreamCaller {
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string;
  readonly realtime: boolean;
  /** Every message received, in order, with its receive time. */
  readonly events: ReceivedMessage[] = [];
  /** Messages Twilio would reject, prefixed with the Twilio error code (31950 or 31951). */
  readonly violations: string[] = [];
  /** Names of the marks echoed back to the server, in echo order. */
  readonly marksEchoed: string[] = [];
  /** Agent audio the caller heard, in playout order (8 kHz chunks; gaps between segments omitted). */
  readonly heard: Int16Array[] = [];
  /** Playout bookkeeping, one entry per continuous stretch of agent audio. */
  readonly segments: HeardSegment[] = [];
  /** Settles once the socket has closed, whoever closed it. */
  readonly closed: Promise<CloseInfo>;

  private readonly ws: WebSocket;
  private readonly openedAt: number;
  private seq = 0;
  private chunk = 0;
  private mediaMs = 0;
  private mediaEpoch = 0;
  private slots = 0;
  private mediaTimer: NodeJS.Timeout | undefined;
  private flushPending = false;
  private sending = false;
  private readonly outQueue: Utterance[] = [];
  private readonly playQueue: PlayoutItem[] = [];
  private playing: Playing | undefined;
  private playTimer: NodeJS.Timeout | undefined;
  private idleSince = 0;
  private heardSamples = 0;
  private clearCount = 0;
  private closeInfo: CloseInfo | undefined;
  private readonly waiters = new Set<() => void>();

  private constructor(ws: WebSocket, opts: TwilioStreamCallerOptions) {
    this.ws = ws;
    this.openedAt = performance.now();
    this.streamSid = opts.streamSid ?? twilioSid('MZ');
    this.callSid = opts.callSid ?? twilioSid('CA');
    this.accountSid = opts.accountSid ?? twilioSid('AC');
    this.realtime = opts.realtime ?? true;
    this.closed = new Promise<CloseInfo>((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString('utf8') };
        this.stopSending(new Error(`call ended (WebSocket closed with ${code})`));
        this.stopPlayout('closed');
        resolve(this.closeInfo);
        this.notify();
      });
    });
    // The close event that follows carries the outcome; without a listener an error would crash.
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
  }

  /** Open the media stream and start it: `connected`, `start`, then media every 20 ms. */
  static connect(opts: TwilioStreamCallerOptions): Promise<TwilioStreamCaller> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(opts.url, { headers: opts.headers ?? {} });
      const onError = (err: Error): void => {
        ws.off('open', onOpen);
        reject(err);
      };
      const onOpen = (): void => {
        ws.off('error', onError);
        const caller = new TwilioStreamCaller(ws, opts);
        caller.begin(opts.customParameters ?? {});
        resolve(caller);
      };
      ws.once('error', onError);
      ws.once('open', onOpen);
      ws.once('unexpected-response', (req, res) => {
        ws.off('open', onOpen);
        ws.off('error', onError);
        ws.on('error', () => {});
        res.resume();
        req.destroy();
        reject(new StreamHandshakeError(res.statusCode ?? 0));
      });
    });
  }

  /** Number of `clear` messages received. */
  get clears(): number {
    return this.clearCount;
  }

  /** Milliseconds since the socket opened, on the clock used by `events` and `segments`. */
  now(): number {
    return performance.now() - this.openedAt;
  }

  /** Milliseconds of agent audio played to the caller so far. */
  heardMs(): number {
    return (this.heardSamples * 1000) / RATE;
  }

  /** Everything heard so far as one 8 kHz buffer. */
  heardAudio(): Int16Array {
    const out = new Int16Array(this.heardSamples);
    let pos = 0;
    for (const chunk of this.heard) {
      out.set(chunk, pos);
      pos += chunk.length;
    }
    return out;
  }

  /** Everything heard so far as an 8 kHz mono WAV file. */
  heardWav(): Buffer {
    return encodeWav(this.heardAudio(), RATE);
  }

  /** true while agent audio is playing or queued for playout. */
  isAgentSpeaking(): boolean {
    return this.playing !== undefined;
  }

  /**
   * Queue caller speech (16-bit PCM, 8 kHz) behind anything already queued. Resolves once its last
   * frame has been sent; rejects if the call ends first.
   */
  say(pcm8k: Int16Array): Promise<void> {
    if (!this.sending) return Promise.reject(new Error('call has ended'));
    if (pcm8k.length === 0) return Promise.resolve();
    const ulaw = mulawEncode(pcm8k);
    const data = new Uint8Array(Math.ceil(ulaw.length / FRAME_BYTES) * FRAME_BYTES).fill(MULAW_SILENCE);
    data.set(ulaw);
    return new Promise<void>((resolve, reject) => {
      this.outQueue.push({ data, offset: 0, resolve, reject });
      if (!this.realtime) this.scheduleFlush();
    });
  }

  /** Synthesize `text` (see `synthesizeSpeech`) and `say` it. */
  async sayText(text: string, engine?: SpeechEngine): Promise<void> {
    const pcm = await synthesizeSpeech(text, { sampleRate: RATE, ...(engine ? { engine } : {}) });
    await this.say(pcm);
  }

  /** Send a keypad press as Twilio does on bidirectional streams. */
  dtmf(digit: string): void {
    if (!DTMF_RE.test(digit)) throw new RangeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
    this.send({
      event: 'dtmf',
      streamSid: this.streamSid,
      sequenceNumber: this.nextSeq(),
      dtmf: { track: 'inbound_track', digit },
    });
  }

  /** Send arbitrary data on the socket, for negative tests of the server. */
  sendRaw(data: string | Buffer): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data);
  }

  /** The caller hangs up: `stop`, then a normal close. Resolves when the socket has closed. */
  hangup(): Promise<CloseInfo> {
    if (this.sending && this.ws.readyState === WebSocket.OPEN) {
      this.stopSending(new Error('caller hung up'));
      this.send({
        event: 'stop',
        streamSid: this.streamSid,
        sequenceNumber: this.nextSeq(),
        stop: { accountSid: this.accountSid, callSid: this.callSid },
      });
      this.ws.close(1000, 'caller hung up');
    }
    return this.closed;
  }

  /**
   * Resolve once `predicate(this)` holds. It is checked on every received message and playout step,
   * and every 10 ms for time-based conditions. Rejects on timeout, or when the call has closed and
   * the predicate is still false.
   */
  waitFor(predicate: (caller: this) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        this.waiters.delete(check);
        clearInterval(poll);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        let ok: boolean;
        try {
          ok = predicate(this);
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (ok) finish();
        else if (this.closeInfo) {
          finish(new Error(`call closed (${this.closeInfo.code} ${this.closeInfo.reason}) before ${what}`));
        }
      };
      const poll = setInterval(check, WAIT_POLL_MS);
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Resolve once the mark `name` has been echoed. */
  waitForMark(name: string, timeoutMs = 5000): Promise<void> {
    return this.waitFor((c) => c.marksEchoed.includes(name), timeoutMs, `mark "${name}"`);
  }

  /** Resolve once at least `minMs` of agent audio has been heard from now on. */
  waitForAgentAudio(minMs: number, timeoutMs = 5000): Promise<void> {
    const from = this.heardSamples;
    const need = (minMs * RATE) / 1000;
    return this.waitFor((c) => c.heardSamples - from >= need, timeoutMs, `${minMs} ms of agent audio`);
  }

  /** Resolve once no agent audio has been playing or queued for `ms`. */
  waitForSilence(ms: number, timeoutMs = 5000): Promise<void> {
    return this.waitFor(
      (c) => c.playing === undefined && c.now() - c.idleSince >= ms,
      timeoutMs,
      `${ms} ms of agent silence`,
    );
  }

  /** Resolve with the close code and reason once the socket has closed. */
  waitForClose(timeoutMs = 5000): Promise<CloseInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for close`)), timeoutMs);
    });
    return Promise.race([this.closed, timeout]).finally(() => clearTimeout(timer));
  }

  // --- sending ---------------------------------------------------------------------------------

  private begin(customParameters: Record<string, string>): void {
    this.send({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    this.send({
      event: 'start',
      sequenceNumber: this.nextSeq(),
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks: ['inbound'],
        customParameters,
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: RATE, channels: 1 },
      },
      streamSid: this.streamSid,
    });
    this.sending = true;
    this.mediaEpoch = performance.now();
    this.pumpMedia();
  }

  private nextSeq(): string {
    this.seq += 1;
    return String(this.seq);
  }

  private send(message: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** One 20 ms slot of the phone line: frame k is due at epoch + 20·k ms. */
  private readonly pumpMedia = (): void => {
    this.mediaTimer = undefined;
    if (!this.sending) return;
    const elapsed = performance.now() - this.mediaEpoch;
    let due = Math.floor(elapsed / FRAME_MS) + 1 - this.slots;
    if (due > MAX_CATCH_UP_FRAMES) {
      this.slots += due - MAX_CATCH_UP_FRAMES;
      due = MAX_CATCH_UP_FRAMES;
    }
    for (; due > 0 && this.sending; due--) {
      const slotMs = this.slots * FRAME_MS;
      this.slots += 1;
      // In fast mode queued speech goes out through flush(); the clock only carries idle silence.
      if (this.realtime || this.outQueue.length === 0) this.sendNextFrame(slotMs);
    }
    if (!this.sending) return;
    const wait = this.mediaEpoch + this.slots * FRAME_MS - performance.now();
    this.mediaTimer = setTimeout(this.pumpMedia, Math.max(0, wait));
  };

  private scheduleFlush(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    setImmediate(() => {
      this.flushPending = false;
      while (this.sending && this.outQueue.length > 0) this.sendNextFrame(0);
    });
  }

  /**
   * Send the next frame of queued speech, or silence. `timestamp` is media time: it follows the
   * wall clock while paced and advances 20 ms per frame, so it always increases.
   */
  private sendNextFrame(slotMs: number): void {
    const head = this.outQueue[0];
    let payload: Uint8Array = SILENCE_FRAME;
    if (head) {
      payload = head.data.subarray(head.offset, head.offset + FRAME_BYTES);
      head.offset += FRAME_BYTES;
    }
    const timestamp = Math.max(this.mediaMs, slotMs);
    this.mediaMs = timestamp + FRAME_MS;
    this.chunk += 1;
    this.send({
      event: 'media',
      sequenceNumber: this.nextSeq(),
      media: {
        track: 'inbound',
        chunk: String(this.chunk),
        timestamp: String(timestamp),
        payload: Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('base64'),
      },
      streamSid: this.streamSid,
    });
    if (head && head.offset >= head.data.length) {
      this.outQueue.shift();
      head.resolve();
    }
  }

  private stopSending(reason: Error): void {
    this.sending = false;
    if (this.mediaTimer) clearTimeout(this.mediaTimer);
    this.mediaTimer = undefined;
    for (const u of this.outQueue.splice(0)) u.reject(reason);
  }

  // --- receiving -------------------------------------------------------------------------------

  private onMessage(data: RawData, isBinary: boolean): void {
    const at = this.now();
    const bytes = rawToBuffer(data);
    if (isBinary) {
      this.events.push({ at, binary: true, raw: bytes });
      this.violate(`31950 binary frame of ${bytes.length} bytes; Twilio accepts JSON text frames only`);
      this.notify();
      return;
    }
    const text = bytes.toString('utf8');
    const record: ReceivedMessage = { at, binary: false, raw: text };
    this.events.push(record);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      this.violate(`31951 invalid JSON: ${preview(text)}`);
      this.notify();
      return;
    }
    if (!isRecord(parsed)) {
      this.violate(`31951 message is not a JSON object: ${preview(text)}`);
      this.notify();
      return;
    }
    record.message = parsed;
    this.handle(parsed);
    this.notify();
  }

  /** Validate one message the way Twilio does; an invalid message is recorded and ignored. */
  private handle(msg: Record<string, unknown>): void {
    const event = msg['event'];
    if (typeof event !== 'string') {
      this.violate('31951 missing "event"');
      return;
    }
    switch (event) {
      case 'media': {
        if (!this.checkEnvelope(msg, event, ['media'])) return;
        const media = msg['media'];
        if (!isRecord(media)) return this.violate('31951 media: "media" must be an object');
        if (!this.checkKeys(media, 'media.media', ['payload'])) return;
        const payload = media['payload'];
        if (typeof payload !== 'string' || payload.length === 0) {
          return this.violate('31951 media: "media.payload" must be a non-empty base64 string');
        }
        if (payload.length % 4 !== 0 || !BASE64_RE.test(payload)) {
          return this.violate(`31951 media: "media.payload" is not base64: ${preview(payload)}`);
        }
        this.enqueueAudio(mulawDecode(new Uint8Array(Buffer.from(payload, 'base64'))));
        return;
      }
      case 'mark': {
        if (!this.checkEnvelope(msg, event, ['mark'])) return;
        const mark = msg['mark'];
        if (!isRecord(mark)) return this.violate('31951 mark: "mark" must be an object');
        if (!this.checkKeys(mark, 'mark.mark', ['name'])) return;
        const name = mark['name'];
        if (typeof name !== 'string' || name.length === 0) {
          return this.violate('31951 mark: "mark.name" must be a non-empty string');
        }
        this.enqueueMark(name);
        return;
      }
      case 'clear':
        if (!this.checkEnvelope(msg, event, [])) return;
        this.handleClear();
        return;
      default:
        this.violate(`31951 unknown event "${event}"`);
    }
  }

  /** `streamSid` must be this stream's; `body` fields are required; nothing else is allowed. */
  private checkEnvelope(msg: Record<string, unknown>, event: string, body: string[]): boolean {
    if (!this.checkKeys(msg, event, ['event', 'streamSid', ...body])) return false;
    const sid = msg['streamSid'];
    if (sid === undefined) {
      this.violate(`31951 ${event}: missing "streamSid"`);
      return false;
    }
    if (sid !== this.streamSid) {
      this.violate(`31951 ${event}: wrong streamSid ${JSON.stringify(sid)} (expected "${this.streamSid}")`);
      return false;
    }
    for (const key of body) {
      if (!(key in msg)) {
        this.violate(`31951 ${event}: missing "${key}"`);
        return false;
      }
    }
    return true;
  }

  private checkKeys(obj: Record<string, unknown>, where: string, allowed: string[]): boolean {
    const extra = Object.keys(obj).filter((k) => !allowed.includes(k));
    if (extra.length === 0) return true;
    this.violate(`31951 ${where}: unexpected field(s) ${extra.map((k) => `"${k}"`).join(', ')}`);
    return false;
  }

  private violate(what: string): void {
    this.violations.push(what);
  }

  // --- playout ---------------------------------------------------------------------------------

  private enqueueAudio(samples: Int16Array): void {
    if (samples.length === 0) return;
    this.playQueue.push({ kind: 'audio', samples, offset: 0 });
    if (!this.playing) {
      const segment: HeardSegment = { startedAt: this.now(), samples: 0, droppedSamples: 0, marks: [] };
      this.segments.push(segment);
      this.playing = { base: performance.now(), played: 0, segment };
    }
    if (!this.playTimer) this.advancePlayout();
  }

  private enqueueMark(name: string): void {
    // With nothing playing, the audio before this mark has all been played: echo at once.
    if (!this.playing) {
      this.echoMark(name);
      return;
    }
    this.playQueue.push({ kind: 'mark', name });
  }

  /** Play everything due by now at 8000 samples/s, echo marks reached, and schedule the next step. */
  private advancePlayout(): void {
    if (this.playTimer) clearTimeout(this.playTimer);
    this.playTimer = undefined;
    const p = this.playing;
    if (!p) return;
    const now = performance.now();
    let due = Math.floor(((now - p.base) * RATE) / 1000) - p.played;
    for (let head = this.playQueue[0]; head; head = this.playQueue[0]) {
      if (head.kind === 'mark') {
        this.playQueue.shift();
        p.segment.marks.push(head.name);
        this.echoMark(head.name);
        continue;
      }
      if (due <= 0) break;
      const n = Math.min(due, head.samples.length - head.offset);
      this.heard.push(head.samples.slice(head.offset, head.offset + n));
      head.offset += n;
      due -= n;
      p.played += n;
      p.segment.samples += n;
      this.heardSamples += n;
      if (head.offset >= head.samples.length) this.playQueue.shift();
    }
    const head = this.playQueue[0];
    if (!head) {
      // Drained: the run ended when its last sample played, which may be slightly before now.
      const endedAt = p.base + (p.played * 1000) / RATE - this.openedAt;
      p.segment.endedAt = endedAt;
      p.segment.endedBy = 'drained';
      this.playing = undefined;
      this.idleSince = endedAt;
    } else {
      // Wake when the head segment has played out (so a mark behind it is echoed on time), or
      // after one frame, whichever is sooner.
      const remaining = head.kind === 'audio' ? head.samples.length - head.offset : 0;
      const headEnd = p.base + ((p.played + remaining) * 1000) / RATE;
      const wait = Math.min(FRAME_MS, Math.max(1, Math.ceil(headEnd - now)));
      this.playTimer = setTimeout(() => this.advancePlayout(), wait);
    }
    this.notify();
  }

  /** Twilio's `clear`: drop unplayed audio and echo every pending mark immediately. */
  private handleClear(): void {
    this.advancePlayout();
    this.clearCount += 1;
    const pending = this.playQueue.splice(0);
    if (this.playTimer) clearTimeout(this.playTimer);
    this.playTimer = undefined;
    const p = this.playing;
    if (p) {
      p.segment.droppedSamples += droppedSamples(pending);
      p.segment.endedAt = this.now();
      p.segment.endedBy = 'clear';
      this.playing = undefined;
      this.idleSince = p.segment.endedAt;
    }
    for (const item of pending) if (item.kind === 'mark') this.echoMark(item.name);
  }

  private stopPlayout(endedBy: 'closed'): void {
    if (this.playTimer) clearTimeout(this.playTimer);
    this.playTimer = undefined;
    const pending = this.playQueue.splice(0);
    const p = this.playing;
    if (!p) return;
    p.segment.droppedSamples += droppedSamples(pending);
    p.segment.endedAt = this.now();
    p.segment.endedBy = endedBy;
    this.playing = undefined;
    this.idleSince = p.segment.endedAt;
  }

  private echoMark(name: string): void {
    this.marksEchoed.push(name);
    this.send({ event: 'mark', streamSid: this.streamSid, sequenceNumber: this.nextSeq(), mark: { name } });
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}

function droppedSamples(items: PlayoutItem[]): number {
  let n = 0;
  for (const item of items) if (item.kind === 'audio') n += item.samples.length - item.offset;
  return n;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function preview(s: string): string {
  return JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
}
