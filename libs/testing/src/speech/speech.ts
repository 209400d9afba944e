import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { decodeWav, fixStreamedWavSizes, resample } from '@switchboard/audio';

/**
 * Which voice source `synthesizeSpeech` uses.
 * - `espeak`: the `espeak-ng` binary (fails if it is missing).
 * - `synthetic`: a deterministic voiced signal, the same samples for the same text on every machine.
 * - `auto`: `espeak` when `espeak-ng` is on PATH, otherwise `synthetic`.
 */
export type SpeechEngine = 'auto' | 'espeak' | 'synthetic';

export interface SynthesizeSpeechOptions {
  /** Output sample rate in Hz. Default 8000, the rate of a phone line. */
  sampleRate?: number;
  /** Voice source; default `auto`. */
  engine?: SpeechEngine;
}

/** Duration of one character of synthetic speech, roughly a talker at 170 words per minute. */
export const SYNTHETIC_MS_PER_CHAR = 65;

/** RMS level of synthetic speech: -20 dBFS, a typical level for speech on a phone line. */
const SYNTHETIC_RMS = 32768 * 10 ** (-20 / 20);

/** Length of one synthetic syllable; the envelope rises and falls once per syllable. */
const SYLLABLE_MS = 180;


/** Absolute path of `espeak-ng` on PATH, or null. Looked up once per process. */
export function findEspeak(): string | null {
  // Looked up on every call (a few stat calls): tests and long-lived processes see PATH changes.
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'espeak-ng');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/**
 * Speech audio for `text` as 16-bit mono PCM at `sampleRate` (default 8000 Hz).
 * Empty text gives an empty array.
 */
export async function synthesizeSpeech(text: string, opts: SynthesizeSpeechOptions = {}): Promise<Int16Array> {
  const sampleRate = opts.sampleRate ?? 8000;
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`sampleRate must be a positive integer, got ${sampleRate}`);
  }
  const engine = opts.engine ?? 'auto';
  if (text.length === 0) return new Int16Array(0);
  if (engine === 'synthetic' || (engine === 'auto' && findEspeak() === null)) {
    return syntheticSpeech(text, sampleRate);
  }
  return espeakSpeech(text, sampleRate);
}

/** `ms` milliseconds of digital silence at `rate` Hz (default 8000). */
export function silence(ms: number, rate = 8000): Int16Array {
  return new Int16Array(Math.max(0, Math.round((ms * rate) / 1000)));
}

async function espeakSpeech(text: string, sampleRate: number): Promise<Int16Array> {
  const bin = findEspeak();
  if (bin === null) throw new Error('espeak-ng is not on PATH');
  // Argument array, no shell, and `--` so text starting with "-" is not read as an option.
  const wav = await new Promise<Buffer>((resolve, reject) => {
    execFile(
      bin,
      ['--stdout', '-v', 'en-us', '-s', '170', '--', text],
      { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
  // decodeWav averages any channels down to mono.
  const { samples, sampleRate: wavRate } = decodeWav(fixStreamedWavSizes(wav));
  return wavRate === sampleRate ? samples : resample(samples, wavRate, sampleRate);
}


/**
 * A voiced, speech-like signal: the first eight harmonics of a fundamental that glides between
 * 120 and 160 Hz, shaped by one envelope bump per syllable that never drops to silence, scaled to
 * -20 dBFS RMS. It starts and ends on sound (no padding), so its length is exactly
 * round(characters * 65 ms * rate). The character codes perturb pitch and syllable strength, so
 * different texts give different audio while the same text always gives the same samples.
 */
function syntheticSpeech(text: string, rate: number): Int16Array {
  const chars = [...text];
  const n = Math.round((chars.length * SYNTHETIC_MS_PER_CHAR * rate) / 1000);
  const syllableLen = Math.max(1, Math.round((SYLLABLE_MS * rate) / 1000));
  const charLen = (SYNTHETIC_MS_PER_CHAR * rate) / 1000;
  const codeSum = chars.reduce((s, c) => s + (c.codePointAt(0) ?? 0), 0);
  const contourHz = 0.7 + (codeSum % 7) * 0.1;
  const maxHarmonic = Math.max(1, Math.min(8, Math.floor(rate / 2 / 170)));
  const raw = new Float64Array(n);
  let phase = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const f0 = 140 + 20 * Math.sin(2 * Math.PI * contourHz * t);
    phase += (2 * Math.PI * f0) / rate;
    let v = 0;
    for (let h = 1; h <= maxHarmonic; h++) v += Math.sin(h * phase) / h;
    const syllable = Math.floor(i / syllableLen);
    const charCode = chars[Math.min(chars.length - 1, Math.floor(i / charLen))]?.codePointAt(0) ?? 0;
    const strength = 0.75 + 0.25 * (((syllable * 31 + charCode) % 5) / 4);
    const inSyllable = (i % syllableLen) / syllableLen;
    v *= strength * (0.4 + 0.6 * Math.sin(Math.PI * inSyllable) ** 2);
    raw[i] = v;
    sumSq += v * v;
  }
  const gain = n > 0 && sumSq > 0 ? SYNTHETIC_RMS / Math.sqrt(sumSq / n) : 0;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = Math.max(-32768, Math.min(32767, Math.round((raw[i] ?? 0) * gain)));
  }
  return out;
}
