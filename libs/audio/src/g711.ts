/**
 * ITU-T G.711 companding: μ-law (PCMU, North America/Japan) and A-law (PCMA, rest of the world).
 *
 * Carriers send 8 kHz G.711; the platform works in PCM16. Both directions are table lookups:
 * decoding uses a 256-entry table per law, encoding a 65,536-entry table indexed by the
 * 16-bit sample's bit pattern, so each sample costs one load and one store and nothing is
 * allocated per sample. The tables (2 × 64 KiB + 2 × 512 B) are built once when the module
 * loads and are shared by every call.
 *
 * The tables are generated from the reference bit-manipulation algorithms (the Sun/CCITT
 * `g711.c` formulation used by SoX, ffmpeg and Asterisk), so the code points match what
 * carriers send: μ-law encode(0) = 0xFF, decode(0x00) = -32124; A-law encode(0) = 0xD5,
 * decode(0xD5) = 8.
 */

/** μ-law byte for digital silence (encodes PCM 0). Use it to fill comfort-noise-free gaps. */
export const MULAW_SILENCE = 0xff;

/** A-law byte for digital silence (encodes PCM 0, decodes to +8). */
export const ALAW_SILENCE = 0xd5;

/** Bias added before the μ-law segment search (G.711 μ-law is offset by 33 in 14-bit units). */
const MULAW_BIAS = 0x84;
/** Largest magnitude μ-law can represent before the bias pushes it out of the top segment. */
const MULAW_CLIP = 32635;

/** Reference μ-law decoder for one byte; only used to fill {@link MULAW_DECODE}. */
function mulawDecodeByte(byte: number): number {
  const u = ~byte & 0xff;
  const t = (((u & 0x0f) << 3) + MULAW_BIAS) << ((u & 0x70) >> 4);
  return u & 0x80 ? MULAW_BIAS - t : t - MULAW_BIAS;
}

/** Reference μ-law encoder for one sample; only used to fill {@link MULAW_ENCODE}. */
function mulawEncodeSample(sample: number): number {
  let magnitude = sample;
  let sign = 0;
  if (magnitude < 0) {
    magnitude = -magnitude;
    sign = 0x80;
  }
  if (magnitude > MULAW_CLIP) magnitude = MULAW_CLIP;
  magnitude += MULAW_BIAS;
  // Segment (exponent) = position of the highest set bit above bit 7, 0..7.
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Reference A-law decoder for one byte; only used to fill {@link ALAW_DECODE}. */
function alawDecodeByte(byte: number): number {
  const a = byte ^ 0x55;
  let t = (a & 0x0f) << 4;
  const segment = (a & 0x70) >> 4;
  if (segment === 0) t += 8;
  else if (segment === 1) t += 0x108;
  else t = (t + 0x108) << (segment - 1);
  return a & 0x80 ? t : -t;
}

/** Reference A-law encoder for one sample; only used to fill {@link ALAW_ENCODE}. */
function alawEncodeSample(sample: number): number {
  let value = sample >> 3;
  let mask: number;
  if (value >= 0) {
    mask = 0xd5;
  } else {
    mask = 0x55;
    value = -value - 1;
  }
  // Segment end points in 13-bit units: 0x1F, 0x3F, 0x7F, ... 0xFFF.
  let segment = 0;
  while (segment < 8 && value > (0x1f << segment) + ((1 << segment) - 1)) segment++;
  if (segment >= 8) return 0x7f ^ mask;
  const quant = segment < 2 ? (value >> 1) & 0x0f : (value >> segment) & 0x0f;
  return ((segment << 4) | quant) ^ mask;
}

function buildDecodeTable(decodeByte: (byte: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let b = 0; b < 256; b++) table[b] = decodeByte(b);
  return table;
}

/** Indexed by `sample & 0xffff`, i.e. the two's-complement bit pattern of the PCM16 sample. */
function buildEncodeTable(encodeSample: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(65536);
  for (let s = -32768; s < 32768; s++) table[s & 0xffff] = encodeSample(s);
  return table;
}

const MULAW_DECODE = buildDecodeTable(mulawDecodeByte);
const ALAW_DECODE = buildDecodeTable(alawDecodeByte);
const MULAW_ENCODE = buildEncodeTable(mulawEncodeSample);
const ALAW_ENCODE = buildEncodeTable(alawEncodeSample);

/** Decodes μ-law bytes to PCM16, one sample per byte. Returns a new array. */
export function mulawDecode(input: Uint8Array): Int16Array {
  const out = new Int16Array(input.length);
  const table = MULAW_DECODE;
  for (let i = 0; i < input.length; i++) out[i] = table[input[i]!]!;
  return out;
}

/**
 * Encodes PCM16 to μ-law, one byte per sample. Magnitudes above 32635 clip to the top code.
 * Returns a new array.
 */
export function mulawEncode(input: Int16Array): Uint8Array {
  const out = new Uint8Array(input.length);
  const table = MULAW_ENCODE;
  for (let i = 0; i < input.length; i++) out[i] = table[input[i]! & 0xffff]!;
  return out;
}

/** Decodes A-law bytes to PCM16, one sample per byte. Returns a new array. */
export function alawDecode(input: Uint8Array): Int16Array {
  const out = new Int16Array(input.length);
  const table = ALAW_DECODE;
  for (let i = 0; i < input.length; i++) out[i] = table[input[i]!]!;
  return out;
}

/** Encodes PCM16 to A-law, one byte per sample. Returns a new array. */
export function alawEncode(input: Int16Array): Uint8Array {
  const out = new Uint8Array(input.length);
  const table = ALAW_ENCODE;
  for (let i = 0; i < input.length; i++) out[i] = table[input[i]! & 0xffff]!;
  return out;
}

/**
 * Decodes μ-law bytes into `out` (at least `input.length` samples), allocating nothing: for the
 * per-frame hot path with a reused buffer. Returns the number of samples written.
 */
export function mulawDecodeInto(input: Uint8Array, out: Int16Array): number {
  const n = input.length;
  if (out.length < n) throw new RangeError(`mulawDecodeInto: output holds ${out.length} samples, input has ${n}`);
  const table = MULAW_DECODE;
  for (let i = 0; i < n; i++) out[i] = table[input[i]!]!;
  return n;
}

/**
 * Encodes PCM16 into μ-law bytes in `out` (at least `input.length` bytes), allocating nothing.
 * Returns the number of bytes written.
 */
export function mulawEncodeInto(input: Int16Array, out: Uint8Array): number {
  const n = input.length;
  if (out.length < n) throw new RangeError(`mulawEncodeInto: output holds ${out.length} bytes, input has ${n}`);
  const table = MULAW_ENCODE;
  for (let i = 0; i < n; i++) out[i] = table[input[i]! & 0xffff]!;
  return n;
}
