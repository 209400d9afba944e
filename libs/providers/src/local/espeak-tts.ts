import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { decodeWav, fixStreamedWavSizes, resample } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { TextToSpeech } from '../types.ts';

export interface EspeakOptions {
  /** espeak-ng voice, default `en-us`. */
  voice?: string | undefined;
  /** Speaking rate in words per minute, default 175. */
  wordsPerMinute?: number | undefined;
  /** Pitch 0-99, default espeak's 50. */
  pitch?: number | undefined;
  /** Output rate; default espeak-ng's native 22050 Hz (no resampling). */
  sampleRate?: number | undefined;
  /** Binary name (looked up on PATH) or absolute path, default `espeak-ng`. */
  binary?: string | undefined;
  /** Audio per yielded chunk, default 100 ms. */
  chunkMs?: number | undefined;
}

/** The rate espeak-ng writes. */
export const ESPEAK_NATIVE_RATE = 22050;

/**
 * Local TTS with the `espeak-ng` binary (`--stdout` WAV), for development and demos: no network, no
 * key, robotic voice. A missing binary is a PROVIDER_FAILED (not retryable) that says how to fix it.
 */
export class EspeakTextToSpeech implements TextToSpeech {
  readonly name = 'espeak-ng';
  readonly sampleRate: number;

  constructor(private readonly opts: EspeakOptions = {}) {
    this.sampleRate = opts.sampleRate ?? ESPEAK_NATIVE_RATE;
    if (!Number.isInteger(this.sampleRate) || this.sampleRate <= 0) throw new RangeError(`sampleRate must be a positive integer, got ${this.sampleRate}`);
  }

  /** Absolute path of the binary, or null when it is not installed (checked on every call: PATH may change). */
  static locate(binary = 'espeak-ng'): string | null {
    const candidates = isAbsolute(binary) ? [binary] : (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((dir) => join(dir, binary));
    for (const c of candidates) {
      try {
        accessSync(c, constants.X_OK);
        return c;
      } catch {
        // not here
      }
    }
    return null;
  }

  async *synthesize(text: string, signal?: AbortSignal): AsyncIterable<Int16Array> {
    if (!text.trim()) return;
    const binary = this.opts.binary ?? 'espeak-ng';
    const path = EspeakTextToSpeech.locate(binary);
    if (path === null) throw missing(binary);
    const args = ['--stdout', '-v', this.opts.voice ?? 'en-us', '-s', String(this.opts.wordsPerMinute ?? 175)];
    if (this.opts.pitch !== undefined) args.push('-p', String(this.opts.pitch));
    // `--` so text starting with "-" is not read as an option; no shell is involved.
    args.push('--', text);
    const wav = await run(path, args, signal);
    let samples: Int16Array;
    let rate: number;
    try {
      ({ samples, sampleRate: rate } = decodeWav(fixStreamedWavSizes(wav)));
    } catch (err) {
      throw new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `espeak-ng wrote no usable WAV (${(err as Error).message})`, { retryable: false });
    }
    const out = rate === this.sampleRate ? samples : resample(samples, rate, this.sampleRate);
    const chunk = Math.max(1, Math.round((this.sampleRate * (this.opts.chunkMs ?? 100)) / 1000));
    for (let i = 0; i < out.length; i += chunk) {
      signal?.throwIfAborted();
      yield out.subarray(i, i + chunk);
    }
  }
}

function missing(binary: string): SwitchboardError {
  return new SwitchboardError(
    ErrorCodes.PROVIDER_FAILED,
    `${binary} is not installed (not found on PATH): install it (apt-get install espeak-ng, brew install espeak-ng) or configure another TTS provider`,
    { retryable: false, details: { binary } },
  );
}

function run(path: string, args: string[], signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    signal?.throwIfAborted();
    const child = spawn(path, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (signal?.aborted) reject(signal.reason);
      else if (e.code === 'ENOENT') reject(missing(path));
      else reject(new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `espeak-ng failed to start (${e.message})`, { retryable: false }));
    });
    child.on('close', (code) => {
      if (signal?.aborted) return reject(signal.reason);
      if (code === 0) return resolve(Buffer.concat(out));
      const message = Buffer.concat(err).toString('utf8').trim().replace(/^Error:\s*/, '') || `exit code ${code}`;
      reject(new SwitchboardError(ErrorCodes.PROVIDER_FAILED, `espeak-ng failed: ${message}`, { retryable: false, details: { exitCode: code } }));
    });
  });
}

