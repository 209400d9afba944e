import { describe, expect, it } from 'vitest';
import { parse } from 'sdp-transform';
import { answerDirection, buildAnswer, buildOffer, negotiateOffer, parseAnswer, weMaySend, type Negotiated } from './sdp.ts';

/** The offer sipp's uac_pcap sends (reference/protocols.md §3). */
const SIPP_OFFER = ['v=0', 'o=user1 53655765 2353687637 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', 'm=audio 6000 RTP/AVP 8 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-11,16', ''].join('\r\n');

const offer = (media: string[], session: string[] = ['c=IN IP4 192.0.2.10']) => ['v=0', 'o=- 1 1 IN IP4 192.0.2.10', 's=-', ...session, 't=0 0', ...media, ''].join('\r\n');

const LOCAL = { sessionId: 42, version: 1, address: '203.0.113.5', port: 10002, direction: 'sendrecv' as const };

function ok(n: ReturnType<typeof negotiateOffer>): Negotiated {
  if ('ok' in n) throw new Error(`negotiation failed: ${n.reason}`);
  return n;
}

describe('SDP offer/answer', () => {
  it("answers sipp's PCMA offer with PCMA and telephone-event 101", () => {
    const n = ok(negotiateOffer(SIPP_OFFER));
    expect(n).toMatchObject({ codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101, remote: { address: '127.0.0.1', port: 6000 }, remoteDirection: 'sendrecv' });
  });

  it.each([
    ['0 8 101', 'PCMU', 0],
    ['8 0', 'PCMU', 0],
    ['18 8', 'PCMA', 8],
  ])('offer %s → %s (our preference PCMU, PCMA)', (pts, codec, pt) => {
    const n = ok(negotiateOffer(offer([`m=audio 4000 RTP/AVP ${pts}`, 'a=rtpmap:101 telephone-event/8000'])));
    expect([n.codec, n.payloadType]).toEqual([codec, pt]);
  });

  it('takes a dynamic payload type mapped to PCMU', () => {
    const n = ok(negotiateOffer(offer(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMU/8000'])));
    expect([n.codec, n.payloadType]).toEqual(['PCMU', 96]);
  });

  it.each([
    ['only G.729', ['m=audio 4000 RTP/AVP 18', 'a=rtpmap:18 G729/8000'], /no common codec.*G729/],
    ['SRTP only', ['m=audio 4000 RTP/SAVP 0'], /SRTP/],
    ['no audio', ['m=video 4000 RTP/AVP 96', 'a=rtpmap:96 VP8/90000'], /no audio/],
    ['G.711 at 16 kHz', ['m=audio 4000 RTP/AVP 97', 'a=rtpmap:97 PCMU/16000'], /no common codec/],
  ])('refuses %s', (_name, media, reason) => {
    const n = negotiateOffer(offer(media));
    expect('ok' in n && n.reason).toMatch(reason);
  });

  it('refuses an offer without a connection address', () => {
    expect('ok' in negotiateOffer(offer(['m=audio 4000 RTP/AVP 0'], []))).toBe(true);
  });

  it('a media-level c= wins over the session one', () => {
    const n = ok(negotiateOffer(offer(['m=audio 4000 RTP/AVP 0', 'c=IN IP4 198.51.100.7'])));
    expect(n.remote).toEqual({ address: '198.51.100.7', port: 4000 });
  });

  it('echoes the offer telephone-event payload type and rejects the other m-lines in order', () => {
    const n = ok(negotiateOffer(offer(['m=video 5000 RTP/AVP 96', 'a=rtpmap:96 VP8/90000', 'm=audio 4000 RTP/AVP 0 100', 'a=rtpmap:100 telephone-event/8000'])));
    const answer = parse(buildAnswer(n, LOCAL));
    expect(answer.media.map((m) => [m.type, m.port])).toEqual([
      ['video', 0],
      ['audio', 10002],
    ]);
    const audio = answer.media[1]!;
    expect(audio.payloads).toBe('0 100');
    expect(audio.rtp).toEqual([
      { payload: 0, codec: 'PCMU', rate: 8000 },
      { payload: 100, codec: 'telephone-event', rate: 8000 },
    ]);
    expect(audio.fmtp).toEqual([{ payload: 100, config: '0-16' }]);
    expect(audio.ptime).toBe(20);
    expect(answer.connection?.ip).toBe('203.0.113.5');
    expect(answer.origin.sessionVersion).toBe(1);
  });

  it.each([
    ['sendrecv', 'sendrecv', true],
    ['sendonly', 'recvonly', false],
    ['recvonly', 'sendonly', true],
    ['inactive', 'inactive', false],
  ] as const)('hold: offer a=%s → answer a=%s, we send: %s', (offered, answered, send) => {
    const n = ok(negotiateOffer(offer(['m=audio 4000 RTP/AVP 0', `a=${offered}`])));
    expect(n.remoteDirection).toBe(offered);
    expect(answerDirection(n.remoteDirection)).toBe(answered);
    expect(weMaySend(n)).toBe(send);
    expect(parse(buildAnswer(n, { ...LOCAL, direction: answerDirection(n.remoteDirection) })).media[0]!.direction).toBe(answered);
  });

  it('c=0.0.0.0 (RFC 2543 hold) means we may not send', () => {
    const n = ok(negotiateOffer(offer(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 0.0.0.0'])));
    expect(weMaySend(n)).toBe(false);
  });

  it('our offer lists PCMU, PCMA and telephone-event 101; an answer picks its first G.711', () => {
    const o = parse(buildOffer(LOCAL));
    expect(o.media[0]!.payloads).toBe('0 8 101');
    const a = parseAnswer(offer(['m=audio 7000 RTP/AVP 8 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000']));
    expect('ok' in a).toBe(false);
    expect(a).toMatchObject({ codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101, remote: { address: '192.0.2.10', port: 7000 } });
    expect('ok' in parseAnswer(offer(['m=audio 0 RTP/AVP 0']))).toBe(true);
  });
});
