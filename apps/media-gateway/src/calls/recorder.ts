import { createWriteStream, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { encodeWav } from '@switchboard/audio';

const RATE = 8000;
/** Samples gathered before one write to disk (1 s): few large writes instead of 50 small ones a second. */
const FLUSH_SAMPLES = RATE;
/** Longest silence inserted at once in the agent track (a gap longer than that is an idle line, written in pieces). */
const MAX_GAP_SAMPLES = RATE * 60;

/** One 8 kHz PCM16 mono WAV file written as the call goes: header first, sizes patched on close. */
class WavTrack {
  private readonly stream: WriteStream;
  private pending = new Int16Array(FLUSH_SAMPLES);
  private filled = 0;
  /** Samples written or pending so far. */
  samples = 0;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path);
    this.stream.on('error', () => undefined);
    // Header with a zero data size for now; close() writes the real sizes.
    this.stream.write(encodeWav(new Int16Array(0), RATE));
  }

  append(pcm: Int16Array): void {
    let offset = 0;
    while (offset < pcm.length) {
      const n = Math.min(pcm.length - offset, FLUSH_SAMPLES - this.filled);
      this.pending.set(pcm.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === FLUSH_SAMPLES) this.flush();
    }
    this.samples += pcm.length;
  }

  silence(n: number): void {
    const zeros = new Int16Array(Math.min(n, FLUSH_SAMPLES));
    for (let left = n; left > 0; left -= zeros.length) this.append(left >= zeros.length ? zeros : zeros.subarray(0, left));
  }

  private flush(): void {
    if (this.filled === 0) return;
    const chunk = this.pending.subarray(0, this.filled);
    this.stream.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    // The stream keeps a reference to the written bytes until they reach the disk: start a new buffer.
    this.pending = new Int16Array(FLUSH_SAMPLES);
    this.filled = 0;
  }

  async close(): Promise<void> {
    this.flush();
    this.stream.end();
    await once(this.stream, 'close');
    const dataBytes = this.samples * 2;
    const fh = await open(this.path, 'r+');
    try {
      const sizes = Buffer.alloc(4);
      sizes.writeUInt32LE(36 + dataBytes, 0);
      await fh.write(sizes, 0, 4, 4);
      sizes.writeUInt32LE(dataBytes, 0);
      await fh.write(sizes, 0, 4, 40);
    } finally {
      await fh.close();
    }
  }
}

/**
 * Per-call recording of both legs as 8 kHz PCM16 WAV: `<callId>-caller.wav` (what the carrier
 * delivered) and `<callId>-agent.wav` (what was sent to the caller, placed at the time it played,
 * with silence in between, so the two files line up). Audio dropped by a barge-in `clear` before it
 * was sent is not in the agent file: the files are what was on the line.
 */
export class CallRecorder {
  private readonly caller: WavTrack;
  private readonly agent: WavTrack;
  private closed: Promise<{ caller: string; agent: string }> | undefined;

  constructor(
    dir: string,
    callId: string,
    /** performance.now() at which the recording starts (sample 0 of both files). */
    private readonly startMs: number,
  ) {
    this.caller = new WavTrack(join(dir, `${callId}-caller.wav`));
    this.agent = new WavTrack(join(dir, `${callId}-agent.wav`));
  }

  /** Caller audio as it arrives (8 kHz; the carrier delivers it continuously, silence included). */
  callerAudio(pcm8k: Int16Array): void {
    if (!this.closed) this.caller.append(pcm8k);
  }

  /** One agent frame that starts playing at `playAtMs` (performance.now() clock). */
  agentAudio(frame: Int16Array, playAtMs: number): void {
    if (this.closed) return;
    const at = Math.round(((playAtMs - this.startMs) * RATE) / 1000);
    const gap = at - this.agent.samples;
    if (gap > 0) this.agent.silence(Math.min(gap, MAX_GAP_SAMPLES));
    this.agent.append(frame);
  }

  /** Finishes both files (idempotent); resolves with their paths. */
  close(): Promise<{ caller: string; agent: string }> {
    this.closed ??= Promise.all([this.caller.close(), this.agent.close()]).then(() => ({ caller: this.caller.path, agent: this.agent.path }));
    return this.closed;
  }
}
