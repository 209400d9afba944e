import { describe, expect, it, beforeEach, afterEach } from 'vitest';
import { decodeWav, encodeWav, fixStreamedWavSizes } from '@switchboard/audio';
import { findEspeak, silence, synthesizeSpeech, SYNTHETIC_MS_PER_CHAR } from './speech.ts';

const hasEspeak = findEspeak() !== null;

function rmsDbfs(samples: Int16Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return 20 * Math.log10(Math.sqrt(sum / samples.length) / 32768);
}

function peak(samples: Int16Array): number {
  let p = 0;
  for (const s of samples) p = Math.max(p, Math.abs(s));
  return p;
}

describe('synthesizeSpeech (synthetic)', () => {
  it.each([
    ['hello', 8000],
    ['I would like to book a table for two', 8000],
    ['yes', 16000],
  ])('%j at %i Hz lasts 65 ms per character', async (text, sampleRate) => {
    const pcm = await synthesizeSpeech(text, { engine: 'synthetic', sampleRate });
    expect(pcm.length).toBe(Math.round((text.length * SYNTHETIC_MS_PER_CHAR * sampleRate) / 1000));
  });

  it('defaults to 8 kHz', async () => {
    const pcm = await synthesizeSpeech('abcd', { engine: 'synthetic' });
    expect(pcm.length).toBe(Math.round(4 * SYNTHETIC_MS_PER_CHAR * 8));
  });

  it('is speech-level (about -20 dBFS), unclipped, and sounds from the first to the last 20 ms', async () => {
    const pcm = await synthesizeSpeech('good morning, I need help with my order', { engine: 'synthetic' });
    expect(rmsDbfs(pcm)).toBeGreaterThan(-21);
    expect(rmsDbfs(pcm)).toBeLessThan(-19);
    expect(peak(pcm)).toBeLessThan(32767);
    expect(rmsDbfs(pcm.subarray(0, 160))).toBeGreaterThan(-35);
    expect(rmsDbfs(pcm.subarray(pcm.length - 160))).toBeGreaterThan(-35);
  });

  it('is deterministic per text and differs between texts', async () => {
    const a1 = await synthesizeSpeech('cancel my booking', { engine: 'synthetic' });
    const a2 = await synthesizeSpeech('cancel my booking', { engine: 'synthetic' });
    const b = await synthesizeSpeech('change my booking', { engine: 'synthetic' });
    expect(a2).toEqual(a1);
    expect(b).not.toEqual(a1);
  });

  it('gives no audio for empty text', async () => {
    expect((await synthesizeSpeech('', { engine: 'synthetic' })).length).toBe(0);
  });
});

describe('silence', () => {
  it.each([
    [20, 8000, 160],
    [1000, 16000, 16000],
    [0, 8000, 0],
  ])('%i ms at %i Hz is %i zero samples', (ms, rate, length) => {
    const s = silence(ms, rate);
    expect(s.length).toBe(length);
    expect(s.every((v) => v === 0)).toBe(true);
  });
});

describe('fixStreamedWavSizes', () => {
  it('makes a WAV streamed with placeholder sizes (as espeak-ng --stdout writes) decodable', () => {
    const samples = Int16Array.from({ length: 441 }, (_, i) => (i * 37) % 2000);
    const wav = encodeWav(samples, 22050);
    wav.writeUInt32LE(0x7ffff024, 4);
    wav.writeUInt32LE(0x7ffff000, 40);
    expect(() => decodeWav(wav)).toThrow(/malformed/);
    const fixed = decodeWav(fixStreamedWavSizes(wav));
    expect(fixed.sampleRate).toBe(22050);
    expect(fixed.samples).toEqual(samples);
  });
});

describe('synthesizeSpeech (espeak-ng)', () => {
  // Needs the espeak-ng binary, which is not installed everywhere (CI images, dev laptops); the
  // synthetic engine covers the rest of the harness.
  it.skipIf(!hasEspeak)('speaks text through espeak-ng, resampled to the requested rate', async () => {
    const pcm = await synthesizeSpeech('hello there', { engine: 'espeak', sampleRate: 8000 });
    // Two words at 170 wpm take well over 300 ms, and espeak's output is not silent.
    expect(pcm.length).toBeGreaterThan(0.3 * 8000);
    expect(peak(pcm)).toBeGreaterThan(1000);
  });

  // The opposite case, made observable everywhere by hiding espeak-ng from PATH.
  describe('without espeak-ng on PATH', () => {
    let saved: string | undefined;
    beforeEach(() => {
      saved = process.env['PATH'];
      process.env['PATH'] = '/nonexistent-switchboard-test-dir';
    });
    afterEach(() => {
      process.env['PATH'] = saved;
    });

    it('auto falls back to the synthetic voice', async () => {
      const auto = await synthesizeSpeech('hello', { engine: 'auto' });
      expect(auto).toEqual(await synthesizeSpeech('hello', { engine: 'synthetic' }));
    });

    it('fails clearly when espeak-ng is required but missing', async () => {
      await expect(synthesizeSpeech('hello', { engine: 'espeak' })).rejects.toThrow(/espeak-ng is not on PATH/);
    });
  });
});
