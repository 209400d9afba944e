/**
 * Load generator for bench/gateway-twilio.bench.ts, run as its own process (so the gateway's figures
 * are not mixed with the load's): N concurrent calls as Twilio places them. For each call it POSTs
 * the voice webhook, opens the `<Stream>` of the TwiML over WebSocket and sends `connected`, `start`
 * and a `media` frame every 20 ms (μ-law of a speech-like signal), the N calls spread evenly over the
 * 20 ms so the gateway sees a steady stream rather than synchronised bursts. It measures:
 *
 * - outbound frame-interval error: |gap − 20 ms| between consecutive agent `media` frames of a call,
 *   leaving out the first LEAD_FRAMES + 1 of each run of audio (the gateway sends those ahead of real
 *   time on purpose, `OUTBOUND_LEAD_MS`);
 * - caller-frame latency: from sending media frame k of a call to receiving the k-th frame on
 *   `media.<callId>.in` (NATS), for the first `sampleCalls` calls; both ends on this process's clock.
 *
 * Driven by its parent over IPC: it reports `ready`, then `measure-start` / `measure-stop` bound the
 * window of the figures it returns in `results`; `stop` closes every call (Twilio's `stop`) and exits.
 *
 *   not run directly: the bench forks it with `node --import tsx bench/twilio-loadgen.ts '<json options>'`
 */
import { performance, monitorEventLoopDelay } from 'node:perf_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { mulawEncode } from '@switchboard/audio';
import { audioSubjects } from '@switchboard/contracts';
import { parseTwimlStream } from '@switchboard/testing';

export interface LoadgenOptions {
  gatewayUrl: string;
  natsUrl: string;
  calls: number;
  /** Calls whose media.<id>.in is watched for the latency figure. */
  sampleCalls: number;
  /** Frames the gateway sends ahead of real time at the start of a run (OUTBOUND_LEAD_MS / 20). */
  leadFrames: number;
  /** Dialled number routed to an agent. */
  to: string;
}

export type LoadgenReport =
  | { type: 'ready'; connected: number; failed: number; setupMs: number; firstError?: string }
  | {
      type: 'results';
      windowMs: number;
      /** Outbound frame-interval error histogram: counts per 0.1 ms bin (last bin: ≥ 100 ms). */
      intervalErrorHist: number[];
      /** Caller frame → NATS latency histogram: counts per 0.1 ms bin (last bin: ≥ 100 ms). */
      latencyHist: number[];
      framesSent: number;
      framesReceived: number;
      /** Calls whose socket closed during the window. */
      closed: number;
      /** This process's own event-loop delay p99 (ms): how much of the jitter may be the load generator's. */
      loopDelayP99Ms: number;
    };

const FRAME_MS = 20;
const SLOTS = 10;
const SLOT_MS = FRAME_MS / SLOTS;
const BIN_MS = 0.1;
const BINS = 1000;
/** A gap longer than this starts a new run of agent audio. */
const RUN_GAP_MS = 200;
const SETUP_CONCURRENCY = 50;
const SETUP_TIMEOUT_MS = 60_000;

function bin(hist: Uint32Array, ms: number): void {
  const i = Math.floor(ms / BIN_MS);
  hist[i < 0 ? 0 : i >= BINS ? BINS - 1 : i]!++;
}

/** One second of a speech-like signal (two formant-ish tones, syllable-rate amplitude modulation), as 50 μ-law frames in base64. */
function callerFrames(): string[] {
  const out: string[] = [];
  for (let f = 0; f < 50; f++) {
    const pcm = new Int16Array(160);
    for (let i = 0; i < 160; i++) {
      const t = (f * 160 + i) / 8000;
      const env = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t);
      pcm[i] = Math.round(6000 * env * (Math.sin(2 * Math.PI * 500 * t) + 0.5 * Math.sin(2 * Math.PI * 1500 * t)));
    }
    out.push(Buffer.from(mulawEncode(pcm)).toString('base64'));
  }
  return out;
}

/**
 * A minimal WebSocket client (RFC 6455) for the load generator: the HTTP upgrade, text frames out in
 * one write each (masked with a zero key, which a server must accept and which leaves the payload
 * as is), and a frame reader that hands each server frame's bytes to `onFrame` without making a
 * string of it. The `ws` client's per-message work would make the load generator, not the gateway,
 * the bottleneck at a thousand streams on a small machine.
 */
class LeanWebSocket {
  open = false;
  onFrame: (opcode: number, data: Buffer, start: number, end: number, at: number) => void = () => undefined;
  onClose: () => void = () => undefined;
  private pending: Buffer | undefined;

  private constructor(private readonly socket: Socket) {}

  static connect(url: string): Promise<LeanWebSocket> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = tcpConnect(Number(u.port), u.hostname);
      socket.setNoDelay(true);
      const key = randomBytes(16).toString('base64');
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const response = head.subarray(0, end).toString('latin1');
        if (!/^HTTP\/1\.1 101/.test(response) || !response.includes(accept)) {
          socket.destroy();
          reject(new Error(`WebSocket upgrade refused: ${response.split('\r\n')[0]}`));
          return;
        }
        const ws = new LeanWebSocket(socket);
        ws.open = true;
        socket.on('data', (c: Buffer) => ws.read(c));
        socket.on('close', () => {
          ws.open = false;
          ws.onClose();
        });
        const rest = head.subarray(end + 4);
        if (rest.length) ws.read(rest);
        resolve(ws);
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.on('error', () => undefined);
        socket.write(`GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
    });
  }

  send(text: string): void {
    if (!this.open) return;
    const length = Buffer.byteLength(text);
    const header = length < 126 ? 6 : 8;
    const frame = Buffer.allocUnsafe(header + length);
    frame[0] = 0x81;
    if (length < 126) frame[1] = 0x80 | length;
    else {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    }
    frame.writeUInt32BE(0, header - 4); // masking key 0: the payload goes as is
    frame.write(text, header, 'utf8');
    this.socket.write(frame);
  }

  close(): void {
    if (!this.open) return;
    this.socket.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]));
    this.socket.end();
  }

  private read(chunk: Buffer): void {
    const at = performance.now();
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let off = 0;
    while (buf.length - off >= 2) {
      const opcode = buf[off]! & 0x0f;
      let len = buf[off + 1]! & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = buf.readUInt32BE(off + 6);
        hdr = 10;
      }
      if (buf.length - off < hdr + len) break;
      this.onFrame(opcode, buf, off + hdr, off + hdr + len, at);
      if (opcode === 8) this.socket.end();
      off += hdr + len;
    }
    if (off < buf.length) this.pending = buf.subarray(off);
  }
}

interface Call {
  index: number;
  callId: string;
  streamSid: string;
  ws: LeanWebSocket;
  seq: number;
  chunk: number;
  open: boolean;
  lastMediaAt: number;
  run: number;
  /** Send times of the last 1024 frames, for the latency sample (index k mod 1024). */
  sentAt?: Float64Array;
  received: number;
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const opts = JSON.parse(process.argv[2] ?? '{}') as LoadgenOptions;
  const send = (m: LoadgenReport) => process.send?.(m);
  const frames = callerFrames();
  const nc: NatsConnection = await connect({ servers: opts.natsUrl, name: 'twilio-loadgen' });
  const calls: Call[] = [];
  const intervalHist = new Uint32Array(BINS);
  const latencyHist = new Uint32Array(BINS);
  let measuring = false;
  let framesSent = 0;
  let framesReceived = 0;
  let closedInWindow = 0;
  let windowStart = 0;
  const loop = monitorEventLoopDelay({ resolution: 10 });
  let failed = 0;
  let firstError: string | undefined;
  const t0 = performance.now();

  const setup = async (index: number) => {
    try {
      const form = new URLSearchParams({ AccountSid: `AC${randomBytes(16).toString('hex')}`, CallSid: `CA${randomBytes(16).toString('hex')}`, From: `+1555${String(1000000 + index).slice(-7)}`, To: opts.to, Direction: 'inbound', CallStatus: 'ringing' });
      const res = await fetch(`${opts.gatewayUrl}/twilio/voice`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      const stream = parseTwimlStream(await res.text());
      const callId = stream?.parameters.callId;
      if (!stream?.url || !callId) throw new Error(`webhook answered ${res.status} without a <Stream>`);
      const call: Call = { index, callId, streamSid: `MZ${randomBytes(16).toString('hex')}`, ws: undefined as unknown as LeanWebSocket, seq: 0, chunk: 0, open: false, lastMediaAt: 0, run: 0, received: 0 };
      if (index < opts.sampleCalls) {
        call.sentAt = new Float64Array(1024);
        nc.subscribe(audioSubjects.mediaIn(callId), {
          callback: () => {
            const k = call.received++;
            if (measuring && k < call.chunk) bin(latencyHist, performance.now() - call.sentAt![k % 1024]!);
          },
        });
        await nc.flush();
      }
      // The stream URL is built from PUBLIC_URL; connect to the gateway we were given.
      const url = new URL('/twilio/stream', opts.gatewayUrl.replace(/^http/, 'ws')).toString();
      call.ws = await LeanWebSocket.connect(url);
      call.ws.onClose = () => {
        if (call.open && measuring) closedInWindow++;
        call.open = false;
      };
      call.ws.onFrame = (opcode, data, start, end, now) => {
        // Text frames starting {"event":"med…: the gateway's media messages (marks and clears are ignored).
        if (opcode !== 1 || end - start < 13 || data[start + 2] !== 0x65 || data[start + 10] !== 0x6d || data[start + 11] !== 0x65 || data[start + 12] !== 0x64) return;
        const gap = now - call.lastMediaAt;
        call.lastMediaAt = now;
        if (gap > RUN_GAP_MS) call.run = 0;
        else call.run++;
        if (measuring) {
          framesReceived++;
          if (call.run > opts.leadFrames) bin(intervalHist, Math.abs(gap - FRAME_MS));
        }
      };
      call.ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
      call.ws.send(
        JSON.stringify({
          event: 'start',
          sequenceNumber: String(++call.seq),
          start: { accountSid: form.get('AccountSid'), streamSid: call.streamSid, callSid: form.get('CallSid'), tracks: ['inbound'], customParameters: stream.parameters, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
          streamSid: call.streamSid,
        }),
      );
      call.open = true;
      calls.push(call);
    } catch (err) {
      failed++;
      firstError ??= (err as Error).message;
    }
  };

  const indices = Array.from({ length: opts.calls }, (_, i) => i);
  await Promise.race([pool(indices, SETUP_CONCURRENCY, setup), new Promise((r) => setTimeout(r, SETUP_TIMEOUT_MS))]);

  // Media: slot s of every 20 ms carries the calls with index ≡ s (mod 10), on a fixed 2 ms grid.
  const origin = performance.now();
  let tick = 0;
  let timer: NodeJS.Timeout | undefined;
  const pump = () => {
    const slot = tick % SLOTS;
    const now = performance.now();
    for (let i = slot; i < calls.length; i += SLOTS) {
      const c = calls[i]!;
      if (!c.open) continue;
      const k = c.chunk++;
      if (c.sentAt) c.sentAt[k % 1024] = now;
      c.ws.send(`{"event":"media","sequenceNumber":"${++c.seq}","media":{"track":"inbound","chunk":"${k + 1}","timestamp":"${k * FRAME_MS}","payload":"${frames[k % frames.length]!}"},"streamSid":"${c.streamSid}"}`);
      if (measuring) framesSent++;
    }
    tick++;
    let next = origin + tick * SLOT_MS;
    const after = performance.now();
    // A stalled loop skips slots rather than bursting to catch up.
    if (next < after) {
      tick += Math.ceil((after - next) / SLOT_MS);
      next = origin + tick * SLOT_MS;
    }
    timer = setTimeout(pump, next - after);
  };
  pump();
  send({ type: 'ready', connected: calls.length, failed, setupMs: performance.now() - t0, ...(firstError ? { firstError } : {}) });

  process.on('message', (m: { type: string }) => {
    if (m.type === 'measure-start') {
      intervalHist.fill(0);
      latencyHist.fill(0);
      framesSent = framesReceived = closedInWindow = 0;
      loop.reset();
      loop.enable();
      windowStart = performance.now();
      measuring = true;
    } else if (m.type === 'measure-stop') {
      measuring = false;
      loop.disable();
      send({
        type: 'results',
        windowMs: performance.now() - windowStart,
        intervalErrorHist: [...intervalHist],
        latencyHist: [...latencyHist],
        framesSent,
        framesReceived,
        closed: closedInWindow,
        loopDelayP99Ms: loop.percentile(99) / 1e6,
      });
    } else if (m.type === 'stop') {
      if (timer) clearTimeout(timer);
      for (const c of calls) {
        if (!c.open) continue;
        c.ws.send(JSON.stringify({ event: 'stop', sequenceNumber: String(++c.seq), streamSid: c.streamSid, stop: { accountSid: 'AC', callSid: 'CA' } }));
        c.ws.close();
      }
      void nc.drain().finally(() => setTimeout(() => process.exit(0), 200));
    }
  });
}

main().catch((err: unknown) => {
  console.error('twilio-loadgen failed:', err);
  process.exit(1);
});
