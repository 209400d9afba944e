/**
 * The platform's frame model: PCM16 little-endian mono at {@link INTERNAL_SAMPLE_RATE}, cut into
 * {@link FRAME_MS} frames (320 samples, 640 bytes). Carriers and providers deliver audio in
 * arbitrary chunk sizes; {@link FrameChunker} re-cuts them into whole frames, and
 * {@link pcm16ToBuffer} / {@link bufferToPcm16} move frames between sample arrays and the raw
 * bytes that travel on the bus.
 */

/** Duration of one internal audio frame in milliseconds. */
export const FRAME_MS = 20;

/** Sample rate of all audio inside the platform, in Hz. */
export const INTERNAL_SAMPLE_RATE = 16000;

/** True when the host stores multi-byte numbers little-endian (every platform Node ships on but s390x). */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Number of samples in a frame of `ms` milliseconds at `rate` Hz (320 for 16 kHz and 20 ms).
 * Throws a RangeError when that is not a whole number of samples (e.g. 11025 Hz at 20 ms).
 */
export function samplesPerFrame(rate: number, ms: number = FRAME_MS): number {
  const samples = (rate * ms) / 1000;
  if (!Number.isInteger(samples) || samples <= 0) {
    throw new RangeError(`samplesPerFrame: ${ms} ms at ${rate} Hz is not a whole, positive number of samples`);
  }
  return samples;
}

/**
 * Re-cuts a stream of arbitrarily sized sample chunks into frames of a fixed size, carrying the
 * remainder over to the next push. Every returned frame is a fresh array the caller may keep;
 * the chunker never retains a reference to pushed input.
 */
export class FrameChunker {
  private readonly pending: Int16Array;
  private filled = 0;

  constructor(readonly frameSamples: number) {
    if (!Number.isInteger(frameSamples) || frameSamples <= 0) {
      throw new RangeError(`FrameChunker: frameSamples must be a positive integer, got ${frameSamples}`);
    }
    this.pending = new Int16Array(frameSamples);
  }

  /** Samples held back, waiting for the rest of their frame (0: the next push starts a new frame). */
  get buffered(): number {
    return this.filled;
  }

  /** Appends samples and returns every frame completed by them (possibly none). */
  push(samples: Int16Array): Int16Array[] {
    const size = this.frameSamples;
    const frames: Int16Array[] = [];
    let offset = 0;
    if (this.filled > 0) {
      const take = Math.min(size - this.filled, samples.length);
      this.pending.set(samples.subarray(0, take), this.filled);
      this.filled += take;
      offset = take;
      if (this.filled < size) return frames;
      frames.push(this.pending.slice());
      this.filled = 0;
    }
    while (samples.length - offset >= size) {
      frames.push(samples.slice(offset, offset + size));
      offset += size;
    }
    if (offset < samples.length) {
      this.pending.set(samples.subarray(offset), 0);
      this.filled = samples.length - offset;
    }
    return frames;
  }

  /**
   * Ends the stream: returns the held-back remainder as a last frame, zero-padded to a full
   * frame when `padWithSilence` is true, otherwise shorter than a frame. Returns no frame when
   * nothing is held back. The chunker is empty and reusable afterwards.
   */
  flush(padWithSilence = false): Int16Array[] {
    if (this.filled === 0) return [];
    const frame = padWithSilence ? new Int16Array(this.frameSamples) : new Int16Array(this.filled);
    frame.set(this.pending.subarray(0, this.filled));
    this.filled = 0;
    return [frame];
  }
}

/**
 * Serialises samples to PCM16 little-endian bytes. On little-endian hosts this is a zero-copy
 * view: the Buffer shares memory with `samples`, so do not modify the samples while the bytes
 * are still in use.
 */
export function pcm16ToBuffer(samples: Int16Array): Buffer {
  if (HOST_LITTLE_ENDIAN) return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const out = Buffer.allocUnsafe(samples.byteLength);
  for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, i * 2);
  return out;
}

/**
 * Reads PCM16 little-endian bytes as samples. Zero-copy (a view sharing memory with `buf`) when
 * the bytes start at an even offset in their ArrayBuffer; otherwise, as with Node Buffers sliced
 * from network packets at odd positions, the bytes are copied first because an Int16Array view
 * must be 2-byte aligned. Throws a RangeError on an odd byte length (a torn sample).
 */
export function bufferToPcm16(buf: Uint8Array): Int16Array {
  if (buf.byteLength % 2 !== 0) {
    throw new RangeError(`bufferToPcm16: ${buf.byteLength} bytes is not a whole number of 16-bit samples`);
  }
  if (!HOST_LITTLE_ENDIAN) {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const out = new Int16Array(buf.byteLength / 2);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
    return out;
  }
  if (buf.byteOffset % 2 === 0) return new Int16Array(buf.buffer, buf.byteOffset, buf.byteLength / 2);
  const aligned = new Uint8Array(buf.byteLength);
  aligned.set(buf);
  return new Int16Array(aligned.buffer, 0, buf.byteLength / 2);
}
