import { describe, it, expect } from 'vitest';
import { alawDecode, alawEncode, mulawDecode, mulawEncode } from './g711.ts';
import { decodeWav, durationMs, encodeWav } from './wav.ts';

interface Chunk {
  id: string;
  body: Uint8Array;
  /** Size written in the chunk header when it must differ from the body length. */
  declaredSize?: number;
}

function fmtBody(format: number, channels: number, sampleRate: number, bitsPerSample: number): Uint8Array {
  const b = Buffer.alloc(16);
  const blockAlign = (channels * bitsPerSample) / 8;
  b.writeUInt16LE(format, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(sampleRate, 4);
  b.writeUInt32LE(sampleRate * blockAlign, 8);
  b.writeUInt16LE(blockAlign, 12);
  b.writeUInt16LE(bitsPerSample, 14);
  return b;
}

/** Builds a RIFF/WAVE file from chunks, padding odd-sized bodies as the format requires. */
function riff(chunks: Chunk[], formType = 'WAVE'): Buffer {
  const parts: Buffer[] = [Buffer.from(formType, 'ascii')];
  for (const c of chunks) {
    const header = Buffer.alloc(8);
    header.write(c.id, 0, 'ascii');
    header.writeUInt32LE(c.declaredSize ?? c.body.length, 4);
    parts.push(header, Buffer.from(c.body));
    if (c.body.length % 2 === 1) parts.push(Buffer.alloc(1));
  }
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(8);
  head.write('RIFF', 0, 'ascii');
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body]);
}

function le16(samples: number[]): Uint8Array {
  const b = Buffer.alloc(samples.length * 2);
  samples.forEach((s, i) => b.writeInt16LE(s, i * 2));
  return b;
}

const SAMPLES = Int16Array.from({ length: 800 }, (_, i) => Math.round(20000 * Math.sin(i / 7)));

describe('encodeWav', () => {
  it('writes the canonical 44-byte PCM16 mono header', () => {
    const wav = encodeWav(Int16Array.of(1, -2, 3), 16000);
    expect(wav.length).toBe(44 + 6);
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(wav.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(wav.readUInt32LE(16)).toBe(16);
    expect(wav.readUInt16LE(20)).toBe(1); // PCM
    expect(wav.readUInt16LE(22)).toBe(1); // mono
    expect(wav.readUInt32LE(24)).toBe(16000);
    expect(wav.readUInt32LE(28)).toBe(32000); // byte rate
    expect(wav.readUInt16LE(32)).toBe(2); // block align
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.toString('ascii', 36, 40)).toBe('data');
    expect(wav.readUInt32LE(40)).toBe(6);
    expect([wav.readInt16LE(44), wav.readInt16LE(46), wav.readInt16LE(48)]).toEqual([1, -2, 3]);
  });

  it('encodes a subarray without its neighbours', () => {
    const wav = encodeWav(Int16Array.of(9, 4, 9).subarray(1, 2), 8000);
    expect(wav.length).toBe(46);
    expect(wav.readInt16LE(44)).toBe(4);
  });
});

describe('decodeWav', () => {
  it.each([8000, 16000, 22050, 24000])('round-trips PCM16 mono at %i Hz', (rate) => {
    const decoded = decodeWav(encodeWav(SAMPLES, rate));
    expect(decoded.sampleRate).toBe(rate);
    expect(decoded.channels).toBe(1);
    expect(decoded.samples).toEqual(SAMPLES);
  });

  it('reads a file that starts at an odd byte offset', () => {
    const wav = encodeWav(SAMPLES, 8000);
    const shifted = Buffer.alloc(wav.length + 1);
    wav.copy(shifted, 1);
    expect(decodeWav(shifted.subarray(1)).samples).toEqual(SAMPLES);
  });

  it('averages stereo down to mono', () => {
    const wav = riff([
      { id: 'fmt ', body: fmtBody(1, 2, 16000, 16) },
      { id: 'data', body: le16([100, 300, -100, -301, 32767, 32767, -32768, -32768]) },
    ]);
    const decoded = decodeWav(wav);
    expect(decoded.channels).toBe(2);
    expect(Array.from(decoded.samples)).toEqual([200, -200, 32767, -32768]);
  });

  it.each([
    ['μ-law', 7, mulawEncode, mulawDecode],
    ['A-law', 6, alawEncode, alawDecode],
  ] as const)('reads %s (format %i)', (_name, format, encode, decode) => {
    const bytes = encode(SAMPLES);
    const wav = riff([
      { id: 'fmt ', body: Buffer.concat([fmtBody(format, 1, 8000, 8), Buffer.alloc(2)]) }, // 18-byte fmt with cbSize
      { id: 'fact', body: Buffer.alloc(4) },
      { id: 'data', body: bytes },
    ]);
    const decoded = decodeWav(wav);
    expect(decoded.sampleRate).toBe(8000);
    expect(decoded.samples).toEqual(decode(bytes));
  });

  it('reads WAVE_FORMAT_EXTENSIBLE wrapping PCM16', () => {
    const ext = Buffer.alloc(40);
    Buffer.from(fmtBody(0xfffe, 1, 16000, 16)).copy(ext);
    ext.writeUInt16LE(22, 16); // cbSize
    ext.writeUInt16LE(16, 18); // valid bits
    ext.writeUInt16LE(1, 24); // sub-format GUID starts with WAVE_FORMAT_PCM
    const wav = riff([
      { id: 'fmt ', body: ext },
      { id: 'data', body: le16([5, -5]) },
    ]);
    expect(Array.from(decodeWav(wav).samples)).toEqual([5, -5]);
  });

  it('skips unknown chunks, including odd-sized ones with a pad byte', () => {
    const wav = riff([
      { id: 'LIST', body: Buffer.from('INFOabc', 'ascii') },
      { id: 'fmt ', body: fmtBody(1, 1, 8000, 16) },
      { id: 'junk', body: Buffer.alloc(3, 0xff) },
      { id: 'data', body: le16([1, 2, 3]) },
      { id: 'LIST', body: Buffer.alloc(10) },
    ]);
    expect(Array.from(decodeWav(wav).samples)).toEqual([1, 2, 3]);
  });

  it('reads to the end of the file when the data size is the streaming placeholder 0xFFFFFFFF', () => {
    const wav = riff([
      { id: 'fmt ', body: fmtBody(1, 1, 8000, 16) },
      { id: 'data', body: le16([7, 8, 9]), declaredSize: 0xffffffff },
    ]);
    expect(Array.from(decodeWav(wav).samples)).toEqual([7, 8, 9]);
  });

  it('drops a trailing partial sample frame', () => {
    const wav = riff([
      { id: 'fmt ', body: fmtBody(1, 2, 8000, 16) },
      { id: 'data', body: le16([1, 3, 5]) },
    ]);
    expect(Array.from(decodeWav(wav).samples)).toEqual([2]);
  });

  it.each([
    ['an empty buffer', Buffer.alloc(0), /too short/],
    ['a non-RIFF file', Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00'), /RIFF signature/],
    ['a RIFF file that is not WAVE', riff([], 'AVI '), /not WAVE/],
    ['a file without a data chunk', riff([{ id: 'fmt ', body: fmtBody(1, 1, 8000, 16) }]), /no data chunk/],
    ['a file without a fmt chunk', riff([{ id: 'data', body: le16([1]) }]), /no fmt chunk/],
    [
      'a truncated data chunk',
      riff([
        { id: 'fmt ', body: fmtBody(1, 1, 8000, 16) },
        { id: 'data', body: le16([1, 2]), declaredSize: 4000 },
      ]),
      /declares 4000 bytes but only 4 remain/,
    ],
    ['a short fmt chunk', riff([{ id: 'fmt ', body: Buffer.alloc(10) }, { id: 'data', body: le16([1]) }]), /fmt chunk is 10 bytes/],
    [
      'a chunk running past the end of the file',
      riff([{ id: 'LIST', body: Buffer.alloc(4), declaredSize: 100 }]),
      /"LIST" chunk declares 100 bytes/,
    ],
    [
      'zero channels',
      riff([{ id: 'fmt ', body: fmtBody(1, 0, 8000, 16) }, { id: 'data', body: le16([1]) }]),
      /channel count is 0/,
    ],
  ])('rejects %s as malformed', (_name, wav, message) => {
    expect(() => decodeWav(wav)).toThrow(/^decodeWav: malformed WAV file/);
    expect(() => decodeWav(wav)).toThrow(message);
  });

  it.each([
    ['24-bit PCM', fmtBody(1, 1, 48000, 24)],
    ['32-bit float', fmtBody(3, 1, 48000, 32)],
    ['8-bit PCM', fmtBody(1, 1, 8000, 8)],
  ])('rejects %s as unsupported', (_name, fmt) => {
    const wav = riff([{ id: 'fmt ', body: fmt }, { id: 'data', body: Buffer.alloc(12) }]);
    expect(() => decodeWav(wav)).toThrow(/^decodeWav: unsupported encoding/);
  });
});

describe('durationMs', () => {
  it.each([
    [320, 16000, 20],
    [160, 8000, 20],
    [24000, 24000, 1000],
    [441, 22050, 20],
    [0, 8000, 0],
  ])('%i samples at %i Hz last %i ms', (count, rate, ms) => {
    expect(durationMs(new Int16Array(count), rate)).toBe(ms);
  });
});
