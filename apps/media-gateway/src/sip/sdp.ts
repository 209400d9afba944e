import { parse, write, type MediaDescription, type SessionDescription } from 'sdp-transform';
import { STATIC_PT, type G711 } from '../rtp/rtp-session.ts';

/** SDP media direction (RFC 3264 §5.1). */
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Our codec preference: the first of these the offer contains wins. */
export const CODEC_PREFERENCE: readonly G711[] = ['PCMU', 'PCMA'];

/** The gateway's default payload type for telephone-event in its own offers. */
export const DTMF_PT = 101;

/** What an offer (or an answer to our offer) settles for the call's audio. */
export interface Negotiated {
  codec: G711;
  payloadType: number;
  /** telephone-event/8000 payload type, when the other side offers it. */
  dtmfPayloadType?: number;
  /** Where the other side wants media; address 0.0.0.0 (RFC 2543 hold) is kept as is. */
  remote: { address: string; port: number };
  /** The other side's direction for the audio stream. */
  remoteDirection: Direction;
  /** Index of the audio m-line in the description (the answer keeps the offer's m-line order). */
  mediaIndex: number;
  /** The parsed offer, to mirror its other m-lines (rejected) in the answer. */
  offer: SessionDescription;
}

export type NegotiationFailure = { ok: false; reason: string };

/** RFC 3264 §6.1: the answer's direction for an offered direction. */
export function answerDirection(offered: Direction): Direction {
  switch (offered) {
    case 'sendonly':
      return 'recvonly';
    case 'recvonly':
      return 'sendonly';
    default:
      return offered;
  }
}

/** We may send media when the other side receives: its direction is sendrecv or recvonly and its address is real. */
export function weMaySend(n: Pick<Negotiated, 'remoteDirection' | 'remote'>): boolean {
  return (n.remoteDirection === 'sendrecv' || n.remoteDirection === 'recvonly') && n.remote.address !== '0.0.0.0' && n.remote.port > 0;
}

function directionOf(m: MediaDescription, s: SessionDescription): Direction {
  return (m.direction ?? s.direction ?? 'sendrecv') as Direction;
}

/** The codec of each payload type of an m-line: rtpmap first, RFC 3551 static types otherwise. */
function codecs(m: MediaDescription): Array<{ pt: number; name: string; rate: number }> {
  const pts = String(m.payloads ?? '')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n >= 0 && n <= 127);
  return pts.map((pt) => {
    const map = m.rtp.find((r) => r.payload === pt);
    if (map) return { pt, name: map.codec.toUpperCase(), rate: map.rate ?? 8000 };
    if (pt === STATIC_PT.PCMU) return { pt, name: 'PCMU', rate: 8000 };
    if (pt === STATIC_PT.PCMA) return { pt, name: 'PCMA', rate: 8000 };
    return { pt, name: `PT${pt}`, rate: 0 };
  });
}

/**
 * Chooses the call's audio from an SDP offer: the first audio m-line on RTP/AVP with a port, the first
 * codec of {@link CODEC_PREFERENCE} it contains, and telephone-event/8000 when offered. Anything else
 * (only G.729, SRTP only, no audio) is a failure the caller answers with 488.
 */
export function negotiateOffer(sdp: string): Negotiated | NegotiationFailure {
  let desc: SessionDescription;
  try {
    desc = parse(sdp);
  } catch {
    return { ok: false, reason: 'unparseable SDP' };
  }
  const index = desc.media?.findIndex((m) => m.type === 'audio' && m.port > 0 && /^RTP\/AVP$/i.test(m.protocol)) ?? -1;
  if (index < 0) return { ok: false, reason: desc.media?.some((m) => m.type === 'audio') ? 'no plain RTP/AVP audio stream (SRTP is not supported)' : 'no audio stream' };
  const m = desc.media[index]!;
  const offered = codecs(m);
  const chosen = pick(offered);
  if (!chosen) return { ok: false, reason: `no common codec (offered ${offered.map((c) => c.name).join(', ') || 'none'}; supported ${CODEC_PREFERENCE.join(', ')})` };
  const address = m.connection?.ip ?? desc.connection?.ip;
  if (!address) return { ok: false, reason: 'no connection address (c=)' };
  const dtmf = offered.find((c) => c.name === 'TELEPHONE-EVENT' && c.rate === 8000);
  const n: Negotiated = {
    codec: chosen.codec,
    payloadType: chosen.pt,
    remote: { address, port: m.port },
    remoteDirection: directionOf(m, desc),
    mediaIndex: index,
    offer: desc,
  };
  if (dtmf) n.dtmfPayloadType = dtmf.pt;
  return n;
}

function pick(offered: Array<{ pt: number; name: string; rate: number }>): { codec: G711; pt: number } | undefined {
  for (const codec of CODEC_PREFERENCE) {
    const c = offered.find((o) => o.name === codec && o.rate === 8000);
    if (c) return { codec, pt: c.pt };
  }
  return undefined;
}

/**
 * Reads the answer to our offer: the codec is the first G.711 payload type of the answer's audio
 * m-line (RFC 3264: the answerer lists what it will send, preferred first).
 */
export function parseAnswer(sdp: string): Negotiated | NegotiationFailure {
  let desc: SessionDescription;
  try {
    desc = parse(sdp);
  } catch {
    return { ok: false, reason: 'unparseable SDP' };
  }
  const index = desc.media?.findIndex((m) => m.type === 'audio') ?? -1;
  if (index < 0) return { ok: false, reason: 'no audio stream in the answer' };
  const m = desc.media[index]!;
  if (m.port === 0) return { ok: false, reason: 'the answer rejected the audio stream' };
  const offered = codecs(m);
  const first = offered.find((c) => (c.name === 'PCMU' || c.name === 'PCMA') && c.rate === 8000);
  if (!first) return { ok: false, reason: `the answer has no G.711 codec (${offered.map((c) => c.name).join(', ')})` };
  const address = m.connection?.ip ?? desc.connection?.ip;
  if (!address) return { ok: false, reason: 'no connection address (c=)' };
  const dtmf = offered.find((c) => c.name === 'TELEPHONE-EVENT' && c.rate === 8000);
  const n: Negotiated = {
    codec: first.name as G711,
    payloadType: first.pt,
    remote: { address, port: m.port },
    remoteDirection: directionOf(m, desc),
    mediaIndex: index,
    offer: desc,
  };
  if (dtmf) n.dtmfPayloadType = dtmf.pt;
  return n;
}

export interface LocalSdp {
  /** o= session id (stays the same for the dialog). */
  sessionId: number;
  /** o= version: increases with every new description in the dialog (RFC 3264 §8). */
  version: number;
  /** Address in o= and c= (SIP_PUBLIC_IP). */
  address: string;
  /** Our RTP port. */
  port: number;
  direction: Direction;
}

function baseSession(local: LocalSdp): Omit<SessionDescription, 'media'> {
  const ipVer = local.address.includes(':') ? 6 : 4;
  return {
    version: 0,
    origin: { username: 'switchboard', sessionId: local.sessionId, sessionVersion: local.version, netType: 'IN', ipVer, address: local.address },
    name: 'switchboard',
    connection: { version: ipVer, ip: local.address },
    timing: { start: 0, stop: 0 },
  };
}

function audioMedia(local: LocalSdp, formats: Array<{ pt: number; codec: string; rate: number }>, dtmfPt: number | undefined): MediaDescription {
  const rtp = formats.map((f) => ({ payload: f.pt, codec: f.codec, rate: f.rate }));
  const fmtp: MediaDescription['fmtp'] = [];
  if (dtmfPt !== undefined) {
    rtp.push({ payload: dtmfPt, codec: 'telephone-event', rate: 8000 });
    fmtp.push({ payload: dtmfPt, config: '0-16' });
  }
  return {
    type: 'audio',
    port: local.port,
    protocol: 'RTP/AVP',
    payloads: [...formats.map((f) => f.pt), ...(dtmfPt !== undefined ? [dtmfPt] : [])].join(' '),
    rtp,
    fmtp,
    ptime: 20,
    direction: local.direction,
  };
}

/** Our answer to an offer: the chosen codec only, telephone-event with the offer's payload type, other m-lines rejected (port 0). */
export function buildAnswer(n: Negotiated, local: LocalSdp): string {
  const media = n.offer.media.map((m, i): MediaDescription => {
    if (i === n.mediaIndex) return audioMedia(local, [{ pt: n.payloadType, codec: n.codec, rate: 8000 }], n.dtmfPayloadType);
    return { type: m.type, port: 0, protocol: m.protocol, payloads: m.payloads ?? '0', rtp: [], fmtp: [] };
  });
  return write({ ...baseSession(local), media } as SessionDescription);
}

/** Our offer for an outbound call or a re-offer: PCMU and PCMA in preference order, telephone-event 101. */
export function buildOffer(local: LocalSdp, codecsInOrder: readonly G711[] = CODEC_PREFERENCE): string {
  const formats = codecsInOrder.map((c) => ({ pt: STATIC_PT[c], codec: c, rate: 8000 }));
  return write({ ...baseSession(local), media: [audioMedia(local, formats, DTMF_PT)] } as SessionDescription);
}
