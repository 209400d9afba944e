/**
 * RFC 4733 telephone-events (DTMF) in RTP: the 4-byte event payload, a receiver that reports each
 * key press once however many packets carry it, and a sender that turns digits into packets.
 *
 *   event (8) | E | R | volume (6) | duration (16, in timestamp units)
 */

const DIGITS = '0123456789*#ABCD';

/** Event code (0-15) → digit; undefined for non-DTMF events (flash, tones). */
export function eventToDigit(event: number): string | undefined {
  return event >= 0 && event < 16 ? DIGITS[event] : undefined;
}

/** Digit → event code, case-insensitive for A-D. */
export function digitToEvent(digit: string): number {
  const i = DIGITS.indexOf(digit.toUpperCase());
  if (i < 0 || digit.length !== 1) throw new RangeError(`not a DTMF digit: ${JSON.stringify(digit)}`);
  return i;
}

export interface TelephoneEvent {
  event: number;
  end: boolean;
  volume: number;
  duration: number;
}

export function parseTelephoneEvent(payload: Uint8Array): TelephoneEvent | undefined {
  if (payload.length < 4) return undefined;
  return { event: payload[0]!, end: (payload[1]! & 0x80) !== 0, volume: payload[1]! & 0x3f, duration: (payload[2]! << 8) | payload[3]! };
}

export function serializeTelephoneEvent(e: TelephoneEvent): Uint8Array {
  return Uint8Array.of(e.event & 0xff, (e.end ? 0x80 : 0) | (e.volume & 0x3f), (e.duration >> 8) & 0xff, e.duration & 0xff);
}

/** How long a finished event's identity is remembered: its three end packets arrive within ~60 ms. */
const REMEMBER_MS = 1000;

/**
 * Reports each DTMF key press once. An event is identified by its SSRC, RTP timestamp and event code
 * (all packets of one event share the timestamp; the end packet is sent three times). A press is
 * reported when its first end packet arrives, or when a later event starts without its end packet
 * having been seen (all three lost). A finished event is remembered for a second, so its late
 * retransmitted end packets are not new presses while a replayed stream (same timestamps much later) is.
 */
export class DtmfReceiver {
  private current: { key: string; event: number; ended: boolean } | undefined;
  /** Recently finished events and when they finished. */
  private readonly recent = new Map<string, number>();

  constructor(private readonly onDigit: (digit: string) => void) {}

  push(ssrc: number, timestamp: number, payload: Uint8Array, now: number = performance.now()): void {
    const ev = parseTelephoneEvent(payload);
    if (!ev) return;
    const key = `${ssrc >>> 0}:${timestamp >>> 0}:${ev.event}`;
    const finished = this.recent.get(key);
    if (finished !== undefined) {
      if (now - finished < REMEMBER_MS) return;
      this.recent.delete(key);
      if (this.current?.key === key) this.current = undefined;
    }
    if (!this.current || this.current.key !== key) {
      if (this.current && !this.current.ended) this.report(this.current.event, this.current.key, now);
      this.current = { key, event: ev.event, ended: false };
    }
    if (ev.end && !this.current.ended) {
      this.current.ended = true;
      this.report(ev.event, key, now);
    }
  }

  private report(event: number, key: string, now: number): void {
    this.recent.set(key, now);
    if (this.recent.size > 16) this.recent.delete(this.recent.keys().next().value!);
    const digit = eventToDigit(event);
    if (digit) this.onDigit(digit);
  }
}

/** One outbound telephone-event packet's fields; the session adds seq, SSRC and payload type. */
export interface DtmfPacket {
  /** Set on the first packet of an event: its RTP timestamp becomes the event's timestamp for every later packet. */
  marker: boolean;
  payload: Uint8Array;
}

export interface DtmfSenderOptions {
  /** Tone length per digit (ms); rounded to whole packets. */
  durationMs: number;
  /** Pause between digits (ms), sent as ordinary (silent) audio packets. */
  gapMs: number;
  /** Packet interval (ms). */
  ptimeMs?: number;
  /** Samples per ms (8 at 8 kHz). */
  samplesPerMs?: number;
  volume?: number;
}

/**
 * Plans the packets for a digit string, one slot per packet interval: a slot is a telephone-event
 * packet (the final one repeated three times, as RFC 4733 §2.5.1.4 asks) or `null` for an audio
 * packet during the inter-digit gap. The session takes one slot per tick.
 */
export function planDtmf(digits: string, opts: DtmfSenderOptions): Array<DtmfPacket[] | null> {
  const ptime = opts.ptimeMs ?? 20;
  const spm = opts.samplesPerMs ?? 8;
  const volume = opts.volume ?? 10;
  const toneSlots = Math.max(2, Math.round(opts.durationMs / ptime));
  const gapSlots = Math.max(1, Math.round(opts.gapMs / ptime));
  const slots: Array<DtmfPacket[] | null> = [];
  [...digits].forEach((digit, i) => {
    const event = digitToEvent(digit);
    if (i > 0) for (let g = 0; g < gapSlots; g++) slots.push(null);
    for (let s = 1; s <= toneSlots; s++) {
      const duration = Math.min(0xffff, s * ptime * spm);
      const end = s === toneSlots;
      const pkt = (marker: boolean): DtmfPacket => ({ marker, payload: serializeTelephoneEvent({ event, end, volume, duration }) });
      slots.push(end ? [pkt(false), pkt(false), pkt(false)] : [pkt(s === 1)]);
    }
  });
  return slots;
}
