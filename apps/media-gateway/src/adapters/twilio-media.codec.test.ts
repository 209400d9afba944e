import { describe, expect, it } from 'vitest';
import { TwilioMediaEncoder, isBase64, parseTwilioFrame, twilioOut } from './twilio-media.codec.ts';
import type { TwilioInbound } from './twilio-media.codec.ts';

const STREAM = 'MZ18ad3ab5a668481ce02b83e7395059f0';
const CALL = 'CA9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const ACCOUNT = 'AC0123456789abcdef0123456789abcdef';
/** 160 bytes of μ-law silence (0xFF), one 20 ms frame, as Twilio sends it. */
const SILENCE_B64 = Buffer.alloc(160, 0xff).toString('base64');

describe('parseTwilioFrame: every inbound event, in the shape Twilio sends it', () => {
  it.each<[string, Record<string, unknown>, TwilioInbound]>([
    [
      'connected',
      { event: 'connected', protocol: 'Call', version: '1.0.0' },
      { event: 'connected', protocol: 'Call', version: '1.0.0' },
    ],
    [
      'start',
      {
        event: 'start',
        sequenceNumber: '1',
        start: {
          accountSid: ACCOUNT,
          streamSid: STREAM,
          callSid: CALL,
          tracks: ['inbound'],
          customParameters: { callId: 'call_abc', token: 'x.y' },
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
        streamSid: STREAM,
      },
      {
        event: 'start',
        streamSid: STREAM,
        start: {
          streamSid: STREAM,
          accountSid: ACCOUNT,
          callSid: CALL,
          customParameters: { callId: 'call_abc', token: 'x.y' },
          mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        },
      },
    ],
    [
      'media',
      { event: 'media', sequenceNumber: '3', media: { track: 'inbound', chunk: '1', timestamp: '5', payload: SILENCE_B64 }, streamSid: STREAM },
      { event: 'media', streamSid: STREAM, media: { track: 'inbound', chunk: '1', timestamp: '5', payload: SILENCE_B64 } },
    ],
    [
      'dtmf',
      { event: 'dtmf', streamSid: STREAM, sequenceNumber: '5', dtmf: { track: 'inbound_track', digit: '1' } },
      { event: 'dtmf', streamSid: STREAM, dtmf: { track: 'inbound_track', digit: '1' } },
    ],
    [
      'mark',
      { event: 'mark', sequenceNumber: '4', streamSid: STREAM, mark: { name: 'seg-1' } },
      { event: 'mark', streamSid: STREAM, mark: { name: 'seg-1' } },
    ],
    [
      'stop',
      { event: 'stop', sequenceNumber: '5', streamSid: STREAM, stop: { accountSid: ACCOUNT, callSid: CALL } },
      { event: 'stop', streamSid: STREAM, stop: { accountSid: ACCOUNT, callSid: CALL } },
    ],
  ])('%s', (_name, frame, expected) => {
    expect(parseTwilioFrame(JSON.stringify(frame))).toEqual({ ok: true, msg: expected });
  });

  it('takes the stream SID of a start from start.streamSid when the top level has none', () => {
    const r = parseTwilioFrame(JSON.stringify({ event: 'start', start: { accountSid: ACCOUNT, streamSid: STREAM, callSid: CALL } }));
    expect(r).toEqual({
      ok: true,
      msg: {
        event: 'start',
        streamSid: STREAM,
        start: { streamSid: STREAM, accountSid: ACCOUNT, callSid: CALL, customParameters: {}, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
      },
    });
  });

  it('keeps only string custom parameters', () => {
    const r = parseTwilioFrame(JSON.stringify({ event: 'start', start: { accountSid: ACCOUNT, streamSid: STREAM, callSid: CALL, customParameters: { a: '1', b: 2, c: null } } }));
    expect(r.ok && r.msg.event === 'start' && r.msg.start.customParameters).toEqual({ a: '1' });
  });

  it.each(['0', '9', '*', '#', 'A', 'D'])('accepts DTMF digit %j', (digit) => {
    expect(parseTwilioFrame(JSON.stringify({ event: 'dtmf', streamSid: STREAM, dtmf: { track: 'inbound_track', digit } })).ok).toBe(true);
  });
});

describe('parseTwilioFrame: malformed frames are rejected with a reason', () => {
  it.each<[string, string, RegExp]>([
    ['not JSON', '{"event":"media",', /not JSON/],
    ['a JSON array', '[]', /missing event/],
    ['no event', JSON.stringify({ streamSid: STREAM }), /missing event/],
    ['an unknown event', JSON.stringify({ event: 'play', streamSid: STREAM }), /unknown event "play"/],
    ['media without payload', JSON.stringify({ event: 'media', streamSid: STREAM, media: { track: 'inbound', chunk: '1', timestamp: '0' } }), /media without streamSid or base64 payload/],
    ['media with a non-base64 payload', JSON.stringify({ event: 'media', streamSid: STREAM, media: { payload: 'not base64!' } }), /media without streamSid or base64 payload/],
    ['media without streamSid', JSON.stringify({ event: 'media', media: { payload: SILENCE_B64 } }), /media without streamSid/],
    ['dtmf digit X', JSON.stringify({ event: 'dtmf', streamSid: STREAM, dtmf: { track: 'inbound_track', digit: 'X' } }), /dtmf without a digit/],
    ['dtmf with two digits', JSON.stringify({ event: 'dtmf', streamSid: STREAM, dtmf: { digit: '12' } }), /dtmf without a digit/],
    ['mark without name', JSON.stringify({ event: 'mark', streamSid: STREAM, mark: {} }), /mark without a name/],
    ['start without callSid', JSON.stringify({ event: 'start', streamSid: STREAM, start: { accountSid: ACCOUNT, streamSid: STREAM } }), /start without callSid/],
    ['start without a start object', JSON.stringify({ event: 'start', streamSid: STREAM }), /start without callSid/],
    ['stop without streamSid', JSON.stringify({ event: 'stop', stop: { callSid: CALL } }), /stop without streamSid/],
  ])('%s', (_name, data, reason) => {
    const r = parseTwilioFrame(data);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toMatch(reason);
  });

  it('caps the echoed name of an unknown event', () => {
    const r = parseTwilioFrame(JSON.stringify({ event: 'x'.repeat(500) }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason.length).toBeLessThan(60);
  });
});

describe('twilioOut: outbound messages exactly as Twilio expects them', () => {
  it('media carries base64 μ-law and nothing else', () => {
    const mulaw = new Uint8Array([0xff, 0x7f, 0x00, 0x80]);
    expect(twilioOut.media(STREAM, mulaw)).toBe(`{"event":"media","streamSid":"${STREAM}","media":{"payload":"/38AgA=="}}`);
  });

  it('media of a view encodes only the viewed bytes', () => {
    const backing = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const msg = JSON.parse(twilioOut.media(STREAM, backing.subarray(2, 4))) as { media: { payload: string } };
    expect([...Buffer.from(msg.media.payload, 'base64')]).toEqual([3, 4]);
  });

  it('mark', () => {
    expect(twilioOut.mark(STREAM, 'seg-1')).toBe(`{"event":"mark","streamSid":"${STREAM}","mark":{"name":"seg-1"}}`);
  });

  it('clear', () => {
    expect(twilioOut.clear(STREAM)).toBe(`{"event":"clear","streamSid":"${STREAM}"}`);
  });

  it('what twilioOut writes for a mark parses back as the same mark', () => {
    expect(parseTwilioFrame(twilioOut.mark(STREAM, 'm'))).toEqual({ ok: true, msg: { event: 'mark', streamSid: STREAM, mark: { name: 'm' } } });
  });
});

describe('TwilioMediaEncoder', () => {
  const frame = Int16Array.from({ length: 160 }, (_, i) => Math.round(9000 * Math.sin(i / 4)));

  it('builds the same JSON as twilioOut.media, for speech and for silence', async () => {
    const { mulawEncode } = await import('@switchboard/audio');
    const enc = new TwilioMediaEncoder(STREAM);
    expect(enc.media(frame)).toBe(twilioOut.media(STREAM, mulawEncode(frame)));
    const silent = new Int16Array(160);
    expect(enc.media(silent)).toBe(twilioOut.media(STREAM, mulawEncode(silent)));
    expect(enc.media(silent)).toBe(enc.media(silent));
  });

  it('frames it exactly as ws frames a server text message (RFC 6455, unmasked)', async () => {
    const { Sender } = (await import('ws')) as unknown as { Sender: { frame(data: Buffer, o: Record<string, unknown>): Buffer[] } };
    const enc = new TwilioMediaEncoder(STREAM);
    const json = Buffer.from(enc.media(frame));
    const expected = Buffer.concat(Sender.frame(json, { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
    expect(enc.mediaFrame(frame)).toEqual(expected);
    // A media message is longer than 125 bytes: the 16-bit extended length form (126) is the one exercised.
    expect(expected[1]).toBe(126);
  });
});

describe('isBase64', () => {
  it.each<[string, boolean]>([
    ['/w==', true],
    ['//8=', true],
    ['////', true],
    [SILENCE_B64, true],
    ['', false],
    ['/w=', false],
    ['/===', false],
    ['=w==', false],
    ['/w=a', false],
    ['ab-_', false],
    ['ab c', false],
    ['abcé', false],
    ['%%%%', false],
  ])('%j → %s', (s, ok) => {
    expect(isBase64(s)).toBe(ok);
  });

  it('agrees with the strict regular expression on random strings', () => {
    const re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;
    const alphabet = 'AZaz09+/=-_ %';
    let seed = 7;
    for (let n = 0; n < 5000; n++) {
      let s = '';
      const len = (n % 9) + 1;
      for (let i = 0; i < len; i++) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        s += alphabet[seed % alphabet.length];
      }
      expect(isBase64(s)).toBe(re.test(s));
    }
  });
});
