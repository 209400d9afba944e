import { describe, it, expect } from 'vitest';
import { ALAW_SILENCE, MULAW_SILENCE, alawDecode, alawEncode, mulawDecode, mulawEncode } from './g711.ts';

/** Every 16-bit sample value, -32768..32767. */
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);

function sine(freq: number, rate: number, count: number, amplitude: number): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

function snrDb(reference: Int16Array, actual: Int16Array): number {
  let signal = 0;
  let noise = 0;
  for (let i = 0; i < reference.length; i++) {
    signal += reference[i]! ** 2;
    noise += (reference[i]! - actual[i]!) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

describe('μ-law', () => {
  it.each([
    [0, 0xff],
    [-1, 0x7f],
    [32767, 0x80],
    [-32768, 0x00],
    [1000, 0xce],
    [-1000, 0x4e],
  ])('encodes %i as code %i', (sample, code) => {
    expect(mulawEncode(Int16Array.of(sample))[0]).toBe(code);
  });

  it.each([
    [0x00, -32124],
    [0x80, 32124],
    [0xff, 0],
    [0x7f, 0],
    [0xfe, 8],
    [0x7e, -8],
    [0xce, 988],
  ])('decodes code %i as %i', (code, sample) => {
    expect(mulawDecode(Uint8Array.of(code))[0]).toBe(sample);
  });

  it('silence byte is the encoding of 0', () => {
    expect(MULAW_SILENCE).toBe(0xff);
    expect(mulawEncode(new Int16Array(4))).toEqual(new Uint8Array(4).fill(MULAW_SILENCE));
  });

  it('round-trips every sample within half a quantisation step', () => {
    const decoded = mulawDecode(mulawEncode(ALL_SAMPLES));
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i]!;
      const magnitude = Math.min(Math.abs(x), 32635);
      // Segment e has step 16 << e over biased magnitudes >= 128 << e, so half a step <= (|x| + 132) / 32.
      const bound = (magnitude + 0x84) / 32 + (Math.abs(x) - magnitude);
      if (Math.abs(decoded[i]! - x) > bound) {
        throw new Error(`sample ${x} decoded as ${decoded[i]}, error above ${bound}`);
      }
    }
  });

  it('decode then encode returns every code except negative zero', () => {
    const reencoded = mulawEncode(mulawDecode(ALL_BYTES));
    for (let b = 0; b < 256; b++) expect(reencoded[b]).toBe(b === 0x7f ? 0xff : b);
  });

  it('keeps a -10 dBFS tone above 35 dB SNR', () => {
    const tone = sine(1000, 8000, 8000, 32768 * 0.316 * Math.SQRT2);
    expect(snrDb(tone, mulawDecode(mulawEncode(tone)))).toBeGreaterThan(35);
  });

  it('is monotonic over the whole input range', () => {
    const decoded = mulawDecode(mulawEncode(ALL_SAMPLES));
    let drops = 0;
    for (let i = 1; i < decoded.length; i++) if (decoded[i]! < decoded[i - 1]!) drops++;
    expect(drops).toBe(0);
  });
});

describe('A-law', () => {
  it.each([
    [0, 0xd5],
    [-1, 0x55],
    [32767, 0xaa],
    [-32768, 0x2a],
    [1000, 0xfa],
    [-1000, 0x7a],
  ])('encodes %i as code %i', (sample, code) => {
    expect(alawEncode(Int16Array.of(sample))[0]).toBe(code);
  });

  it.each([
    [0xd5, 8],
    [0x55, -8],
    [0xaa, 32256],
    [0x2a, -32256],
    [0xfa, 1008],
  ])('decodes code %i as %i', (code, sample) => {
    expect(alawDecode(Uint8Array.of(code))[0]).toBe(sample);
  });

  it('silence byte is the encoding of 0', () => {
    expect(ALAW_SILENCE).toBe(0xd5);
    expect(alawEncode(new Int16Array(4))).toEqual(new Uint8Array(4).fill(ALAW_SILENCE));
  });

  it('round-trips every sample within half a quantisation step', () => {
    const decoded = alawDecode(alawEncode(ALL_SAMPLES));
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i]!;
      // Segments 0-1 step 16; segment s >= 2 step 16 << (s - 1) over magnitudes >= 256 << (s - 1).
      const bound = Math.max(8, Math.abs(x) / 32) + 1;
      if (Math.abs(decoded[i]! - x) > bound) {
        throw new Error(`sample ${x} decoded as ${decoded[i]}, error above ${bound}`);
      }
    }
  });

  it('decode then encode returns every code', () => {
    expect(alawEncode(alawDecode(ALL_BYTES))).toEqual(ALL_BYTES);
  });

  it('keeps a -10 dBFS tone above 35 dB SNR', () => {
    const tone = sine(1000, 8000, 8000, 32768 * 0.316 * Math.SQRT2);
    expect(snrDb(tone, alawDecode(alawEncode(tone)))).toBeGreaterThan(35);
  });
});

describe('buffers', () => {
  it.each([
    ['mulawDecode', () => mulawDecode(new Uint8Array(160))],
    ['alawDecode', () => alawDecode(new Uint8Array(160))],
  ])('%s returns one sample per byte', (_name, run) => {
    const out = run();
    expect(out).toBeInstanceOf(Int16Array);
    expect(out.length).toBe(160);
  });

  it('encodes a subarray view from its own offset', () => {
    const samples = Int16Array.of(9999, 0, -32768, 9999);
    expect(Array.from(mulawEncode(samples.subarray(1, 3)))).toEqual([0xff, 0x00]);
  });
});
