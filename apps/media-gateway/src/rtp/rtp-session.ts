import type { RemoteInfo, Socket } from 'node:dgram';
import type { Logger } from 'pino';
import { ALAW_SILENCE, MULAW_SILENCE, alawDecode, alawEncode, mulawDecode, mulawEncode } from '@switchboard/audio';
import { Histogram } from './histogram.ts';
import { JitterBuffer, type Released } from './jitter-buffer.ts';
import { DtmfReceiver, planDtmf, type DtmfPacket } from './dtmf.ts';
import { RTP_HEADER_BYTES, parseRtp, writeRtpHeader } from './rtp-packet.ts';
import type { Clocked, RtpClock } from './rtp-clock.ts';

/** The G.711 codecs the gateway speaks. */
export type G711 = 'PCMU' | 'PCMA';

/** Static payload types of RFC 3551. */
export const STATIC_PT: Record<G711, number> = { PCMU: 0, PCMA: 8 };
/** Comfort noise (RFC 3389): carries no speech; treated as silence. */
const PT_CN = 13;

const PTIME_MS = 20;
const SAMPLES_PER_PACKET = 160;
/** Caller audio silent this long (sender stopped: DTX, hold, DTMF) → silence is fed in real time. */
const FILL_AFTER_MS = 100;
/** A latched media source that has been silent this long may be replaced by a new one. */
const RELATCH_AFTER_MS = 1000;
/** Outbound frames held at most (before answer, agent audio waits here; 10 s). */
const MAX_QUEUED_FRAMES = 500;

/** Process-wide media figures: exposed in the gateway's health details and read by the benchmark. */
export class RtpStats {
  /** |interval between two packets of a session − 20 ms|, in ms. */
  readonly sendIntervalError = new Histogram(100);
  /** From a caller packet's arrival to its audio being handed to the call leg (published on NATS), ms. */
  readonly inboundLatency = new Histogram(200);
  packetsIn = 0;
  packetsOut = 0;
  /** Datagrams that are not RTP, or carry an unexpected payload type. */
  badPackets = 0;
  late = 0;
  duplicates = 0;
  lost = 0;
  dtmfIn = 0;
  dtmfOut = 0;

  snapshot(): Record<string, unknown> {
    return {
      packetsIn: this.packetsIn,
      packetsOut: this.packetsOut,
      badPackets: this.badPackets,
      late: this.late,
      duplicates: this.duplicates,
      lost: this.lost,
      dtmfIn: this.dtmfIn,
      dtmfOut: this.dtmfOut,
      sendIntervalErrorMs: { ...this.sendIntervalError.summary(), ...this.sendIntervalError.sparse() },
      inboundLatencyMs: { ...this.inboundLatency.summary(), ...this.inboundLatency.sparse() },
    };
  }

  reset(): void {
    this.sendIntervalError.reset();
    this.inboundLatency.reset();
    this.packetsIn = this.packetsOut = this.badPackets = this.late = this.duplicates = this.lost = this.dtmfIn = this.dtmfOut = 0;
  }
}

export interface MediaParams {
  codec: G711;
  /** Payload type of the codec in this session (PCMU 0, PCMA 8). */
  payloadType: number;
  /** Negotiated telephone-event payload type; absent: no RFC 4733 in this session. */
  dtmfPayloadType?: number;
  /** Where the SDP says to send media. */
  remote?: { address: string; port: number };
  /** We may send (remote is sendrecv or recvonly). */
  send: boolean;
}

export interface RtpSessionOptions {
  socket: Socket;
  port: number;
  media: MediaParams;
  clock: RtpClock;
  stats: RtpStats;
  log: Logger;
  /** Reordering depth of the inbound jitter buffer (ms). */
  jitterMs: number;
  /** Estimated time from sending a packet to the caller hearing its end (far jitter buffer + network), ms. */
  playoutDelayMs: number;
  /** No RTP for this long (ms, 0 = never) while we are sending (not on hold) → `handlers.onTimeout`. */
  timeoutMs: number;
}

/** Where a session's inbound media and events go; replaced when a call is bridged. */
export interface RtpHandlers {
  /** Caller audio, 8 kHz PCM16, in order, any length. */
  onAudio: (pcm8k: Int16Array) => void;
  onDtmf: (digit: string) => void;
  onMarkPlayed: (name: string) => void;
  onTimeout: () => void;
}

const NO_HANDLERS: RtpHandlers = { onAudio: () => undefined, onDtmf: () => undefined, onMarkPlayed: () => undefined, onTimeout: () => undefined };

type Outbound = { kind: 'frame'; frame: Int16Array } | { kind: 'mark'; name: string };

/**
 * One call's RTP: a socket from the port range, G.711 in and out, a reordering jitter buffer, RFC 4733
 * DTMF both ways, symmetric RTP (media goes back to where the caller's packets come from, which behind
 * NAT differs from the SDP), and a packet every 20 ms on the shared clock: the agent's next frame, or
 * codec silence when it has nothing to say.
 */
export class RtpSession implements Clocked {
  private media: MediaParams;
  private readonly socket: Socket;
  readonly port: number;
  private readonly ssrc = randomU32();
  private seq = randomU32() & 0xffff;
  private ts = randomU32();
  private lastSentAt = 0;
  private markerPending = true;
  private readonly out: Outbound[] = [];
  private outHead = 0;
  private queuedFrames = 0;
  private readonly pendingMarks: Array<{ name: string; dueAt: number }> = [];
  private dtmfSlots: Array<DtmfPacket[] | null> = [];
  private dtmfEventTs = 0;
  private dtmfDone: (() => void) | undefined;
  private jitter: JitterBuffer;
  /** The jitter buffer's counters already added to the process figures. */
  private counted = { late: 0, duplicates: 0, lost: 0 };
  private audioSsrc: number | undefined;
  private readonly dtmf: DtmfReceiver;
  /** Where packets go: the SDP address until the caller's media arrives from elsewhere. */
  private target: { address: string; port: number } | undefined;
  private latched = false;
  private lastFromTargetAt = 0;
  private lastAudioAt = 0;
  private lastRecvAt = 0;
  private running = false;
  private closed = false;
  private silence: Buffer;
  private sendErrors = 0;
  private readonly opts: RtpSessionOptions;
  framesIn = 0;
  framesOut = 0;
  handlers: RtpHandlers = NO_HANDLERS;
  /** What to send when no agent frame is queued (ringback during a bridged transfer); absent: codec silence. */
  idleSource: (() => Int16Array) | undefined;

  constructor(opts: RtpSessionOptions) {
    this.opts = opts;
    this.socket = opts.socket;
    this.port = opts.port;
    this.media = opts.media;
    this.target = opts.media.remote;
    this.silence = silencePayload(opts.media.codec);
    this.jitter = new JitterBuffer({ depthMs: opts.jitterMs });
    this.dtmf = new DtmfReceiver((digit) => {
      opts.stats.dtmfIn++;
      this.handlers.onDtmf(digit);
    });
    this.socket.on('message', (buf, rinfo) => this.onPacket(buf, rinfo));
    this.socket.on('error', (err) => {
      if (this.sendErrors++ < 3) opts.log.warn({ err }, 'RTP socket error');
    });
  }

  /** Current media parameters (codec, payload types, remote, direction). */
  get params(): Readonly<MediaParams> {
    return this.media;
  }

  /** The address packets are sent to now (after symmetric-RTP latching). */
  get remote(): { address: string; port: number } | undefined {
    return this.target;
  }

  /** Starts sending on the clock (call answered). Receiving works from construction on. */
  start(): void {
    if (this.running || this.closed) return;
    this.running = true;
    this.lastRecvAt = performance.now();
    this.opts.clock.add(this);
  }

  /** A re-INVITE changed the media: codec, payload types, address or direction (hold/unhold). */
  update(media: MediaParams): void {
    const wasSending = this.media.send;
    if (media.codec !== this.media.codec) this.silence = silencePayload(media.codec);
    const remoteChanged = media.remote && (media.remote.address !== this.media.remote?.address || media.remote.port !== this.media.remote?.port);
    this.media = media;
    if (remoteChanged) {
      this.target = media.remote;
      this.latched = false;
    }
    if (media.send && !wasSending) this.markerPending = true;
    this.lastRecvAt = performance.now();
  }

  /** One 20 ms frame of agent audio (8 kHz PCM16), sent on a later tick; beyond `maxQueued` the oldest frame is dropped. */
  enqueueFrame(frame: Int16Array, maxQueued = MAX_QUEUED_FRAMES): void {
    if (this.closed) return;
    while (this.queuedFrames >= maxQueued && this.dropOldestFrame());
    this.out.push({ kind: 'frame', frame });
    this.queuedFrames++;
  }

  /** A mark after the frames queued so far: reported once the last of them has played. */
  enqueueMark(name: string): void {
    if (this.closed) return;
    this.out.push({ kind: 'mark', name });
  }

  /** Barge-in: drops queued agent audio at once; returns the marks that will now never play. */
  clearOutbound(): string[] {
    const marks: string[] = [];
    for (let i = this.outHead; i < this.out.length; i++) {
      const it = this.out[i]!;
      if (it.kind === 'mark') marks.push(it.name);
    }
    for (const m of this.pendingMarks.splice(0)) marks.push(m.name);
    this.out.length = 0;
    this.outHead = 0;
    this.queuedFrames = 0;
    return marks;
  }

  /** Frames waiting to be sent. */
  get queued(): number {
    return this.queuedFrames;
  }

  /**
   * Resolves once every queued frame has been sent and has had time to play at the far end (the
   * playout delay), or after `timeoutMs`: a BYE or REFER after it does not cut the agent's last words.
   */
  async drained(timeoutMs = 2000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!this.closed && this.running && this.media.send && (this.queuedFrames > 0 || this.dtmfSlots.length > 0) && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, PTIME_MS));
    }
    const rest = Math.min(PTIME_MS + this.opts.playoutDelayMs, Math.max(0, deadline - performance.now()));
    if (rest > 0 && !this.closed) await new Promise((r) => setTimeout(r, rest));
  }

  /** Sends digits as RFC 4733 events; resolves when the last end packet has gone out. */
  sendDigits(digits: string, durationMs = 160, gapMs = 80): Promise<void> {
    if (this.media.dtmfPayloadType === undefined) return Promise.reject(new Error('telephone-event was not negotiated for this call'));
    if (this.closed) return Promise.reject(new Error('the RTP session is closed'));
    const plan = planDtmf(digits, { durationMs, gapMs });
    const previous = this.dtmfDone;
    this.dtmfSlots.push(...(this.dtmfSlots.length ? [null, null, null, null] : []), ...plan);
    return new Promise((resolve) => {
      this.dtmfDone = () => {
        previous?.();
        resolve();
      };
    });
  }

  tick(now: number): void {
    if (this.closed) return;
    if (this.jitter.size) {
      for (const r of this.jitter.poll(now)) this.deliver(r, now);
      this.syncJitterStats();
    }
    this.fillSilence(now);
    if (this.opts.timeoutMs > 0 && now - this.lastRecvAt > this.opts.timeoutMs && this.media.send) {
      this.opts.log.warn({ silentMs: Math.round(now - this.lastRecvAt) }, 'no RTP from the caller: ending the call');
      this.lastRecvAt = now;
      this.handlers.onTimeout();
      return;
    }
    // One packet per clock tick: the clock fires once per 20 ms grid point (a late wake-up is followed
    // at once by the next one), so the grid, not this session, decides when packets are due.
    this.sendOne(now);
    this.fireMarks(now);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.clock.delete(this);
    this.dtmfSlots = [];
    this.dtmfDone?.();
    this.dtmfDone = undefined;
    this.socket.removeAllListeners('message');
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound

  private sendOne(now: number): void {
    this.scheduleHeadMarks(now);
    const slot = this.dtmfSlots.length ? this.dtmfSlots.shift() : undefined;
    if (slot) {
      // Agent audio waits while a digit is sent: the queue is not consumed.
      if (slot[0]!.marker) this.dtmfEventTs = this.ts;
      for (const p of slot) this.transmit(this.media.dtmfPayloadType!, p.marker, this.dtmfEventTs, p.payload);
      this.opts.stats.dtmfOut++;
      if (this.dtmfSlots.length === 0) this.finishDtmf();
      this.ts = (this.ts + SAMPLES_PER_PACKET) >>> 0;
      this.recordInterval(now);
      return;
    }
    if (slot === null && this.dtmfSlots.length === 0) this.finishDtmf();
    let frame = slot === null ? undefined : this.nextFrame();
    if (frame) this.framesOut++;
    else if (this.idleSource) frame = this.idleSource();
    const payload = frame ? this.encode(frame) : this.silence;
    this.transmit(this.media.payloadType, this.markerPending, this.ts, payload);
    this.markerPending = false;
    this.ts = (this.ts + SAMPLES_PER_PACKET) >>> 0;
    this.recordInterval(now);
    this.scheduleHeadMarks(now);
  }

  private finishDtmf(): void {
    const done = this.dtmfDone;
    this.dtmfDone = undefined;
    done?.();
  }

  private recordInterval(now: number): void {
    if (this.lastSentAt) this.opts.stats.sendIntervalError.record(Math.abs(now - this.lastSentAt - PTIME_MS));
    this.lastSentAt = now;
  }

  private transmit(pt: number, marker: boolean, timestamp: number, payload: Uint8Array): void {
    // On hold nothing is sent and the sequence does not advance (a gap would read as loss); the timestamp does.
    if (!this.media.send || !this.target) return;
    const seq = this.seq;
    this.seq = (this.seq + 1) & 0xffff;
    const buf = Buffer.allocUnsafe(RTP_HEADER_BYTES + payload.length);
    writeRtpHeader(buf, marker, pt, seq, timestamp, this.ssrc);
    buf.set(payload, RTP_HEADER_BYTES);
    this.socket.send(buf, this.target.port, this.target.address);
    this.opts.stats.packetsOut++;
  }

  private nextFrame(): Int16Array | undefined {
    while (this.outHead < this.out.length) {
      const it = this.out[this.outHead]!;
      if (it.kind === 'mark') return undefined;
      this.outHead++;
      this.queuedFrames--;
      this.compact();
      return it.frame;
    }
    return undefined;
  }

  /** Marks at the head of the queue follow frames already sent: they play after the playout delay. */
  private scheduleHeadMarks(now: number): void {
    while (this.outHead < this.out.length) {
      const it = this.out[this.outHead]!;
      if (it.kind !== 'mark') break;
      this.outHead++;
      this.pendingMarks.push({ name: it.name, dueAt: now + PTIME_MS + this.opts.playoutDelayMs });
    }
    this.compact();
  }

  private fireMarks(now: number): void {
    while (this.pendingMarks.length && this.pendingMarks[0]!.dueAt <= now) this.handlers.onMarkPlayed(this.pendingMarks.shift()!.name);
  }

  private dropOldestFrame(): boolean {
    for (let i = this.outHead; i < this.out.length; i++) {
      if (this.out[i]!.kind === 'frame') {
        this.out.splice(i, 1);
        this.queuedFrames--;
        return true;
      }
    }
    return false;
  }

  private compact(): void {
    if (this.outHead > 256 && this.outHead * 2 > this.out.length) {
      this.out.splice(0, this.outHead);
      this.outHead = 0;
    } else if (this.outHead === this.out.length && this.outHead > 0) {
      this.out.length = 0;
      this.outHead = 0;
    }
  }

  private encode(frame: Int16Array): Uint8Array {
    return this.media.codec === 'PCMU' ? mulawEncode(frame) : alawEncode(frame);
  }

  // ---------------------------------------------------------------------------------------------
  // Inbound

  private onPacket(buf: Buffer, rinfo: RemoteInfo): void {
    const now = performance.now();
    const stats = this.opts.stats;
    // RTCP multiplexed on the RTP port (RFC 5761: payload types 72-76 with the marker bit) is ignored.
    if (buf.length >= 2 && buf[1]! >= 200 && buf[1]! <= 204) return;
    const pkt = parseRtp(buf);
    if (!pkt) {
      stats.badPackets++;
      return;
    }
    stats.packetsIn++;
    this.lastRecvAt = now;
    this.latch(rinfo, now);
    const pt = pkt.payloadType;
    if (pt === this.media.dtmfPayloadType) {
      this.dtmf.push(pkt.ssrc, pkt.timestamp, pkt.payload, now);
      return;
    }
    if (pt === PT_CN) return;
    // Either G.711 law is accepted whatever was negotiated: both are static and cost nothing to decode.
    if (pt !== STATIC_PT.PCMU && pt !== STATIC_PT.PCMA) {
      stats.badPackets++;
      return;
    }
    if (this.audioSsrc !== pkt.ssrc) {
      // A new audio source (a different SSRC): what the old one left is released, then a fresh buffer.
      if (this.audioSsrc !== undefined) for (const r of this.jitter.flush()) this.deliver(r, now);
      this.syncJitterStats();
      this.audioSsrc = pkt.ssrc;
      this.jitter = new JitterBuffer({ depthMs: this.opts.jitterMs });
      this.counted = { late: 0, duplicates: 0, lost: 0 };
    }
    const released = this.jitter.push({ seq: pkt.sequenceNumber, timestamp: pkt.timestamp, payloadType: pt, payload: pkt.payload, arrivedAt: now }, now);
    for (const r of released) this.deliver(r, now);
    this.syncJitterStats();
  }

  /** Adds what the current jitter buffer counted since the last sync to the process figures. */
  private syncJitterStats(): void {
    const j = this.jitter.stats;
    const s = this.opts.stats;
    s.late += j.late - this.counted.late;
    s.duplicates += j.duplicates - this.counted.duplicates;
    s.lost += j.lost - this.counted.lost;
    this.counted = { late: j.late, duplicates: j.duplicates, lost: j.lost };
  }

  private latch(rinfo: RemoteInfo, now: number): void {
    const t = this.target;
    const same = t && t.address === rinfo.address && t.port === rinfo.port;
    if (same) {
      this.latched = true;
      this.lastFromTargetAt = now;
      return;
    }
    if (!this.latched || now - this.lastFromTargetAt > RELATCH_AFTER_MS) {
      if (t) this.opts.log.info({ from: `${t.address}:${t.port}`, to: `${rinfo.address}:${rinfo.port}` }, 'symmetric RTP: sending media to where the caller sends from');
      this.target = { address: rinfo.address, port: rinfo.port };
      this.latched = true;
      this.lastFromTargetAt = now;
    }
  }

  private deliver(r: Released, now: number): void {
    if (r.gapSamples > 0) this.handlers.onAudio(new Int16Array(r.gapSamples));
    const payload = r.item.payload;
    const pcm = r.item.payloadType === STATIC_PT.PCMU ? mulawDecode(payload) : alawDecode(payload);
    this.framesIn++;
    this.lastAudioAt = now;
    this.handlers.onAudio(pcm);
    this.opts.stats.inboundLatency.record(performance.now() - r.item.arrivedAt);
  }

  /** The caller stopped sending audio (DTX, DTMF, hold): feed silence in real time so endpointing still sees time pass. */
  private fillSilence(now: number): void {
    if (this.lastAudioAt === 0 || now - this.lastAudioAt < FILL_AFTER_MS || this.jitter.size > 0) return;
    this.handlers.onAudio(new Int16Array(SAMPLES_PER_PACKET));
    this.jitter.advance(SAMPLES_PER_PACKET);
    this.lastAudioAt = now - FILL_AFTER_MS + PTIME_MS - 1;
  }
}

function silencePayload(codec: G711): Buffer {
  return Buffer.alloc(SAMPLES_PER_PACKET, codec === 'PCMU' ? MULAW_SILENCE : ALAW_SILENCE);
}

function randomU32(): number {
  return (Math.random() * 0x100000000) >>> 0;
}
