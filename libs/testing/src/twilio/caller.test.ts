import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { decodeWav, MULAW_SILENCE, mulawDecode, mulawEncode } from '@switchboard/audio';
import { StreamHandshakeError, TwilioStreamCaller } from './caller.ts';
import type { TwilioStreamCallerOptions } from './caller.ts';

/** The fields of Twilio-to-server messages that the tests read; the rest is compared whole. */
interface WireMessage {
  event: string;
  sequenceNumber?: string;
  streamSid?: string;
  media?: { track: string; chunk: string; timestamp: string; payload: string };
  mark?: { name: string };
  dtmf?: { track: string; digit: string };
  [field: string]: unknown;
}

/** A message the test server received from the caller, stamped with the server's clock. */
interface Got {
  at: number;
  msg: WireMessage;
}

/** The gateway side of a media stream, reduced to what each test drives by hand. */
class FakeGateway {
  readonly wss: WebSocketServer;
  readonly got: Got[] = [];
  socket: WebSocket | undefined;
  request: IncomingMessage | undefined;
  closeCode: number | undefined;
  private readonly connected: Promise<WebSocket>;

  private constructor(wss: WebSocketServer) {
    this.wss = wss;
    this.connected = new Promise((resolve) => {
      wss.once('connection', (socket, request) => {
        this.socket = socket;
        this.request = request;
        socket.on('message', (data) => this.got.push({ at: performance.now(), msg: JSON.parse(data.toString()) as WireMessage }));
        socket.on('close', (code) => (this.closeCode = code));
        resolve(socket);
      });
    });
  }

  static async start(opts: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<FakeGateway> {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', ...opts });
    await once(wss, 'listening');
    return new FakeGateway(wss);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/twilio/media`;
  }

  ws(): Promise<WebSocket> {
    return this.connected;
  }

  send(msg: unknown): void {
    // Strings and Buffers go out as they are (text and binary frames); anything else as JSON text.
    this.socket!.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg));
  }

  /** Send μ-law audio as 20 ms media messages, the way a gateway streams TTS. */
  sendAudio(streamSid: string, pcm: Int16Array): void {
    const ulaw = mulawEncode(pcm);
    for (let i = 0; i < ulaw.length; i += 160) {
      this.send({ event: 'media', streamSid, media: { payload: Buffer.from(ulaw.subarray(i, i + 160)).toString('base64') } });
    }
  }

  of(event: string): Got[] {
    return this.got.filter((g) => g.msg.event === event);
  }

  async until(pred: () => boolean, timeoutMs = 3000): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (!pred()) {
      if (performance.now() > end) throw new Error('FakeGateway.until timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

/** A 400 Hz tone that never sits on a μ-law zero, so its frames are told apart from silence. */
function tone(ms: number, amplitude = 8000): Int16Array {
  return Int16Array.from({ length: (ms * 8000) / 1000 }, (_, i) =>
    Math.round(amplitude * (0.6 + 0.4 * Math.cos((2 * Math.PI * 400 * i) / 8000))),
  );
}

const payloadOf = (g: Got): Buffer => Buffer.from(g.msg.media!.payload, 'base64');
const isSilence = (b: Buffer): boolean => b.every((v) => v === MULAW_SILENCE);

let gateway: FakeGateway | undefined;
let caller: TwilioStreamCaller | undefined;

async function setup(opts: Partial<TwilioStreamCallerOptions> = {}): Promise<{ gw: FakeGateway; c: TwilioStreamCaller }> {
  gateway = await FakeGateway.start();
  caller = await TwilioStreamCaller.connect({ url: gateway.url, ...opts });
  await gateway.ws();
  return { gw: gateway, c: caller };
}

afterEach(async () => {
  await caller?.hangup();
  await gateway?.close();
  caller = undefined;
  gateway = undefined;
});

describe('TwilioStreamCaller: what it sends', () => {
  it('opens with connected, then start, exactly as Twilio sends them', async () => {
    const { gw, c } = await setup({
      customParameters: { tenant: 't1', agent: 'front-desk' },
      headers: { 'X-Twilio-Signature': 'sig123' },
      callSid: `CA${'1'.repeat(32)}`,
      accountSid: `AC${'2'.repeat(32)}`,
    });
    await gw.until(() => gw.got.length >= 3);
    expect(gw.request?.headers['x-twilio-signature']).toBe('sig123');
    expect(gw.request?.url).toBe('/twilio/media');
    expect(gw.got[0]!.msg).toEqual({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    expect(gw.got[1]!.msg).toEqual({
      event: 'start',
      sequenceNumber: '1',
      start: {
        accountSid: `AC${'2'.repeat(32)}`,
        streamSid: c.streamSid,
        callSid: `CA${'1'.repeat(32)}`,
        tracks: ['inbound'],
        customParameters: { tenant: 't1', agent: 'front-desk' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
      streamSid: c.streamSid,
    });
    expect(c.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);
    expect(gw.got.slice(2).every((g) => g.msg.event === 'media')).toBe(true);
  });

  it('generates Twilio-shaped SIDs when none are given', async () => {
    const { c } = await setup();
    expect(c.callSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(c.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
  });

  it('sends silence frames every 20 ms while idle, with string fields and increasing numbers', async () => {
    const { gw, c } = await setup();
    await gw.until(() => gw.of('media').length >= 11);
    const media = gw.of('media').slice(0, 11);
    media.forEach((g, i) => {
      expect(g.msg).toEqual({
        event: 'media',
        sequenceNumber: String(i + 2),
        streamSid: c.streamSid,
        media: { track: 'inbound', chunk: String(i + 1), timestamp: expect.any(String), payload: expect.any(String) },
      });
      expect(payloadOf(g)).toHaveLength(160);
      expect(isSilence(payloadOf(g))).toBe(true);
    });
    const stamps = media.map((g) => Number(g.msg.media!.timestamp));
    expect(stamps[0]).toBe(0);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]! - stamps[i - 1]!).toBeGreaterThanOrEqual(20);
    // Paced like a phone line: ten frame intervals cannot arrive faster than 200 ms (less timer slack).
    expect(media[10]!.at - media[0]!.at).toBeGreaterThanOrEqual(190);
  });

  it('say() sends the audio as 160-byte μ-law frames, pads the last one, and returns to silence', async () => {
    const { gw, c } = await setup();
    const speech = tone(50); // 400 samples: two full frames and half of a third
    await c.say(speech);
    await gw.until(() => gw.of('media').some((g, i, all) => i > 0 && isSilence(payloadOf(g)) && !isSilence(payloadOf(all[i - 1]!))));
    const frames = gw.of('media').map(payloadOf);
    const first = frames.findIndex((f) => !isSilence(f));
    const expected = Buffer.alloc(480, MULAW_SILENCE);
    Buffer.from(mulawEncode(speech)).copy(expected);
    expect(Buffer.concat(frames.slice(first, first + 3))).toEqual(expected);
    expect(isSilence(frames[first + 3]!)).toBe(true);
    const seqs = gw.of('media').map((g) => Number(g.msg.sequenceNumber));
    seqs.forEach((s, i) => expect(s).toBe(seqs[0]! + i));
  });

  it('realtime: false sends queued speech without waiting for the 20 ms clock', async () => {
    const { gw, c } = await setup({ realtime: false });
    const t0 = performance.now();
    await c.say(tone(2000)); // 100 frames, 2 s on a paced line
    expect(performance.now() - t0).toBeLessThan(1000);
    await gw.until(() => gw.of('media').filter((g) => !isSilence(payloadOf(g))).length === 100);
    const stamps = gw.of('media').map((g) => Number(g.msg.media!.timestamp));
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]!).toBeGreaterThan(stamps[i - 1]!);
  });

  it('sends dtmf with the next sequence number', async () => {
    const { gw, c } = await setup();
    c.dtmf('5');
    c.dtmf('#');
    await gw.until(() => gw.of('dtmf').length === 2);
    const [five, hash] = gw.of('dtmf');
    expect(five!.msg).toEqual({
      event: 'dtmf',
      streamSid: c.streamSid,
      sequenceNumber: expect.any(String),
      dtmf: { track: 'inbound_track', digit: '5' },
    });
    expect(hash!.msg.dtmf!.digit).toBe('#');
    expect(Number(hash!.msg.sequenceNumber)).toBeGreaterThan(Number(five!.msg.sequenceNumber));
    expect(() => c.dtmf('x')).toThrow(RangeError);
  });

  it('hangup() sends stop and closes; nothing is sent after it', async () => {
    const { gw, c } = await setup();
    await gw.until(() => gw.of('media').length >= 2);
    const info = await c.hangup();
    await gw.until(() => gw.closeCode !== undefined);
    const last = gw.got.at(-1)!;
    expect(last.msg).toEqual({
      event: 'stop',
      streamSid: c.streamSid,
      sequenceNumber: String(gw.got.length - 1),
      stop: { accountSid: c.accountSid, callSid: c.callSid },
    });
    expect(info.code).toBe(1000);
    expect(gw.closeCode).toBe(1000);
    await expect(c.say(tone(20))).rejects.toThrow(/ended/);
  });
});

describe('TwilioStreamCaller: what it does with the server messages', () => {
  it('plays media in real time and echoes a mark only once the audio before it has played', async () => {
    const { gw, c } = await setup();
    const audio = tone(400);
    gw.send({ event: 'mark', streamSid: c.streamSid, mark: { name: 'idle' } });
    const t0 = performance.now();
    gw.sendAudio(c.streamSid, audio);
    gw.send({ event: 'mark', streamSid: c.streamSid, mark: { name: 'm1' } });
    await gw.until(() => gw.of('mark').length === 2);
    const [idle, m1] = gw.of('mark');
    expect(idle!.msg.mark).toEqual({ name: 'idle' });
    expect(idle!.at - t0).toBeLessThan(200); // nothing was playing, so echoed at once
    expect(m1!.msg).toEqual({ event: 'mark', streamSid: c.streamSid, sequenceNumber: expect.any(String), mark: { name: 'm1' } });
    // 400 ms of audio at 8000 samples/s cannot have played out before 400 ms (1 ms timer rounding).
    expect(m1!.at - t0).toBeGreaterThanOrEqual(399);
    expect(c.marksEchoed).toEqual(['idle', 'm1']);
    expect(c.heardMs()).toBe(400);
    expect(c.heardAudio()).toEqual(mulawDecode(mulawEncode(audio)));
    expect(c.segments).toEqual([
      { startedAt: expect.any(Number), endedAt: expect.any(Number), samples: 3200, droppedSamples: 0, marks: ['m1'], endedBy: 'drained' },
    ]);
    expect(c.segments[0]!.endedAt! - c.segments[0]!.startedAt).toBeCloseTo(400, 0);
    const wav = decodeWav(c.heardWav());
    expect(wav.sampleRate).toBe(8000);
    expect(wav.samples).toEqual(c.heardAudio());
    expect(c.violations).toEqual([]);
  });

  it('clear drops queued audio and echoes every pending mark at once', async () => {
    const { gw, c } = await setup();
    gw.sendAudio(c.streamSid, tone(2000));
    gw.send({ event: 'mark', streamSid: c.streamSid, mark: { name: 'a' } });
    gw.sendAudio(c.streamSid, tone(1000));
    gw.send({ event: 'mark', streamSid: c.streamSid, mark: { name: 'b' } });
    await c.waitForAgentAudio(100, 2000);
    expect(c.marksEchoed).toEqual([]);
    const tClear = performance.now();
    gw.send({ event: 'clear', streamSid: c.streamSid });
    await gw.until(() => gw.of('mark').length === 2);
    expect(gw.of('mark').map((g) => g.msg.mark!.name)).toEqual(['a', 'b']);
    // Without the clear, 'a' would need the rest of 2 s of audio to play first.
    expect(gw.of('mark')[1]!.at - tClear).toBeLessThan(500);
    expect(c.clears).toBe(1);
    const [seg] = c.segments;
    expect(seg!.endedBy).toBe('clear');
    expect(seg!.marks).toEqual([]);
    expect(seg!.samples + seg!.droppedSamples).toBe(3000 * 8);
    expect(c.heardMs()).toBeLessThan(1000);
    const heardAtClear = c.heardMs();
    await c.waitForSilence(100, 1000);
    expect(c.heardMs()).toBe(heardAtClear);

    // The line is usable after a clear: new audio starts a new segment.
    gw.sendAudio(c.streamSid, tone(100));
    await c.waitForAgentAudio(100, 2000);
    expect(c.segments).toHaveLength(2);
  });

  it('waitForSilence waits until queued agent audio has played out', async () => {
    const { gw, c } = await setup();
    const t0 = performance.now();
    gw.sendAudio(c.streamSid, tone(300));
    await c.waitForAgentAudio(20, 2000);
    await c.waitForSilence(50, 2000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(349);
    expect(c.heardMs()).toBe(300);
  });

  const sid = (c: TwilioStreamCaller): string => c.streamSid;
  it.each<[string, (c: TwilioStreamCaller) => string | Buffer, RegExp]>([
    ['a binary frame', () => Buffer.from(mulawEncode(tone(20))), /^31950 binary frame of 160 bytes/],
    ['invalid JSON', () => '{"event":', /^31951 invalid JSON/],
    ['a JSON array', () => '[]', /^31951 message is not a JSON object/],
    ['no event', (c) => JSON.stringify({ streamSid: sid(c) }), /^31951 missing "event"/],
    ['an unknown event', (c) => JSON.stringify({ event: 'play', streamSid: sid(c) }), /^31951 unknown event "play"/],
    [
      'media for another stream',
      () => JSON.stringify({ event: 'media', streamSid: `MZ${'0'.repeat(32)}`, media: { payload: '/w==' } }),
      /^31951 media: wrong streamSid/,
    ],
    ['media without streamSid', () => JSON.stringify({ event: 'media', media: { payload: '/w==' } }), /^31951 media: missing "streamSid"/],
    ['media without media', (c) => JSON.stringify({ event: 'media', streamSid: sid(c) }), /^31951 media: missing "media"/],
    [
      'media without payload',
      (c) => JSON.stringify({ event: 'media', streamSid: sid(c), media: {} }),
      /^31951 media: "media.payload" must be/,
    ],
    [
      'a payload that is not base64',
      (c) => JSON.stringify({ event: 'media', streamSid: sid(c), media: { payload: 'not base64!' } }),
      /^31951 media: "media.payload" is not base64/,
    ],
    [
      'an extra field',
      (c) => JSON.stringify({ event: 'media', streamSid: sid(c), media: { payload: '/w==', track: 'outbound' } }),
      /^31951 media.media: unexpected field\(s\) "track"/,
    ],
    ['a mark without name', (c) => JSON.stringify({ event: 'mark', streamSid: sid(c), mark: {} }), /^31951 mark: "mark.name"/],
    [
      'a clear for another stream',
      () => JSON.stringify({ event: 'clear', streamSid: 'MZwrong' }),
      /^31951 clear: wrong streamSid "MZwrong"/,
    ],
  ])('records %s as a protocol violation and ignores it', async (_, make, pattern) => {
    const { gw, c } = await setup();
    gw.send(make(c));
    // Messages are handled in order, so once this mark is echoed the bad message has been seen.
    gw.send({ event: 'mark', streamSid: c.streamSid, mark: { name: 'sync' } });
    await c.waitForMark('sync', 2000);
    expect(c.violations).toHaveLength(1);
    expect(c.violations[0]).toMatch(pattern);
    expect(c.events).toHaveLength(2);
    expect(c.heardMs()).toBe(0);
    expect(c.clears).toBe(0);
  });

  it('records every received message with its receive time', async () => {
    const { gw, c } = await setup();
    gw.send({ event: 'clear', streamSid: c.streamSid });
    await c.waitFor((x) => x.events.length === 1, 2000);
    expect(c.events[0]).toEqual({
      at: expect.any(Number),
      binary: false,
      raw: JSON.stringify({ event: 'clear', streamSid: c.streamSid }),
      message: { event: 'clear', streamSid: c.streamSid },
    });
    expect(c.events[0]!.at).toBeGreaterThan(0);
    expect(c.events[0]!.at).toBeLessThanOrEqual(c.now());
  });
});

describe('TwilioStreamCaller: the end of the call', () => {
  it('stops sending when the server closes first, and reports the close', async () => {
    const { gw, c } = await setup();
    const ws = await gw.ws();
    gw.sendAudio(c.streamSid, tone(1000));
    await c.waitForAgentAudio(40, 2000);
    const pendingSay = c.say(tone(1000));
    ws.close(1000, 'agent hung up');
    await expect(c.waitForClose(2000)).resolves.toEqual({ code: 1000, reason: 'agent hung up' });
    await expect(pendingSay).rejects.toThrow(/ended/);
    await expect(c.waitForMark('never', 1000)).rejects.toThrow(/closed/);
    expect(c.segments[0]!.endedBy).toBe('closed');
    expect(c.segments[0]!.droppedSamples).toBeGreaterThan(0);
    const heard = c.heardMs();
    await new Promise((r) => setTimeout(r, 60));
    expect(c.heardMs()).toBe(heard);
    // hangup after the server's close is a no-op that still reports how the call ended.
    await expect(c.hangup()).resolves.toEqual({ code: 1000, reason: 'agent hung up' });
  });

  it('rejects connect with the HTTP status when the handshake is refused', async () => {
    gateway = await FakeGateway.start({ verifyClient: (_info, cb) => cb(false, 403, 'bad signature') });
    const err = await TwilioStreamCaller.connect({ url: gateway.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamHandshakeError);
    expect((err as StreamHandshakeError).status).toBe(403);
  });

  it('waitFor times out with a description', async () => {
    const { c } = await setup();
    await expect(c.waitFor(() => false, 50, 'the impossible')).rejects.toThrow(
      'timed out after 50 ms waiting for the impossible',
    );
  });
});
