import { describe, it, expect } from 'vitest';
import { Resampler, resample } from './resample.ts';

const RATE_PAIRS = [
  [8000, 16000],
  [16000, 8000],
  [24000, 16000],
  [24000, 8000],
  [16000, 24000],
  [22050, 8000],
  [22050, 16000],
  [44100, 16000],
] as const;

function sine(freq: number, rate: number, count: number, amplitude = 10000): Int16Array {
  const out = new Int16Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

/** Deterministic pseudo-random noise (xorshift), so failures reproduce. */
function noise(count: number, amplitude: number, seed = 12345): Int16Array {
  const out = new Int16Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = Math.round(((s >>> 0) / 0xffffffff - 0.5) * 2 * amplitude);
  }
  return out;
}

function rms(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return Math.sqrt(sum / samples.length);
}

/**
 * Least-squares fit of a sinusoid at exactly `freq` Hz; returns the ratio in dB of the fitted
 * tone's power to the residual's. High only if the signal is that tone, at that frequency, clean.
 */
function toneSnrDb(samples: Int16Array, freq: number, rate: number): number {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (let i = 0; i < samples.length; i++) {
    const w = (2 * Math.PI * freq * i) / rate;
    const s = Math.sin(w), c = Math.cos(w), y = samples[i]!;
    ss += s * s; cc += c * c; sc += s * c; ys += y * s; yc += y * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det;
  const b = (yc * ss - ys * sc) / det;
  let signal = 0, residual = 0;
  for (let i = 0; i < samples.length; i++) {
    const w = (2 * Math.PI * freq * i) / rate;
    const fit = a * Math.sin(w) + b * Math.cos(w);
    signal += fit * fit;
    residual += (samples[i]! - fit) ** 2;
  }
  return 10 * Math.log10(signal / residual);
}

/** Drops the first and last `ms` milliseconds (filter start-up and tail). */
function trim(samples: Int16Array, rate: number, ms = 20): Int16Array {
  const n = Math.round((rate * ms) / 1000);
  return samples.subarray(n, samples.length - n);
}

function concat(chunks: Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

describe('Resampler lengths', () => {
  it.each(RATE_PAIRS)('%i -> %i produces ceil(n * to / from) samples for every input length', (from, to) => {
    for (const n of [0, 1, 2, 3, 7, 160, 320, 441, 480, 1000]) {
      expect(resample(new Int16Array(n), from, to).length).toBe(Math.ceil((n * to) / from));
    }
  });

  it.each(RATE_PAIRS)('%i -> %i does not drift over 60 s of 20 ms frames', (from, to) => {
    const frame = new Int16Array((from * 20) / 1000 || 1);
    const r = new Resampler(from, to);
    let total = 0;
    let inputTotal = 0;
    for (let i = 0; i < 3000; i++) {
      total += r.process(frame).length;
      inputTotal += frame.length;
    }
    expect(total).toBe(Math.ceil((inputTotal * to) / from));
  });
});

describe('Resampler streaming', () => {
  it.each(RATE_PAIRS)('%i -> %i: 20 ms chunks equal the one-shot conversion', (from, to) => {
    const input = noise(from, 8000);
    const oneShot = resample(input, from, to);
    const r = new Resampler(from, to);
    const frame = Math.round(from / 50);
    const chunks: Int16Array[] = [];
    for (let i = 0; i < input.length; i += frame) chunks.push(r.process(input.subarray(i, i + frame)));
    expect(concat(chunks)).toEqual(oneShot);
  });

  it.each(RATE_PAIRS)('%i -> %i: irregular chunks (1 to 700 samples) equal the one-shot conversion', (from, to) => {
    const input = noise(from, 8000, 99);
    const oneShot = resample(input, from, to);
    const r = new Resampler(from, to);
    const chunks: Int16Array[] = [];
    const sizes = [1, 700, 3, 0, 160, 2, 441, 97];
    for (let i = 0, k = 0; i < input.length; k++) {
      const size = sizes[k % sizes.length]!;
      chunks.push(r.process(input.subarray(i, i + size)));
      i += size;
    }
    expect(concat(chunks)).toEqual(oneShot);
  });

  it('reset forgets history and phase', () => {
    const input = noise(3200, 8000);
    const r = new Resampler(24000, 16000);
    r.process(noise(1001, 8000, 7));
    r.reset();
    expect(r.process(input)).toEqual(new Resampler(24000, 16000).process(input));
  });

  it('equal rates return an equal copy', () => {
    const input = noise(320, 8000);
    const out = new Resampler(16000, 16000).process(input);
    expect(out).toEqual(input);
    expect(out).not.toBe(input);
  });

  it.each([
    [0, 16000],
    [8000, -1],
    [8000.5, 16000],
    [Number.NaN, 16000],
  ])('rejects rates %d -> %d', (from, to) => {
    expect(() => new Resampler(from, to)).toThrow(RangeError);
  });
});

describe('Resampler frequency behaviour', () => {
  it('a 1 kHz tone survives 8k -> 16k -> 8k with high SNR and unchanged level', () => {
    const tone = sine(1000, 8000, 8000);
    const up = resample(tone, 8000, 16000);
    expect(toneSnrDb(trim(up, 16000), 1000, 16000)).toBeGreaterThan(60);
    const back = resample(up, 16000, 8000);
    const steady = trim(back, 8000);
    expect(toneSnrDb(steady, 1000, 8000)).toBeGreaterThan(60);
    expect(rms(steady) / rms(trim(tone, 8000))).toBeCloseTo(1, 2);
  });

  it.each([
    // [from, to, in-band tone, out-of-band tone that would alias]
    [16000, 8000, 1000, 6000],
    [24000, 16000, 3000, 10000],
    [24000, 8000, 1000, 5000],
    [22050, 8000, 1000, 6000],
    [44100, 16000, 2000, 12000],
  ])('%i -> %i passes %i Hz and suppresses %i Hz by more than 60 dB', (from, to, pass, stop) => {
    const passed = trim(resample(sine(pass, from, from), from, to), to);
    expect(20 * Math.log10(rms(passed) / (10000 / Math.SQRT2))).toBeGreaterThan(-0.1);
    expect(toneSnrDb(passed, pass, to)).toBeGreaterThan(50);
    const stopped = trim(resample(sine(stop, from, from), from, to), to);
    expect(20 * Math.log10(rms(stopped) / (10000 / Math.SQRT2))).toBeLessThan(-60);
  });

  it.each([
    [16000, 8000],
    [24000, 8000],
  ])('%i -> %i keeps 3400 Hz within 1 dB and folds back 4500 Hz below -50 dB', (from, to) => {
    const levelDb = (freq: number): number =>
      20 * Math.log10(rms(trim(resample(sine(freq, from, from), from, to), to)) / (10000 / Math.SQRT2));
    expect(levelDb(3400)).toBeGreaterThan(-1);
    expect(levelDb(4500)).toBeLessThan(-50);
  });

  it('upsampling 8k -> 16k adds no image above 4 kHz', () => {
    // A 3 kHz tone at 8 kHz has an image at 5 kHz after naive zero-stuffing.
    const up = trim(resample(sine(3000, 8000, 8000), 8000, 16000), 16000);
    expect(toneSnrDb(up, 3000, 16000)).toBeGreaterThan(50);
  });

  it('a constant input gives the same constant output at every phase', () => {
    const out = trim(resample(new Int16Array(22050).fill(12000), 22050, 8000), 8000);
    expect(Math.min(...out)).toBe(12000);
    expect(Math.max(...out)).toBe(12000);
  });

  it('clips instead of wrapping around on overshoot', () => {
    // A full-scale square wave rings above 32767 after low-pass filtering.
    const square = Int16Array.from({ length: 1600 }, (_, i) => (Math.floor(i / 40) % 2 ? -32768 : 32767));
    const out = resample(square, 8000, 16000);
    let wraps = 0;
    for (let i = 1; i < out.length; i++) if (Math.abs(out[i]! - out[i - 1]!) > 40000) wraps++;
    expect(wraps).toBe(0);
    expect(Math.max(...out)).toBe(32767);
  });
});

/** Amplitude of the component at exactly `freq` Hz (least-squares fit of a sine and a cosine). */
function amplitudeAt(samples: Int16Array, freq: number, rate: number): number {
  let ss = 0, cc = 0, sc = 0, ys = 0, yc = 0;
  for (let i = 0; i < samples.length; i++) {
    const w = (2 * Math.PI * freq * i) / rate;
    const s = Math.sin(w), c = Math.cos(w), y = samples[i]!;
    ss += s * s; cc += c * c; sc += s * c; ys += y * s; yc += y * c;
  }
  const det = ss * cc - sc * sc;
  const a = (ys * cc - yc * sc) / det;
  const b = (yc * ss - ys * sc) / det;
  return Math.hypot(a, b);
}

/** The 47-tap half-band filter written out in full from the 12 coefficients the fast path uses. */
function halfBandTaps(): Float64Array {
  const half = [
    -0.001191339556751985, 0.0024194136483232992, -0.0040252231703228735, 0.0060437487591530961, -0.0089266153245606255, 0.013066789613299889,
    -0.018720944610163499, 0.026508318828028059, -0.038187527067063645, 0.058287987903748076, -0.10287636296915831, 0.31724699076730545,
  ];
  const h = new Float64Array(47);
  half.forEach((c, i) => {
    h[2 * i] = c;
    h[46 - 2 * i] = c;
  });
  h[23] = 0.5;
  return h;
}

/** Direct-form reference: zero-stuff (×2 gain) or not, convolve with the 47 taps, keep every output (up) or every other (down). */
function referenceHalfBand(input: Int16Array, mode: 'up' | 'down'): Int16Array {
  const h = halfBandTaps();
  const x = mode === 'up' ? new Float64Array(input.length * 2) : Float64Array.from(input);
  if (mode === 'up') input.forEach((v, i) => (x[2 * i] = 2 * v));
  const n = mode === 'up' ? x.length : Math.ceil(input.length / 2);
  const out = new Int16Array(n);
  for (let m = 0; m < n; m++) {
    const j = mode === 'up' ? m : 2 * m;
    let acc = 0;
    for (let t = 0; t < 47; t++) if (j - t >= 0) acc += h[t]! * x[j - t]!;
    out[m] = Math.max(-32768, Math.min(32767, Math.round(acc)));
  }
  return out;
}

describe('Resampler half-band path (exact 1:2 and 2:1)', () => {
  it.each([
    ['up', 8000, 16000],
    ['down', 16000, 8000],
  ] as const)('%s: equals the 47-tap filter in direct form, sample for sample, in 20 ms frames', (mode, from, to) => {
    const input = noise(from / 2, 12000, 4242);
    const r = new Resampler(from, to);
    const frames: Int16Array[] = [];
    for (let i = 0; i < input.length; i += from / 50) frames.push(r.process(input.subarray(i, i + from / 50)));
    const got = concat(frames);
    const want = referenceHalfBand(input, mode);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(got.length).toBe(want.length);
    // Summation order differs; rounding may land one step apart.
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('16k -> 8k keeps the telephone band (300-3400 Hz) within 0.1 dB', () => {
    for (let f = 300; f <= 3400; f += 100) {
      const out = trim(resample(sine(f, 16000, 16000), 16000, 8000), 8000);
      expect(Math.abs(20 * Math.log10(amplitudeAt(out, f, 8000) / 10000))).toBeLessThan(0.1);
    }
  });

  it('16k -> 8k suppresses every tone from 4.5 kHz to 7.9 kHz by at least 50 dB (anti-aliasing)', () => {
    let worst = -Infinity;
    for (let f = 4500; f <= 7900; f += 50) {
      // What lands in the 8 kHz output is the alias at |8000 - f|; measure all of it.
      const out = trim(resample(sine(f, 16000, 16000), 16000, 8000), 8000);
      worst = Math.max(worst, 20 * Math.log10(rms(out) / (10000 / Math.SQRT2)));
    }
    expect(worst).toBeLessThan(-50);
  });

  it('8k -> 16k keeps 300-3400 Hz within 0.1 dB and rejects each image (8 kHz - f) by at least 50 dB', () => {
    let worstImage = -Infinity;
    for (let f = 300; f <= 3500; f += 50) {
      const out = trim(resample(sine(f, 8000, 8000), 8000, 16000), 16000);
      const level = amplitudeAt(out, f, 16000);
      if (f <= 3400) expect(Math.abs(20 * Math.log10(level / 10000))).toBeLessThan(0.1);
      worstImage = Math.max(worstImage, 20 * Math.log10(amplitudeAt(out, 8000 - f, 16000) / level));
    }
    expect(worstImage).toBeLessThan(-50);
  });

  it('also serves other exact 2:1 pairs (24 kHz -> 12 kHz) with the same relative band edges', () => {
    const passed = trim(resample(sine(3000, 24000, 24000), 24000, 12000), 12000);
    expect(Math.abs(20 * Math.log10(amplitudeAt(passed, 3000, 12000) / 10000))).toBeLessThan(0.1);
    const stopped = trim(resample(sine(9000, 24000, 24000), 24000, 12000), 12000);
    expect(20 * Math.log10(rms(stopped) / (10000 / Math.SQRT2))).toBeLessThan(-50);
  });
});

describe('Resampler.processInto', () => {
  it.each(RATE_PAIRS)('%i -> %i writes what process returns, into the caller\'s buffer', (from, to) => {
    const input = noise(from / 10, 8000, 5);
    const a = new Resampler(from, to);
    const b = new Resampler(from, to);
    const out = new Int16Array(4096);
    for (let i = 0; i < input.length; i += 97) {
      const chunk = input.subarray(i, i + 97);
      const expected = a.process(chunk);
      expect(b.outputLength(chunk.length)).toBe(expected.length);
      const n = b.processInto(chunk, out);
      expect(out.subarray(0, n)).toEqual(expected);
    }
  });

  it('refuses an output buffer that is too small', () => {
    expect(() => new Resampler(8000, 16000).processInto(new Int16Array(160), new Int16Array(319))).toThrow(RangeError);
  });
});
