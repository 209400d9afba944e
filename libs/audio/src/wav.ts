/**
 * RIFF/WAVE reading and writing for prompts, recordings and test fixtures. Writing always
 * produces canonical 44-byte-header PCM16 mono. Reading accepts what telephony tools commonly
 * produce: PCM16, G.711 μ-law (format 7) and A-law (format 6), any channel count (averaged down to
 * mono), WAVE_FORMAT_EXTENSIBLE wrappers of those, and unknown chunks (LIST, fact, cue ...),
 * which are skipped.
 */

import { alawDecode, mulawDecode } from './g711.ts';

/** A decoded WAV file, always as mono PCM16. */
export interface DecodedWav {
  /** Mono PCM16 samples (multi-channel files are averaged). */
  samples: Int16Array;
  /** Sample rate in Hz, from the fmt chunk. */
  sampleRate: number;
  /** Channel count of the file before the downmix to mono. */
  channels: number;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;
/** Size of the canonical header written by {@link encodeWav}. */
const HEADER_BYTES = 44;
/** Data-chunk size written by streaming recorders that do not know the final length. */
const UNKNOWN_SIZE = 0xffffffff;

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Encodes mono PCM16 samples as a RIFF/WAVE file (format 1, 16-bit, one channel). */
export function encodeWav(samples: Int16Array, sampleRate: number): Buffer {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
    throw new RangeError(`encodeWav: sampleRate must be a positive integer, got ${sampleRate}`);
  }
  const dataBytes = samples.length * 2;
  const out = Buffer.alloc(HEADER_BYTES + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  if (HOST_LITTLE_ENDIAN) {
    out.set(new Uint8Array(samples.buffer, samples.byteOffset, dataBytes), HEADER_BYTES);
  } else {
    for (let i = 0; i < samples.length; i++) out.writeInt16LE(samples[i]!, HEADER_BYTES + i * 2);
  }
  return out;
}

function fail(reason: string): never {
  throw new Error(`decodeWav: malformed WAV file: ${reason}`);
}

interface Format {
  format: number;
  channels: number;
  sampleRate: number;
  blockAlign: number;
  bitsPerSample: number;
}

function readFormat(view: DataView, offset: number, size: number): Format {
  if (size < 16) fail(`fmt chunk is ${size} bytes, expected at least 16`);
  let format = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const blockAlign = view.getUint16(offset + 12, true);
  const bitsPerSample = view.getUint16(offset + 14, true);
  if (format === WAVE_FORMAT_EXTENSIBLE) {
    // cbSize(2) validBits(2) channelMask(4) then the sub-format GUID, whose first two bytes are
    // the plain format code.
    if (size < 40) fail(`WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, expected 40`);
    format = view.getUint16(offset + 24, true);
  }
  return { format, channels, sampleRate, blockAlign, bitsPerSample };
}

/**
 * Decodes a WAV file to mono PCM16. Throws an Error whose message starts with
 * `decodeWav: malformed WAV file` when the bytes are not a well-formed RIFF/WAVE file, and
 * `decodeWav: unsupported` when they are well-formed but in an encoding this platform does not
 * read (e.g. 24-bit or float PCM).
 */
export function decodeWav(buf: Uint8Array): DecodedWav {
  if (buf.byteLength < 12) fail(`${buf.byteLength} bytes is too short for a RIFF header`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (at: number): string =>
    String.fromCharCode(buf[at]!, buf[at + 1]!, buf[at + 2]!, buf[at + 3]!);
  if (tag(0) !== 'RIFF') fail('missing RIFF signature');
  if (tag(8) !== 'WAVE') fail('RIFF form type is not WAVE');

  let format: Format | undefined;
  let data: Uint8Array | undefined;
  let offset = 12;
  while (offset + 8 <= buf.byteLength && data === undefined) {
    const id = tag(offset);
    const declared = view.getUint32(offset + 4, true);
    const body = offset + 8;
    const available = buf.byteLength - body;
    if (id === 'data') {
      if (declared === UNKNOWN_SIZE) {
        // Streaming recorders leave the size open; the data runs to the end of the file.
        data = buf.subarray(body);
      } else if (declared > available) {
        fail(`data chunk declares ${declared} bytes but only ${available} remain`);
      } else {
        data = buf.subarray(body, body + declared);
      }
      break;
    }
    if (declared > available) fail(`"${id}" chunk declares ${declared} bytes but only ${available} remain`);
    if (id === 'fmt ') format = readFormat(view, body, declared);
    // Chunks are padded to an even length.
    offset = body + declared + (declared & 1);
  }
  if (data === undefined) fail('no data chunk');
  if (format === undefined) fail('no fmt chunk before the data chunk');

  const { channels, sampleRate, blockAlign, bitsPerSample } = format;
  if (channels < 1) fail('channel count is 0');
  if (sampleRate < 1) fail('sample rate is 0');

  let decoded: Int16Array;
  if (format.format === WAVE_FORMAT_PCM && bitsPerSample === 16) {
    if (blockAlign !== channels * 2) fail(`block align ${blockAlign} does not match ${channels} channels of 16-bit PCM`);
    decoded = readPcm16(data);
  } else if ((format.format === WAVE_FORMAT_MULAW || format.format === WAVE_FORMAT_ALAW) && bitsPerSample === 8) {
    if (blockAlign !== channels) fail(`block align ${blockAlign} does not match ${channels} channels of 8-bit G.711`);
    decoded = format.format === WAVE_FORMAT_MULAW ? mulawDecode(data) : alawDecode(data);
  } else {
    throw new Error(
      `decodeWav: unsupported encoding (format ${format.format}, ${bitsPerSample} bits); ` +
        'expected 16-bit PCM, 8-bit μ-law or 8-bit A-law',
    );
  }
  // A trailing partial frame (truncated recording) is dropped.
  const frames = Math.floor(decoded.length / channels);
  return { samples: downmix(decoded, channels, frames), sampleRate, channels };
}

/** Reads little-endian PCM16 into a fresh, aligned array (a trailing odd byte is ignored). */
function readPcm16(data: Uint8Array): Int16Array {
  const count = data.byteLength >> 1;
  if (HOST_LITTLE_ENDIAN) {
    const copy = new Uint8Array(count * 2);
    copy.set(data.subarray(0, count * 2));
    return new Int16Array(copy.buffer);
  }
  const out = new Int16Array(count);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

/** Averages interleaved channels into mono, rounding to nearest. */
function downmix(interleaved: Int16Array, channels: number, frames: number): Int16Array {
  if (channels === 1) return frames === interleaved.length ? interleaved : interleaved.slice(0, frames);
  const out = new Int16Array(frames);
  for (let f = 0, i = 0; f < frames; f++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += interleaved[i++]!;
    out[f] = Math.round(sum / channels);
  }
  return out;
}

/** Duration in milliseconds of `samples` played at `sampleRate` Hz (not rounded). */
export function durationMs(samples: Int16Array, sampleRate: number): number {
  return (samples.length * 1000) / sampleRate;
}

/**
 * espeak-ng writing to a pipe cannot seek back to fill in the RIFF and data chunk sizes, so its
 * header keeps the placeholder 0x7ffff000, which decodeWav rightly rejects as larger than the file.
 * Clamp both sizes to the bytes actually present.
 */
export function fixStreamedWavSizes(wav: Buffer): Buffer {
  if (wav.length < 12 || wav.toString('ascii', 0, 4) !== 'RIFF' || wav.toString('ascii', 8, 12) !== 'WAVE') {
    return wav;
  }
  const out = Buffer.from(wav);
  out.writeUInt32LE(out.length - 8, 4);
  let pos = 12;
  while (pos + 8 <= out.length) {
    const id = out.toString('ascii', pos, pos + 4);
    const size = out.readUInt32LE(pos + 4);
    const available = out.length - pos - 8;
    if (id === 'data') {
      // Whole 16-bit samples only.
      if (size > available) out.writeUInt32LE(available - (available % 2), pos + 4);
      break;
    }
    pos += 8 + size + (size % 2);
  }
  return out;
}
