import type { Logger } from 'pino';
import { Resampler, FrameChunker, pcm16ToBuffer } from '@switchboard/audio';
import { audioSubjects, contracts, Headers } from '@switchboard/contracts';
import { rawHeaders, type Bus } from '@switchboard/bus';
import type { TextToSpeech } from '@switchboard/providers';

/** One spoken sentence: its text and the mark that follows its audio. */
export interface Segment {
  mark: string;
  text: string;
  /** The gateway reported the mark: the caller heard the whole segment (`played`) or it was cleared. */
  resolved: boolean;
  /** The caller has heard it all (mark echoed, not cleared). */
  played: boolean;
}

/**
 * What the agent says in one go (a greeting, one turn's answer, a filler line): the sentences queued
 * for it and the segments that reached the gateway, so a barge-in can tell what the caller heard.
 */
export class Utterance {
  /** Every sentence handed to the speaker, in order (some may never be synthesized). */
  readonly sentences: string[] = [];
  /** Sentences synthesized and sent, each followed by its mark. */
  readonly segments: Segment[] = [];
  /** Performance-clock time the first audio frame was published. */
  firstFrameAt: number | undefined;
  /** TTS time to first byte of the first sentence (ms). */
  ttsTtfbMs: number | undefined;
  /** Called once, when the first frame is published. */
  onFirstFrame: ((at: number) => void) | undefined;
  /** Interrupted by the caller or by `speak` with `interrupt`. */
  interrupted = false;
  /** Sentences the speaker has finished with (sent, failed or dropped). */
  processed = 0;
  /** Audio sent for this utterance (ms). */
  publishedMs = 0;
  /** No more sentences will be added. */
  sealed = false;

  constructor(readonly kind: 'greeting' | 'answer' | 'filler' | 'fallback' | 'speak') {}

  /** The sentences whose audio the caller heard to the end. */
  heardText(): string {
    return this.segments
      .filter((s) => s.played)
      .map((s) => s.text)
      .join(' ');
  }

  /** Everything this utterance was meant to say. */
  fullText(): string {
    return this.sentences.join(' ');
  }

  /** Every published segment has its mark back (played or cleared). */
  get resolved(): boolean {
    return this.segments.every((s) => s.resolved);
  }

  /** Sealed, every sentence handled by the speaker and every mark back: the caller heard all there is to hear. */
  get complete(): boolean {
    return this.sealed && this.processed === this.sentences.length && this.resolved;
  }
}

interface Queued {
  text: string;
  utterance: Utterance;
}

/**
 * Turns sentences into the call's outbound audio: TTS → 16 kHz 20 ms frames on `media.<id>.out`, a
 * mark after each sentence. Sentences are synthesized one after another (the gateway paces playback,
 * so the next sentence synthesizes while the previous one plays). When the TTS fails on a sentence the
 * fallback TTS (if any) says it instead. `interrupt()` drops everything and clears the gateway's queue.
 */
export class Speaker {
  private readonly queue: Queued[] = [];
  private running = false;
  private abort = new AbortController();
  private seq = 0;
  private idleWaiters: Array<() => void> = [];
  private resolveWaiters: Array<() => void> = [];
  private readonly pending = new Map<string, Segment>();
  private readonly outSubject: string;
  /** Called after each mark comes back and each sentence is handled: the session checks what completed. */
  onProgress: (() => void) | undefined;

  constructor(
    private readonly callId: string,
    private readonly bus: Bus,
    private readonly tts: TextToSpeech,
    private readonly log: Logger,
    private readonly fallbackTts?: TextToSpeech,
  ) {
    this.outSubject = audioSubjects.mediaOut(callId);
  }

  say(text: string, utterance: Utterance): void {
    utterance.sentences.push(text);
    this.queue.push({ text, utterance });
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

  /** Resolves once the gateway reported every published mark of `utterance` (or after `timeoutMs`). */
  async whenResolved(utterance: Utterance, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!utterance.resolved && performance.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - performance.now()));
        this.resolveWaiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** The gateway reports a mark: the caller heard the segment (or it was cleared). */
  markPlayed(name: string, cleared: boolean): void {
    const seg = this.pending.get(name);
    if (!seg) return;
    this.pending.delete(name);
    seg.resolved = true;
    seg.played = !cleared;
    this.onProgress?.();
    const w = this.resolveWaiters;
    this.resolveWaiters = [];
    for (const r of w) r();
  }

  /** Barge-in: stop synthesis, drop queued text, clear the gateway's queue. Marks still out come back as cleared. */
  interrupt(): void {
    const dropped = this.queue.splice(0);
    for (const q of dropped) {
      q.utterance.interrupted = true;
      q.utterance.processed++;
    }
    this.abort.abort();
    this.abort = new AbortController();
    this.bus.publish(contracts.mediaControl, { type: 'clear' }, { param: this.callId });
  }

  /** The call is over: nothing more will be heard; unresolved segments stay unplayed. */
  close(): void {
    for (const q of this.queue.splice(0)) q.utterance.processed++;
    this.abort.abort();
    for (const seg of this.pending.values()) seg.resolved = true;
    this.pending.clear();
    const w = this.resolveWaiters;
    this.resolveWaiters = [];
    for (const r of w) r();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length) {
        const { text, utterance } = this.queue.shift()!;
        const signal = this.abort.signal;
        const spoke = await this.synthesize(this.tts, text, utterance, signal);
        if (spoke === 'failed' && this.fallbackTts && !signal.aborted) {
          this.log.warn({ tts: this.fallbackTts.name }, 'saying the sentence with the fallback TTS');
          await this.synthesize(this.fallbackTts, text, utterance, signal);
        }
        utterance.processed++;
        this.onProgress?.();
      }
    } finally {
      this.running = false;
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const r of w) r();
    }
  }

  /** Synthesizes one sentence and publishes its frames, the last one carrying the segment's mark. */
  private async synthesize(tts: TextToSpeech, text: string, utterance: Utterance, signal: AbortSignal): Promise<'ok' | 'failed' | 'aborted'> {
    const resampler = new Resampler(tts.sampleRate, 16000);
    const chunker = new FrameChunker(320);
    let last: Int16Array | undefined;
    let frames = 0;
    const publish = (frame: Int16Array, mark?: string) => {
      if (utterance.firstFrameAt === undefined) {
        utterance.firstFrameAt = performance.now();
        utterance.onFirstFrame?.(utterance.firstFrameAt);
      }
      frames++;
      this.bus.publishRaw(this.outSubject, pcm16ToBuffer(frame), mark ? rawHeaders({ [Headers.mark]: mark, [Headers.callId]: this.callId }) : undefined);
    };
    const t0 = performance.now();
    try {
      for await (const chunk of tts.synthesize(text, signal)) {
        if (signal.aborted) break;
        if (utterance.ttsTtfbMs === undefined) utterance.ttsTtfbMs = performance.now() - t0;
        for (const f of chunker.push(resampler.process(chunk))) {
          if (last) publish(last);
          last = f;
        }
      }
    } catch (err) {
      if (signal.aborted) return 'aborted';
      this.log.error({ err: (err as Error).message, tts: tts.name }, 'TTS failed on a sentence');
      // Audio already sent stays queued at the gateway; its segment closes with what was sent.
      if (!last) return 'failed';
    }
    if (signal.aborted) return 'aborted';
    for (const f of chunker.flush(true)) {
      if (last) publish(last);
      last = f;
    }
    if (!last) return 'failed';
    const mark = `seg-${++this.seq}`;
    const seg: Segment = { mark, text, resolved: false, played: false };
    utterance.segments.push(seg);
    this.pending.set(mark, seg);
    publish(last, mark);
    utterance.publishedMs += frames * 20;
    return 'ok';
  }
}
