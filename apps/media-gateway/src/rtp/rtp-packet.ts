/**
 * RTP (RFC 3550 §5.1) fixed header, CSRC list and header extension: parsed into a view over the
 * datagram (the payload is a subarray, not a copy) and serialized into one Buffer per packet.
 *
 *   0                   1                   2                   3
 *   V=2|P|X|  CC   |M|     PT      |       sequence number         |
 *   |                           timestamp                           |
 *   |           synchronization source (SSRC) identifier            |
 *   |            contributing source (CSRC) identifiers (0..15)     |
 *   | extension: profile (16) | length in 32-bit words (16) | data  |
 */

export interface RtpPacket {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrcs: number[];
  /** Header extension (RFC 3550 §5.3.1) when the X bit is set; kept only so it can be inspected. */
  extension?: { profile: number; data: Uint8Array };
  /** Payload without padding. */
  payload: Uint8Array;
}

export const RTP_HEADER_BYTES = 12;

/** Parses one datagram; returns undefined for anything that is not a well-formed RTP v2 packet. */
export function parseRtp(buf: Uint8Array): RtpPacket | undefined {
  if (buf.length < RTP_HEADER_BYTES) return undefined;
  const b0 = buf[0]!;
  if (b0 >> 6 !== 2) return undefined;
  const padding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const cc = b0 & 0x0f;
  const b1 = buf[1]!;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let offset = RTP_HEADER_BYTES + cc * 4;
  if (buf.length < offset) return undefined;
  const csrcs: number[] = [];
  for (let i = 0; i < cc; i++) csrcs.push(view.getUint32(RTP_HEADER_BYTES + i * 4));
  let extension: RtpPacket['extension'];
  if (hasExtension) {
    if (buf.length < offset + 4) return undefined;
    const profile = view.getUint16(offset);
    const words = view.getUint16(offset + 2);
    const end = offset + 4 + words * 4;
    if (buf.length < end) return undefined;
    extension = { profile, data: buf.subarray(offset + 4, end) };
    offset = end;
  }
  let end = buf.length;
  if (padding) {
    const pad = buf[buf.length - 1]!;
    if (pad === 0 || offset + pad > buf.length) return undefined;
    end -= pad;
  }
  const packet: RtpPacket = {
    marker: (b1 & 0x80) !== 0,
    payloadType: b1 & 0x7f,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    csrcs,
    payload: buf.subarray(offset, end),
  };
  if (extension) packet.extension = extension;
  return packet;
}

/** Serializes a packet (no padding). CSRCs beyond 15 are an error. */
export function serializeRtp(p: Pick<RtpPacket, 'marker' | 'payloadType' | 'sequenceNumber' | 'timestamp' | 'ssrc' | 'payload'> & Partial<Pick<RtpPacket, 'csrcs' | 'extension'>>): Buffer {
  const csrcs = p.csrcs ?? [];
  if (csrcs.length > 15) throw new RangeError('RTP allows at most 15 CSRCs');
  const ext = p.extension;
  if (ext && ext.data.length % 4 !== 0) throw new RangeError('RTP header extension data must be a multiple of 4 bytes');
  const headerLen = RTP_HEADER_BYTES + csrcs.length * 4 + (ext ? 4 + ext.data.length : 0);
  const out = Buffer.allocUnsafe(headerLen + p.payload.length);
  out[0] = 0x80 | (ext ? 0x10 : 0) | csrcs.length;
  out[1] = (p.marker ? 0x80 : 0) | (p.payloadType & 0x7f);
  out.writeUInt16BE(p.sequenceNumber & 0xffff, 2);
  out.writeUInt32BE(p.timestamp >>> 0, 4);
  out.writeUInt32BE(p.ssrc >>> 0, 8);
  let offset = RTP_HEADER_BYTES;
  for (const c of csrcs) {
    out.writeUInt32BE(c >>> 0, offset);
    offset += 4;
  }
  if (ext) {
    out.writeUInt16BE(ext.profile, offset);
    out.writeUInt16BE(ext.data.length / 4, offset + 2);
    out.set(ext.data, offset + 4);
    offset += 4 + ext.data.length;
  }
  out.set(p.payload, offset);
  return out;
}

/**
 * Writes the 12-byte header of a simple packet (no CSRC, no extension) into `out` and returns the
 * payload offset: the outbound hot path fills one buffer per packet without intermediate objects.
 */
export function writeRtpHeader(out: Buffer, marker: boolean, payloadType: number, seq: number, timestamp: number, ssrc: number): number {
  out[0] = 0x80;
  out[1] = (marker ? 0x80 : 0) | (payloadType & 0x7f);
  out.writeUInt16BE(seq & 0xffff, 2);
  out.writeUInt32BE(timestamp >>> 0, 4);
  out.writeUInt32BE(ssrc >>> 0, 8);
  return RTP_HEADER_BYTES;
}

/** Signed distance from sequence number `a` to `b` modulo 2^16 (positive: `b` is later). */
export function seqDelta(a: number, b: number): number {
  const d = (b - a) & 0xffff;
  return d >= 0x8000 ? d - 0x10000 : d;
}

/** Signed distance from timestamp `a` to `b` modulo 2^32. */
export function tsDelta(a: number, b: number): number {
  const d = (b - a) >>> 0;
  return d >= 0x80000000 ? d - 0x100000000 : d;
}
