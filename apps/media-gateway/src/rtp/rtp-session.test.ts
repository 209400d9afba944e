import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { alawEncode, mulawDecode } from '@switchboard/audio';
import { RtpClock } from './rtp-clock.ts';
import { RtpPortPool } from './port-pool.ts';
import { RtpSession, RtpStats, type MediaParams } from './rtp-session.ts';
import { parseRtp, serializeRtp, type RtpPacket } from './rtp-packet.ts';
import { parseTelephoneEvent, serializeTelephoneEvent } from './dtmf.ts';

const log = pino({ level: 'silent' });
const base = 10000 + 2 * Math.floor(Math.random() * 11000);
const pool = new RtpPortPool(base, base + 40, '127.0.0.1');
const open: Array<{ close(): void }> = [];

afterEach(() => {
  for (const o of open.splice(0)) o.close();
});

/** A far end on loopback: collects the RTP it receives with arrival times. */
async function farEnd(): Promise<{ socket: Socket; port: number; packets: Array<RtpPacket & { at: number; from: number }> }> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const packets: Array<RtpPacket & { at: number; from: number }> = [];
  socket.on('message', (buf, rinfo) => {
    const p = parseRtp(buf);
    if (p) packets.push({ ...p, payload: Uint8Array.from(p.payload), at: performance.now(), from: rinfo.port });
  });
  open.push(socket);
  return { socket, port: socket.address().port, packets };
}

interface Observed {
  audio: Int16Array[];
  digits: string[];
  marks: Array<{ name: string; at: number }>;
  timeouts: number;
}

async function session(media: Partial<MediaParams> & { remote?: { address: string; port: number } }, opts: { timeoutMs?: number; playoutDelayMs?: number } = {}): Promise<{ s: RtpSession; seen: Observed; stats: RtpStats }> {
  const { socket, port } = await pool.open();
  const stats = new RtpStats();
  const s = new RtpSession({
    socket,
    port,
    media: { codec: 'PCMU', payloadType: 0, dtmfPayloadType: 101, send: true, ...media },
    clock: new RtpClock(),
    stats,
    log,
    jitterMs: 60,
    playoutDelayMs: opts.playoutDelayMs ?? 40,
    timeoutMs: opts.timeoutMs ?? 0,
  });
  const seen: Observed = { audio: [], digits: [], marks: [], timeouts: 0 };
  s.handlers = {
    onAudio: (pcm) => void seen.audio.push(pcm),
    onDtmf: (d) => void seen.digits.push(d),
    onMarkPlayed: (name) => void seen.marks.push({ name, at: performance.now() }),
    onTimeout: () => void seen.timeouts++,
  };
  open.push(s);
  return { s, seen, stats };
}

async function until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function send(from: Socket, to: number, p: Partial<RtpPacket> & { payload: Uint8Array }): void {
  from.send(serializeRtp({ marker: false, payloadType: 8, sequenceNumber: 0, timestamp: 0, ssrc: 1234, ...p }), to, '127.0.0.1');
}

describe('RtpSession outbound', () => {
  it('sends codec silence every 20 ms with consecutive seq, +160 timestamps, one SSRC and the marker on the first packet', async () => {
    const far = await farEnd();
    const { s } = await session({ remote: { address: '127.0.0.1', port: far.port } });
    s.start();
    await until(() => far.packets.length >= 10, '10 packets');
    const p = far.packets.slice(0, 10);
    expect(p.every((x) => x.payloadType === 0 && x.payload.length === 160 && x.payload.every((b) => b === 0xff))).toBe(true);
    expect(p.map((x) => x.marker)).toEqual([true, ...Array(9).fill(false)]);
    for (let i = 1; i < p.length; i++) {
      expect((p[i]!.sequenceNumber - p[i - 1]!.sequenceNumber) & 0xffff).toBe(1);
      expect((p[i]!.timestamp - p[i - 1]!.timestamp) >>> 0).toBe(160);
      expect(p[i]!.ssrc).toBe(p[0]!.ssrc);
    }
    // Paced, not bursted: 10 packets take about 180 ms.
    expect(p[9]!.at - p[0]!.at).toBeGreaterThan(150);
  });

  it('sends queued agent frames encoded, then reports the mark after the last one plus the playout delay', async () => {
    const far = await farEnd();
    const { s, seen } = await session({ remote: { address: '127.0.0.1', port: far.port } }, { playoutDelayMs: 40 });
    const tone = Int16Array.from({ length: 160 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 8000)));
    for (let i = 0; i < 3; i++) s.enqueueFrame(tone);
    s.enqueueMark('m1');
    s.start();
    await until(() => seen.marks.length === 1, 'the mark');
    const loud = far.packets.filter((x) => x.payload.some((b) => b !== 0xff));
    expect(loud.length).toBe(3);
    const decoded = mulawDecode(loud[0]!.payload);
    expect(Math.max(...decoded)).toBeGreaterThan(7000);
    expect(seen.marks[0]!.name).toBe('m1');
    expect(seen.marks[0]!.at - loud[2]!.at).toBeGreaterThanOrEqual(40);
  });

  it('regression: a first tick that came late does not shift the session off the clock grid (no 40 ms gap, then a burst)', async () => {
    const { s, stats } = await session({ remote: { address: '127.0.0.1', port: 9 } });
    // Wake-ups of the shared clock: the first 5 ms late, the others 0.5 ms late.
    const sent: number[] = [];
    for (const now of [105, 120.5, 140.5, 160.5, 180.5, 200.5]) {
      s.tick(now);
      sent.push(stats.packetsOut);
    }
    expect(sent).toEqual([1, 2, 3, 4, 5, 6]);
    expect(stats.sendIntervalError.max).toBeLessThan(5);
  });

  it('drained() waits for the queued frames to go out and play before resolving', async () => {
    const far = await farEnd();
    const { s } = await session({ remote: { address: '127.0.0.1', port: far.port } }, { playoutDelayMs: 30 });
    for (let i = 0; i < 5; i++) s.enqueueFrame(new Int16Array(160).fill(3000));
    s.start();
    const t0 = performance.now();
    await s.drained();
    expect(s.queued).toBe(0);
    expect(far.packets.filter((p) => p.payload.some((b) => b !== 0xff)).length).toBe(5);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(80 + 30);
  });

  it('clearOutbound drops queued frames and hands back their marks', async () => {
    const { s } = await session({ remote: { address: '127.0.0.1', port: 9 } });
    s.enqueueFrame(new Int16Array(160));
    s.enqueueMark('a');
    s.enqueueFrame(new Int16Array(160));
    s.enqueueMark('b');
    expect(s.clearOutbound()).toEqual(['a', 'b']);
    expect(s.queued).toBe(0);
  });

  it('sends nothing while on hold (we may not send) and resumes with the marker set', async () => {
    const far = await farEnd();
    const { s } = await session({ remote: { address: '127.0.0.1', port: far.port } });
    s.start();
    await until(() => far.packets.length >= 3, 'packets');
    s.update({ ...s.params, send: false });
    await new Promise((r) => setTimeout(r, 30));
    const held = far.packets.length;
    await new Promise((r) => setTimeout(r, 120));
    expect(far.packets.length).toBe(held);
    s.update({ ...s.params, send: true });
    await until(() => far.packets.length > held, 'packets after unhold');
    const resumed = far.packets[held]!;
    expect(resumed.marker).toBe(true);
    expect((resumed.sequenceNumber - far.packets[held - 1]!.sequenceNumber) & 0xffff).toBe(1);
  });

  it('sends RFC 4733 digits: marker on the first packet, one timestamp per event, three end packets', async () => {
    const far = await farEnd();
    const { s } = await session({ remote: { address: '127.0.0.1', port: far.port } });
    s.start();
    await s.sendDigits('5#', 100, 40);
    await new Promise((r) => setTimeout(r, 30));
    const events = far.packets.filter((x) => x.payloadType === 101);
    const byTs = new Map<number, typeof events>();
    for (const e of events) byTs.set(e.timestamp, [...(byTs.get(e.timestamp) ?? []), e]);
    expect(byTs.size).toBe(2);
    const [first, second] = [...byTs.values()];
    expect(first!.map((e) => parseTelephoneEvent(e.payload)!.event)).toEqual(Array(first!.length).fill(5));
    expect(second!.every((e) => parseTelephoneEvent(e.payload)!.event === 11)).toBe(true);
    expect(first![0]!.marker).toBe(true);
    expect(first!.filter((e) => parseTelephoneEvent(e.payload)!.end).length).toBe(3);
    expect(parseTelephoneEvent(first!.at(-1)!.payload)!.duration).toBe(800);
  });

  it('refuses DTMF when telephone-event was not negotiated', async () => {
    const { s } = await session({ remote: { address: '127.0.0.1', port: 9 }, dtmfPayloadType: undefined });
    await expect(s.sendDigits('1')).rejects.toThrow(/telephone-event/);
  });
});

describe('RtpSession inbound', () => {
  it('decodes 30 ms A-law packets in sequence order despite reordering and drops a duplicate', async () => {
    const far = await farEnd();
    const { s, seen, stats } = await session({ codec: 'PCMA', payloadType: 8, remote: { address: '127.0.0.1', port: far.port } });
    const chunk = (v: number) => alawEncode(new Int16Array(240).fill(v));
    for (const [seq, v] of [
      [10, 1000],
      [12, 3000],
      [11, 2000],
      [11, 2000],
      [13, 4000],
    ] as const) {
      send(far.socket, s.port, { sequenceNumber: seq, timestamp: seq * 240, payload: chunk(v) });
      await new Promise((r) => setTimeout(r, 5));
    }
    await until(() => seen.audio.length >= 4, 'four packets of audio');
    expect(seen.audio.map((a) => [a.length, Math.round(a[0]! / 1000)])).toEqual([
      [240, 1],
      [240, 2],
      [240, 3],
      [240, 4],
    ]);
    expect(stats.duplicates + stats.late).toBe(1);
  });

  it('symmetric RTP: media goes back to where the caller sends from, not the SDP address', async () => {
    const sdpTarget = await farEnd();
    const actual = await farEnd();
    const { s } = await session({ codec: 'PCMA', payloadType: 8, remote: { address: '127.0.0.1', port: sdpTarget.port } });
    s.start();
    await until(() => sdpTarget.packets.length >= 2, 'packets to the SDP address');
    send(actual.socket, s.port, { sequenceNumber: 1, timestamp: 160, payload: new Uint8Array(160) });
    await until(() => actual.packets.length >= 3, 'packets to the source address');
    expect(s.remote).toEqual({ address: '127.0.0.1', port: actual.port });
  });

  it('reports one digit for an RFC 4733 event on another SSRC with three end packets', async () => {
    const far = await farEnd();
    const { s, seen } = await session({ codec: 'PCMA', payloadType: 8, remote: { address: '127.0.0.1', port: far.port } });
    let seq = 100;
    for (const d of [0, 320, 640]) send(far.socket, s.port, { payloadType: 101, ssrc: 999, sequenceNumber: seq++, timestamp: 13280, marker: d === 0, payload: serializeTelephoneEvent({ event: 9, end: false, volume: 10, duration: d }) });
    for (let i = 0; i < 3; i++) send(far.socket, s.port, { payloadType: 101, ssrc: 999, sequenceNumber: seq, timestamp: 13280, payload: serializeTelephoneEvent({ event: 9, end: true, volume: 10, duration: 960 }) });
    await until(() => seen.digits.length >= 1, 'the digit');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.digits).toEqual(['9']);
  });

  it('counts garbage datagrams and survives them', async () => {
    const far = await farEnd();
    const { s, stats } = await session({ remote: { address: '127.0.0.1', port: far.port } });
    far.socket.send(Buffer.from('not rtp at all'), s.port, '127.0.0.1');
    far.socket.send(Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2]), s.port, '127.0.0.1');
    await until(() => stats.badPackets === 2, 'two bad packets');
  });

  it('ends a call whose RTP stops (timeout) while we are sending', async () => {
    const far = await farEnd();
    const { s, seen } = await session({ remote: { address: '127.0.0.1', port: far.port } }, { timeoutMs: 100 });
    s.start();
    await until(() => seen.timeouts === 1, 'the timeout');
  });
});

describe('RtpPortPool', () => {
  it('hands out even ports, skips busy ones, and refuses when the range is full', async () => {
    const b = 10000 + 2 * Math.floor(Math.random() * 11000);
    const busy = createSocket('udp4');
    await new Promise<void>((r) => busy.bind(b, '127.0.0.1', r));
    const small = new RtpPortPool(b, b + 3, '127.0.0.1');
    expect(small.size).toBe(2);
    const a = await small.open();
    expect(a.port).toBe(b + 2);
    await expect(small.open()).rejects.toThrow(/no free RTP port/);
    a.socket.close();
    busy.close();
    await new Promise((r) => setTimeout(r, 10));
    const again = await small.open();
    expect(again.port % 2).toBe(0);
    again.socket.close();
  });
});
