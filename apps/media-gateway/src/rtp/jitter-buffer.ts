import { seqDelta, tsDelta } from './rtp-packet.ts';

/** One received audio packet waiting for its turn. */
export interface JitterItem {
  seq: number;
  timestamp: number;
  payloadType: number;
  /** Codec payload; for G.711 one byte is one sample. */
  payload: Uint8Array;
  /** performance.now() when the datagram arrived. */
  arrivedAt: number;
}

/** A packet released in order, with the silence (in samples) that must be played before it. */
export interface Released {
  item: JitterItem;
  gapSamples: number;
}

export interface JitterBufferOptions {
  /** Longest a packet waits for a missing predecessor before that one is declared lost (ms). */
  depthMs: number;
  /** Samples per millisecond of the stream (8 for G.711). */
  samplesPerMs?: number;
  /** Largest silence inserted for lost packets or a timestamp jump (ms). */
  maxGapMs?: number;
  /** A sequence jump larger than this (either way) is a new stream: the buffer resynchronises. */
  maxJump?: number;
  /** Packets held at most; beyond it the oldest gap is skipped at once. */
  capacity?: number;
}

export interface JitterStats {
  received: number;
  released: number;
  /** Dropped because their turn had already passed (arrived after being declared lost). */
  late: number;
  duplicates: number;
  /** Declared lost after waiting `depthMs`. */
  lost: number;
  resyncs: number;
}

/**
 * A small reordering buffer for inbound RTP audio. Packets in sequence leave at once (no added
 * delay on a clean network); a packet that arrives ahead of a missing one waits at most `depthMs`
 * for it, after which the missing packet is declared lost and its duration becomes silence.
 * Duplicates and packets older than the one last released are dropped. Works on any packet time:
 * durations come from the payload and the timestamps, not from an assumed 20 ms.
 *
 * The consumer is speech recognition, not a loudspeaker, so there is no playout clock here: the
 * buffer only restores order and continuity.
 */
export class JitterBuffer {
  private readonly depthMs: number;
  private readonly samplesPerMs: number;
  private readonly maxGapSamples: number;
  private readonly maxJump: number;
  private readonly capacity: number;
  private readonly held = new Map<number, JitterItem>();
  private started = false;
  private nextSeq = 0;
  /** RTP timestamp at which the next released packet should start. */
  private expectedTs = 0;
  readonly stats: JitterStats = { received: 0, released: 0, late: 0, duplicates: 0, lost: 0, resyncs: 0 };

  constructor(opts: JitterBufferOptions) {
    this.depthMs = opts.depthMs;
    this.samplesPerMs = opts.samplesPerMs ?? 8;
    this.maxGapSamples = (opts.maxGapMs ?? 200) * this.samplesPerMs;
    this.maxJump = opts.maxJump ?? 100;
    this.capacity = opts.capacity ?? 32;
  }

  /** Number of packets waiting. */
  get size(): number {
    return this.held.size;
  }

  /** Adds a packet; returns what can now be released, in order. */
  push(item: JitterItem, now: number): Released[] {
    this.stats.received++;
    const out: Released[] = [];
    if (!this.started) {
      this.started = true;
      this.nextSeq = item.seq;
      this.expectedTs = item.timestamp;
    }
    const d = seqDelta(this.nextSeq, item.seq);
    if (Math.abs(d) > this.maxJump) {
      // A new stream (sender restarted, pcap looped, SSRC reused): release what is held, then follow it.
      this.stats.resyncs++;
      this.flushInto(out);
      this.nextSeq = item.seq;
      this.expectedTs = item.timestamp;
    } else if (d < 0) {
      this.stats.late++;
      return out;
    }
    if (this.held.has(item.seq)) {
      this.stats.duplicates++;
      return out;
    }
    this.held.set(item.seq, item);
    this.drain(now, out);
    return out;
  }

  /** Releases packets whose missing predecessors have waited long enough; call on a timer. */
  poll(now: number): Released[] {
    const out: Released[] = [];
    if (this.held.size) this.drain(now, out);
    return out;
  }

  /** Everything held, in order, skipping gaps (end of stream or resync). */
  flush(): Released[] {
    const out: Released[] = [];
    this.flushInto(out);
    return out;
  }

  /**
   * The consumer filled `samples` of silence in real time (the sender went quiet): the next packet's
   * timestamp gap is reduced by it, so the same silence is not inserted twice.
   */
  advance(samples: number): void {
    if (this.started) this.expectedTs = (this.expectedTs + samples) >>> 0;
  }

  private drain(now: number, out: Released[]): void {
    for (;;) {
      const next = this.held.get(this.nextSeq);
      if (next) {
        this.release(next, out);
        continue;
      }
      if (this.held.size === 0) return;
      const earliest = this.earliestHeld();
      if (!earliest) return;
      const waited = now - this.oldestArrival();
      if (waited < this.depthMs && this.held.size < this.capacity) return;
      // The missing packets are lost: skip to the earliest one held.
      this.stats.lost += seqDelta(this.nextSeq, earliest.seq);
      this.nextSeq = earliest.seq;
    }
  }

  private release(item: JitterItem, out: Released[]): void {
    this.held.delete(item.seq);
    const gap = tsDelta(this.expectedTs, item.timestamp);
    const gapSamples = gap > 0 ? Math.min(gap, this.maxGapSamples) : 0;
    out.push({ item, gapSamples });
    this.stats.released++;
    this.nextSeq = (item.seq + 1) & 0xffff;
    this.expectedTs = (item.timestamp + item.payload.length) >>> 0;
  }

  private flushInto(out: Released[]): void {
    while (this.held.size) {
      const earliest = this.earliestHeld()!;
      if (earliest.seq !== this.nextSeq) this.stats.lost += Math.max(0, seqDelta(this.nextSeq, earliest.seq));
      this.release(earliest, out);
    }
  }

  private earliestHeld(): JitterItem | undefined {
    let best: JitterItem | undefined;
    for (const it of this.held.values()) if (!best || seqDelta(best.seq, it.seq) < 0) best = it;
    return best;
  }

  private oldestArrival(): number {
    let t = Infinity;
    for (const it of this.held.values()) if (it.arrivedAt < t) t = it.arrivedAt;
    return t;
  }
}
