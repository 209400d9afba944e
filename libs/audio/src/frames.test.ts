import { describe, it, expect } from 'vitest';
import {
  FRAME_MS,
  FrameChunker,
  INTERNAL_SAMPLE_RATE,
  bufferToPcm16,
  pcm16ToBuffer,
  samplesPerFrame,
} from './frames.ts';

describe('samplesPerFrame', () => {
  it('defaults to the internal 20 ms frame', () => {
    expect(FRAME_MS).toBe(20);
    expect(INTERNAL_SAMPLE_RATE).toBe(16000);
    expect(samplesPerFrame(INTERNAL_SAMPLE_RATE)).toBe(320);
  });

  it.each([
    [8000, 20, 160],
    [24000, 20, 480],
    [22050, 20, 441],
    [16000, 10, 160],
    [48000, 30, 1440],
  ])('%i Hz, %i ms -> %i samples', (rate, ms, expected) => {
    expect(samplesPerFrame(rate, ms)).toBe(expected);
  });

  it.each([
    [11025, 20],
    [16000, 0],
    [44100, 1],
  ])('rejects %i Hz at %i ms (not a whole number of samples)', (rate, ms) => {
    expect(() => samplesPerFrame(rate, ms)).toThrow(RangeError);
  });
});

describe('FrameChunker', () => {
  const ramp = (start: number, count: number): Int16Array => Int16Array.from({ length: count }, (_, i) => start + i);

  it('re-cuts irregular chunks into whole frames in order', () => {
    const chunker = new FrameChunker(4);
    const frames = [
      ...chunker.push(ramp(0, 3)),
      ...chunker.push(ramp(3, 6)),
      ...chunker.push(ramp(9, 1)),
      ...chunker.push(ramp(10, 0)),
      ...chunker.push(ramp(10, 9)),
    ];
    expect(frames.map((f) => Array.from(f))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11],
      [12, 13, 14, 15],
    ]);
    expect(chunker.flush().map((f) => Array.from(f))).toEqual([[16, 17, 18]]);
  });

  it.each([
    [false, [[1, 2]]],
    [true, [[1, 2, 0, 0]]],
  ])('flush(padWithSilence=%s) returns the remainder', (pad, expected) => {
    const chunker = new FrameChunker(4);
    expect(chunker.push(Int16Array.of(1, 2))).toEqual([]);
    expect(chunker.flush(pad).map((f) => Array.from(f))).toEqual(expected);
    expect(chunker.flush(pad)).toEqual([]);
  });

  it('returns copies that later pushes and caller mutations do not touch', () => {
    const chunker = new FrameChunker(2);
    const input = Int16Array.of(1, 2, 3);
    const [first] = chunker.push(input);
    input.fill(0);
    const [second] = chunker.push(Int16Array.of(4));
    expect(Array.from(first!)).toEqual([1, 2]);
    expect(Array.from(second!)).toEqual([3, 4]);
  });

  it('passes exact frames straight through', () => {
    const chunker = new FrameChunker(320);
    const frames = chunker.push(ramp(0, 640));
    expect(frames).toHaveLength(2);
    expect(frames[1]![0]).toBe(320);
    expect(chunker.flush()).toEqual([]);
  });

  it('rejects a non-positive frame size', () => {
    expect(() => new FrameChunker(0)).toThrow(RangeError);
  });
});

describe('PCM16 byte conversion', () => {
  it('writes little-endian bytes', () => {
    const buf = pcm16ToBuffer(Int16Array.of(1, -2, 0x1234, -32768));
    expect(Buffer.isBuffer(buf)).toBe(true);
    expect(Array.from(buf)).toEqual([0x01, 0x00, 0xfe, 0xff, 0x34, 0x12, 0x00, 0x80]);
  });

  it('writes only the subarray it is given', () => {
    const samples = Int16Array.of(7, 0x0102, 9);
    expect(Array.from(pcm16ToBuffer(samples.subarray(1, 2)))).toEqual([0x02, 0x01]);
  });

  it('reads little-endian bytes', () => {
    expect(Array.from(bufferToPcm16(Uint8Array.of(0x01, 0x00, 0xfe, 0xff, 0x00, 0x80)))).toEqual([1, -2, -32768]);
  });

  it('reads bytes that start at an odd offset by copying', () => {
    const backing = Buffer.from([0xaa, 0x34, 0x12, 0xff, 0x7f]);
    const odd = backing.subarray(1);
    expect(odd.byteOffset % 2).toBe(1);
    const samples = bufferToPcm16(odd);
    expect(Array.from(samples)).toEqual([0x1234, 32767]);
    backing[1] = 0;
    expect(samples[0]).toBe(0x1234);
  });

  it('reads bytes at an even offset without copying', () => {
    const backing = new Uint8Array([0, 0, 5, 0]);
    const samples = bufferToPcm16(backing.subarray(2));
    expect(samples.buffer).toBe(backing.buffer);
    expect(Array.from(samples)).toEqual([5]);
  });

  it('round-trips every sample value', () => {
    const all = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);
    expect(bufferToPcm16(pcm16ToBuffer(all))).toEqual(all);
  });

  it('rejects an odd number of bytes', () => {
    expect(() => bufferToPcm16(new Uint8Array(3))).toThrow(RangeError);
  });
});
