import type { Logger } from 'pino';
import { Resampler, FrameChunker, pcm16ToBuffer } from '@switchboard/audio';
import { audioSubjects, contracts, Headers } from '@switchboard/contracts';
import { rawHeaders, type Bus } from '@switchboard/bus';
import type { TextToSpeech } from '@switchboard/providers';

/** One spoken segment: its text and the mark that follows its audio. */
export interface Segment {
  mark: string;
  text: string;
  /** The caller has heard it all (mark echoed, not cleared). */
  played: boolean;
}

/**
 * Turns sentences into the call's outbound audio: TTS → 16 kHz 20 ms frames on `media.<id>.out`, a
 * mark after each sentence. Sentences are synthesized one after another (the gateway paces playback,
 * so the next sentence synthesizes while the previous one plays). `interrupt()` drops everything.
 */
export class Speaker {
  private readonly queue: string[] = [];
  private running = false;
  private abort = new AbortController();
  private seq = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly pending = new Map<string, Segment>();
  readonly segments: Segment[] = [];
  /** Called with the time the first frame of each `say` batch leaves, for response-latency metrics. */
  onFirstFrame: ((at: number) => void) | undefined;
  private firstFramePending = false;
  private readonly outSubject: string;

  constructor(
    private readonly callId: string,
    private readonly bus: Bus,
    private readonly tts: TextToSpeech,
    private readonly log: Logger,
  ) {
    this.outSubject = audioSubjects.mediaOut(callId);
  }

  /** Arms the first-frame callback for the next audio that leaves. */
  armFirstFrame(): void {
    this.firstFramePending = true;
  }

  say(text: string): void {
    this.queue.push(text);
    if (!this.running) void this.run();
  }

  /** True while audio is being synthesized, queued, or still playing at the caller. */
  get speaking(): boolean {
    return this.running || this.queue.length > 0 || this.pending.size > 0;
  }

  /** Resolves once every queued sentence has been synthesized and published. */
  whenPublished(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** The gateway reports a mark: the caller heard the segment (or it was cleared). */
  markPlayed(name: string, cleared: boolean): void {
    const seg = this.pending.get(name);
    if (!seg) return;
    this.pending.delete(name);
    seg.played = !cleared;
  }

  /** Barge-in: stop synthesis, drop queued text, clear the gateway's queue. Returns the segments that were not heard. */
  interrupt(): Segment[] {
    this.queue.length = 0;
    this.abort.abort();
    this.abort = new AbortController();
    this.bus.publish(contracts.mediaControl, { type: 'clear' }, { param: this.callId });
    const unheard = [...this.pending.values()];
    this.pending.clear();
    return unheard;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const text = this.queue.shift()!;
        const signal = this.abort.signal;
        const resampler = new Resampler(this.tts.sampleRate, 16000);
        const chunker = new FrameChunker(320);
        let last: Int16Array | undefined;
        const publish = (frame: Int16Array, mark?: string) => {
          if (this.firstFramePending) {
            this.firstFramePending = false;
            this.onFirstFrame?.(performance.now());
          }
          this.bus.publishRaw(this.outSubject, pcm16ToBuffer(frame), mark ? rawHeaders({ [Headers.mark]: mark, [Headers.callId]: this.callId }) : undefined);
        };
        try {
          for await (const chunk of this.tts.synthesize(text, signal)) {
            if (signal.aborted) break;
            for (const f of chunker.push(resampler.process(chunk))) {
              if (last) publish(last);
              last = f;
            }
          }
        } catch (err) {
          if (!signal.aborted) this.log.error({ err }, 'TTS failed; sentence skipped');
        }
        if (signal.aborted) continue;
        for (const f of chunker.flush(true)) {
          if (last) publish(last);
          last = f;
        }
        if (last) {
          const mark = `seg-${++this.seq}`;
          const seg: Segment = { mark, text, played: false };
          this.segments.push(seg);
          this.pending.set(mark, seg);
          publish(last, mark);
        }
      }
    } finally {
      this.running = false;
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }
}
