import { describe, expect, it } from 'vitest';
import { parseRtp, seqDelta, serializeRtp, tsDelta, writeRtpHeader } from './rtp-packet.ts';

describe('RTP packets', () => {
  it('round-trips header fields, CSRCs and an extension', () => {
    const payload = Uint8Array.from({ length: 160 }, (_, i) => i);
    const buf = serializeRtp({ marker: true, payloadType: 8, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, payload, csrcs: [1, 2], extension: { profile: 0xbede, data: Uint8Array.of(1, 2, 3, 4) } });
    expect(buf.length).toBe(12 + 8 + 8 + 160);
    const p = parseRtp(buf)!;
    expect(p).toMatchObject({ marker: true, payloadType: 8, sequenceNumber: 65535, timestamp: 0xfffffff0, ssrc: 0xdeadbeef, csrcs: [1, 2] });
    expect(p.extension?.profile).toBe(0xbede);
    expect([...p.extension!.data]).toEqual([1, 2, 3, 4]);
    expect([...p.payload]).toEqual([...payload]);
  });

  it('strips padding', () => {
    const buf = Buffer.from(serializeRtp({ marker: false, payloadType: 0, sequenceNumber: 1, timestamp: 2, ssrc: 3, payload: Uint8Array.of(9, 9) }));
    const padded = Buffer.concat([buf, Buffer.from([0, 0, 3])]);
    padded[0] = padded[0]! | 0x20;
    expect([...parseRtp(padded)!.payload]).toEqual([9, 9]);
  });

  it('writeRtpHeader writes the same header as serializeRtp', () => {
    const a = Buffer.alloc(14);
    writeRtpHeader(a, true, 101, 7, 8, 9);
    a.set([5, 6], 12);
    expect(a.equals(serializeRtp({ marker: true, payloadType: 101, sequenceNumber: 7, timestamp: 8, ssrc: 9, payload: Uint8Array.of(5, 6) }))).toBe(true);
  });

  it.each([
    ['too short', Buffer.alloc(11)],
    ['version 1', Buffer.from([0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])],
    ['CSRC count beyond the datagram', Buffer.from([0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1])],
    ['extension beyond the datagram', Buffer.from([0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 9])],
    ['padding longer than the packet', Buffer.from([0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 200])],
    ['padding count zero', Buffer.from([0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0])],
  ])('rejects %s', (_name, buf) => {
    expect(parseRtp(buf)).toBeUndefined();
  });

  it.each([
    [1, 2, 1],
    [65535, 0, 1],
    [0, 65535, -1],
    [100, 90, -10],
  ])('seqDelta(%i, %i) = %i across the wrap', (a, b, d) => {
    expect(seqDelta(a, b)).toBe(d);
  });

  it('tsDelta wraps at 2^32', () => {
    expect(tsDelta(0xffffff00, 0x100)).toBe(0x200);
    expect(tsDelta(0x100, 0xffffff00)).toBe(-0x200);
  });
});
