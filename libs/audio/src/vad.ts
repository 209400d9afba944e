/**
 * Voice activity detection and endpointing: deciding, frame by frame, whether the caller is
 * talking ({@link VoiceActivityDetector}), and turning those decisions into utterances with a
 * start and an end ({@link Endpointer}). The endpointer drives barge-in (speech-start while the
 * agent talks) and hands finished utterances to speech-to-text.
 */

import { samplesPerFrame, FRAME_MS } from './frames.ts';

/** Classifies one frame of PCM16 audio as speech or not. Implementations may keep state across frames. */
export interface VoiceActivityDetector {
  /** True when the frame contains speech. Frames are pushed in stream order. */
  isSpeech(frame: Int16Array): boolean;
  /** Short identifier for logs and metrics, e.g. `energy`. */
  readonly name: string;
}

/**
 * Level of a frame in dBFS, where 0 dBFS is the RMS of a full-scale square wave (32768); a
 * full-scale sine is therefore -3 dBFS. Returns -Infinity for an empty or all-zero frame.
 */
export function rmsDbfs(frame: Int16Array): number {
  if (frame.length === 0) return -Infinity;
  let sumSquares = 0;
  for (let i = 0; i < frame.length; i++) {
    const s = frame[i]!;
    sumSquares += s * s;
  }
  if (sumSquares === 0) return -Infinity;
  return 10 * Math.log10(sumSquares / frame.length / (32768 * 32768));
}

/** Options of {@link EnergyVad}. */
export interface EnergyVadOptions {
  /** A frame louder than this RMS level (dBFS) is speech. Default -40. */
  thresholdDb?: number;
  /**
   * Track the line's noise floor and require speech to stand {@link ADAPTIVE_MARGIN_DB} above it
   * as well as above `thresholdDb`. Makes the detector usable on noisy lines (car, street) where
   * the fixed threshold alone would call the background speech. Default false.
   */
  adaptive?: boolean;
}

/** How far above the tracked noise floor a frame must be to count as speech (adaptive mode). */
const ADAPTIVE_MARGIN_DB = 12;
/**
 * Per-frame smoothing towards a louder level: with 20 ms frames a time constant of 4 s, slow
 * enough that a talker's syllables barely move the floor, fast enough to adapt to a new
 * background within a few seconds. Real speech dips between syllables pull the floor back down.
 */
const FLOOR_RISE = 0.005;
/** Per-frame smoothing towards a quieter level: a time constant of 200 ms with 20 ms frames. */
const FLOOR_FALL = 0.1;

/**
 * Energy-threshold voice activity detector: a frame is speech when its RMS level exceeds a
 * threshold. Cheap (one multiply-add per sample) and adequate on clean telephone lines; it
 * cannot tell speech from loud noise, which is what the adaptive floor partly compensates for.
 */
export class EnergyVad implements VoiceActivityDetector {
  readonly name = 'energy';
  private readonly thresholdDb: number;
  private readonly adaptive: boolean;
  /** Estimated background level in dBFS; never below thresholdDb - margin, where it has no effect. */
  private noiseFloorDb: number;

  constructor(opts: EnergyVadOptions = {}) {
    this.thresholdDb = opts.thresholdDb ?? -40;
    this.adaptive = opts.adaptive ?? false;
    this.noiseFloorDb = this.thresholdDb - ADAPTIVE_MARGIN_DB;
  }

  isSpeech(frame: Int16Array): boolean {
    const level = rmsDbfs(frame);
    if (!this.adaptive) return level > this.thresholdDb;
    const speech = level > Math.max(this.thresholdDb, this.noiseFloorDb + ADAPTIVE_MARGIN_DB);
    const lowest = this.thresholdDb - ADAPTIVE_MARGIN_DB;
    const bounded = level < lowest ? lowest : level;
    const rate = bounded > this.noiseFloorDb ? FLOOR_RISE : FLOOR_FALL;
    this.noiseFloorDb += (bounded - this.noiseFloorDb) * rate;
    return speech;
  }
}

/** An endpointing decision, in stream time (milliseconds of audio pushed since construction or reset). */
export type EndpointEvent =
  | {
      type: 'speech-start';
      /** Stream time of the first speech frame of the utterance (the event itself fires minSpeechMs later). */
      atMs: number;
    }
  | {
      type: 'speech-end';
      /**
       * Stream time at the end of the last speech frame. The event fires the end-of-turn silence
       * later, or at once when maxUtteranceMs cuts a caller who is still talking.
       */
      atMs: number;
      /** The utterance: up to preRollMs before the first speech frame, the speech, and at most the end-of-turn silence after it. */
      audio: Int16Array;
      /** From the first to the end of the last speech frame, pauses included, trailing silence and pre-roll excluded. */
      speechMs: number;
    };

/** Options of {@link Endpointer}. Durations are rounded up to whole frames. */
export interface EndpointerOptions {
  /** Sample rate of the pushed frames in Hz. */
  sampleRate: number;
  /** Duration of each pushed frame. Default 20. */
  frameMs?: number;
  /** Consecutive speech needed before speech-start fires; shorter bursts (clicks, coughs) are ignored. Default 120. */
  minSpeechMs?: number;
  /** Non-speech after speech that ends the utterance. Default 500. */
  minSilenceMs?: number;
  /**
   * Upper bound on the end-of-turn silence. It exists for callers that adapt the pause to the
   * conversation (waiting longer after "my number is..." than after "yes"): whatever they
   * choose must not exceed maxSilenceMs. This endpointer, driven by a plain VAD, waits
   * minSilenceMs, clamped to maxSilenceMs when that is smaller. Default: no clamp.
   */
  maxSilenceMs?: number;
  /**
   * Longest utterance, counted from the first speech frame; when reached, speech-end fires even
   * if the caller is still talking, and continued speech starts a new utterance. Default 30000.
   */
  maxUtteranceMs?: number;
  /** Audio kept from before the first speech frame, so soft onsets are not clipped for speech-to-text. Default 200. */
  preRollMs?: number;
  /** Frame classifier. Default a fresh {@link EnergyVad} with its defaults. */
  vad?: VoiceActivityDetector;
}

type EndpointerState = 'idle' | 'pending' | 'speaking';

/**
 * Turns a stream of fixed-size frames into utterances. States: idle (keeping a pre-roll
 * ring), pending (speech seen, not yet minSpeechMs of it; one non-speech frame drops back to
 * idle), speaking (speech-start emitted; ends after the end-of-turn silence or at
 * maxUtteranceMs). One instance per audio stream; not safe to share between calls.
 */
export class Endpointer {
  private readonly vad: VoiceActivityDetector;
  private readonly frameMs: number;
  private readonly frameSamples: number;
  private readonly minSpeechFrames: number;
  private readonly silenceFrames: number;
  /** Trailing silence kept in the emitted audio, in samples. */
  private readonly silenceSamples: number;
  private readonly maxUtteranceFrames: number;

  private state: EndpointerState = 'idle';
  /** Frames pushed since construction or reset: the stream clock. */
  private frameCount = 0;

  /** Pre-roll ring buffer of the most recent idle audio. */
  private readonly ring: Int16Array;
  private ringWrite = 0;
  private ringFill = 0;

  /** Utterance being collected: pre-roll, then every frame since the first speech frame. */
  private audio: Int16Array;
  private audioLength = 0;
  /** Samples of pre-roll at the start of {@link audio}. */
  private preRollLength = 0;
  /** Frame index of the first speech frame of the current utterance. */
  private onsetFrame = 0;
  /** Frame index just after the last speech frame of the current utterance. */
  private speechEndFrame = 0;
  /** Consecutive speech frames while pending. */
  private runFrames = 0;
  /** Consecutive non-speech frames while speaking. */
  private silenceRun = 0;

  constructor(opts: EndpointerOptions) {
    const frameMs = opts.frameMs ?? FRAME_MS;
    const minSpeechMs = opts.minSpeechMs ?? 120;
    const minSilenceMs = opts.minSilenceMs ?? 500;
    const silenceMs = opts.maxSilenceMs === undefined ? minSilenceMs : Math.min(minSilenceMs, opts.maxSilenceMs);
    const maxUtteranceMs = opts.maxUtteranceMs ?? 30000;
    const preRollMs = opts.preRollMs ?? 200;
    for (const [name, value] of [
      ['minSpeechMs', minSpeechMs],
      ['minSilenceMs', minSilenceMs],
      ['maxSilenceMs', opts.maxSilenceMs ?? 0],
      ['preRollMs', preRollMs],
    ] as const) {
      if (!(value >= 0)) throw new RangeError(`Endpointer: ${name} must be >= 0, got ${value}`);
    }
    if (!(maxUtteranceMs > 0)) throw new RangeError(`Endpointer: maxUtteranceMs must be > 0, got ${maxUtteranceMs}`);

    this.vad = opts.vad ?? new EnergyVad();
    this.frameMs = frameMs;
    this.frameSamples = samplesPerFrame(opts.sampleRate, frameMs);
    this.minSpeechFrames = Math.max(1, Math.ceil(minSpeechMs / frameMs));
    this.silenceFrames = Math.max(1, Math.ceil(silenceMs / frameMs));
    this.silenceSamples = Math.round((silenceMs * opts.sampleRate) / 1000);
    this.maxUtteranceFrames = Math.max(1, Math.floor(maxUtteranceMs / frameMs));
    this.ring = new Int16Array(Math.round((preRollMs * opts.sampleRate) / 1000));
    // Start with room for 3 s; grows by doubling for longer utterances.
    this.audio = new Int16Array(this.ring.length + 150 * this.frameSamples);
  }

  /** True between speech-start and speech-end. */
  get speaking(): boolean {
    return this.state === 'speaking';
  }

  /**
   * Length of the current speech so far, for barge-in thresholds: while speaking, from the first
   * to the end of the latest speech frame (it does not grow during pauses); while pending, the
   * speech run seen so far; when idle, 0.
   */
  get speechMs(): number {
    if (this.state === 'speaking') return (this.speechEndFrame - this.onsetFrame) * this.frameMs;
    if (this.state === 'pending') return this.runFrames * this.frameMs;
    return 0;
  }

  /**
   * Classifies one frame and advances the stream clock by frameMs. Returns the events the
   * frame caused, usually none. Throws a RangeError when the frame is not exactly
   * frameMs long at the configured rate.
   */
  push(frame: Int16Array): EndpointEvent[] {
    if (frame.length !== this.frameSamples) {
      throw new RangeError(`Endpointer: expected frames of ${this.frameSamples} samples, got ${frame.length}`);
    }
    const index = this.frameCount++;
    const speech = this.vad.isSpeech(frame);

    if (this.state === 'idle') {
      if (!speech) {
        this.pushRing(frame);
        return [];
      }
      this.startPending(index);
    }

    this.append(frame);

    if (this.state === 'pending') {
      if (!speech) {
        // Too short to be speech: the burst becomes pre-roll for whatever comes next.
        this.pushRing(this.audio.subarray(this.preRollLength, this.audioLength));
        this.audioLength = 0;
        this.state = 'idle';
        return [];
      }
      this.runFrames++;
      this.speechEndFrame = index + 1;
      if (this.runFrames < this.minSpeechFrames) return [];
      this.state = 'speaking';
      this.silenceRun = 0;
      const events: EndpointEvent[] = [{ type: 'speech-start', atMs: this.onsetFrame * this.frameMs }];
      if (index + 1 - this.onsetFrame >= this.maxUtteranceFrames) events.push(this.end());
      return events;
    }

    // speaking
    if (speech) {
      this.speechEndFrame = index + 1;
      this.silenceRun = 0;
    } else if (++this.silenceRun >= this.silenceFrames) {
      return [this.end()];
    }
    if (index + 1 - this.onsetFrame >= this.maxUtteranceFrames) return [this.end()];
    return [];
  }

  /** Drops any utterance in progress and the pre-roll, and restarts the stream clock at 0. */
  reset(): void {
    this.state = 'idle';
    this.frameCount = 0;
    this.ringWrite = 0;
    this.ringFill = 0;
    this.audioLength = 0;
    this.preRollLength = 0;
    this.runFrames = 0;
    this.silenceRun = 0;
  }

  private startPending(index: number): void {
    this.state = 'pending';
    this.onsetFrame = index;
    this.runFrames = 0;
    // Unroll the ring, oldest first, to the start of the utterance.
    const ring = this.ring;
    const oldest = (this.ringWrite - this.ringFill + ring.length) % ring.length || 0;
    const firstPart = Math.min(this.ringFill, ring.length - oldest);
    this.audio.set(ring.subarray(oldest, oldest + firstPart), 0);
    this.audio.set(ring.subarray(0, this.ringFill - firstPart), firstPart);
    this.audioLength = this.ringFill;
    this.preRollLength = this.ringFill;
  }

  /** Builds speech-end for the current utterance and returns to idle. */
  private end(): EndpointEvent {
    const speechEndSample = this.preRollLength + (this.speechEndFrame - this.onsetFrame) * this.frameSamples;
    const length = Math.min(this.audioLength, speechEndSample + this.silenceSamples);
    const event: EndpointEvent = {
      type: 'speech-end',
      atMs: this.speechEndFrame * this.frameMs,
      audio: this.audio.slice(0, length),
      speechMs: (this.speechEndFrame - this.onsetFrame) * this.frameMs,
    };
    this.state = 'idle';
    this.audioLength = 0;
    this.preRollLength = 0;
    this.runFrames = 0;
    this.silenceRun = 0;
    // The audio before the next utterance starts after this one; nothing older is pre-roll.
    this.ringFill = 0;
    this.ringWrite = 0;
    return event;
  }

  private append(frame: Int16Array): void {
    if (this.audioLength + frame.length > this.audio.length) {
      const grown = new Int16Array(Math.max(this.audio.length * 2, this.audioLength + frame.length));
      grown.set(this.audio.subarray(0, this.audioLength));
      this.audio = grown;
    }
    this.audio.set(frame, this.audioLength);
    this.audioLength += frame.length;
  }

  /** Appends samples to the pre-roll ring, keeping only the newest ring.length samples. */
  private pushRing(samples: Int16Array): void {
    const ring = this.ring;
    const size = ring.length;
    if (size === 0) return;
    let src = samples;
    if (src.length >= size) {
      src = src.subarray(src.length - size);
      ring.set(src, 0);
      this.ringWrite = 0;
      this.ringFill = size;
      return;
    }
    const firstPart = Math.min(src.length, size - this.ringWrite);
    ring.set(src.subarray(0, firstPart), this.ringWrite);
    ring.set(src.subarray(firstPart), 0);
    this.ringWrite = (this.ringWrite + src.length) % size;
    this.ringFill = Math.min(size, this.ringFill + src.length);
  }
}
