import type { Logger } from 'pino';
import { pcm16ToBuffer } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { SpeechToText, StreamingSpeechToText, SttStream, SttTranscript } from '@switchboard/providers';

/** Speech-to-text as a call uses it: every caller frame goes in, one transcript comes out per utterance. */
export interface Transcriber {
  readonly name: string;
  /** One 20 ms caller frame (16 kHz PCM16). A streaming recognizer sends it on; a batch one ignores it. */
  feed(frame: Int16Array): void;
  /** The endpointer says the caller finished: the utterance's text (`audio` is the utterance for batch recognizers). */
  transcribe(audio: Int16Array, signal?: AbortSignal): Promise<string>;
  close(): Promise<void>;
}

/** One request per utterance (OpenAI-compatible `/audio/transcriptions`). */
export class BatchTranscriber implements Transcriber {
  constructor(private readonly stt: SpeechToText) {}
  get name(): string {
    return this.stt.name;
  }
  feed(): void {}
  transcribe(audio: Int16Array, signal?: AbortSignal): Promise<string> {
    return this.stt.transcribe(audio, 16000, signal);
  }
  async close(): Promise<void> {}
}

/**
 * A live recognition stream for the whole call (Deepgram): every frame is sent as it arrives, final
 * results are collected, and at the end of an utterance the stream is asked to finalize, so the text
 * is ready a few tens of ms after the caller stops instead of after a whole upload. A stream that
 * drops is reopened on the next frame (at most once a second); audio during the gap is lost.
 */
export class StreamingTranscriber implements Transcriber {
  private stream: SttStream | undefined;
  private opening: Promise<SttStream> | undefined;
  private finals: string[] = [];
  private waiters: Array<(t: SttTranscript) => void> = [];
  private lastOpenAttempt = 0;
  private closed = false;
  private failure: SwitchboardError | undefined;

  constructor(
    private readonly stt: StreamingSpeechToText,
    private readonly log: Logger,
    private readonly language?: string,
    /** Longest wait for the finalized result after the utterance ends (ms). */
    private readonly finalizeTimeoutMs = 1500,
  ) {}

  get name(): string {
    return this.stt.name;
  }

  private open(): void {
    if (this.closed || this.opening || this.stream || Date.now() - this.lastOpenAttempt < 1000) return;
    this.lastOpenAttempt = Date.now();
    this.opening = this.stt.open({ sampleRate: 16000, encoding: 'linear16', ...(this.language ? { language: this.language } : {}) });
    this.opening.then(
      (s) => {
        this.opening = undefined;
        if (this.closed) {
          void s.close();
          return;
        }
        this.stream = s;
        this.failure = undefined;
        s.on('transcript', (t) => {
          if (t.isFinal && t.text.trim()) this.finals.push(t.text.trim());
          if (t.isFinal) for (const w of this.waiters.splice(0)) w(t);
        });
        s.on('error', (err) => {
          this.failure = err;
          this.log.warn({ code: err.code }, `streaming STT error: ${err.message}`);
        });
        s.on('closed', (info) => {
          if (this.stream === s) this.stream = undefined;
          if (!info.byClient) this.log.warn({ code: info.code, reason: info.reason }, 'streaming STT closed; reopening on the next audio');
          for (const w of this.waiters.splice(0)) w({ text: '', isFinal: true, speechFinal: true, fromFinalize: true });
        });
      },
      (err: unknown) => {
        this.opening = undefined;
        this.failure = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCodes.PROVIDER_FAILED, (err as Error).message);
        this.log.error({ code: this.failure.code }, `streaming STT could not open: ${this.failure.message}`);
      },
    );
  }

  feed(frame: Int16Array): void {
    if (!this.stream) {
      this.open();
      return;
    }
    this.stream.send(pcm16ToBuffer(frame));
  }

  async transcribe(_audio: Int16Array, signal?: AbortSignal): Promise<string> {
    if (this.stream) {
      const done = new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.finalizeTimeoutMs);
        const w = (r: SttTranscript) => {
          if (r.fromFinalize || r.speechFinal) {
            clearTimeout(t);
            resolve();
          } else this.waiters.push(w);
        };
        this.waiters.push(w);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      this.stream.finalize();
      await done;
    }
    const text = this.finals.join(' ').trim();
    this.finals = [];
    if (!text && !this.stream && this.failure) throw this.failure;
    return text;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stream?.close().catch(() => undefined);
  }
}
