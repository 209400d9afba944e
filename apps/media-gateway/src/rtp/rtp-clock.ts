import { Histogram } from './histogram.ts';

/** Something that sends media on the RTP clock. */
export interface Clocked {
  /** Called once per period with performance.now(); sends whatever is due. */
  tick(now: number): void;
}

/**
 * One timer for every RTP session in the process, firing once per point of a fixed 20 ms grid
 * (drift-corrected against performance.now(), not accumulated from setTimeout delays): a wake-up that
 * comes late is followed at once by the next one, so no grid point is skipped unless the process
 * stalled for more than five periods. Every session sends one packet per wake-up, so packet intervals
 * are as regular as the event loop allows and the process wakes 50 times a second however many calls
 * it carries.
 */
export class RtpClock {
  private readonly members = new Set<Clocked>();
  private timer: NodeJS.Timeout | undefined;
  private next = 0;
  /** How late each wake-up was against its grid point (ms): event-loop stalls show here first. */
  readonly lateness = new Histogram(200);

  constructor(readonly periodMs = 20) {}

  add(m: Clocked): void {
    this.members.add(m);
    if (!this.timer) {
      this.next = performance.now() + this.periodMs;
      this.arm();
    }
  }

  delete(m: Clocked): void {
    this.members.delete(m);
    if (this.members.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.members.size;
  }

  private arm(): void {
    this.timer = setTimeout(() => this.fire(), Math.max(0, this.next - performance.now()));
    this.timer.unref();
  }

  private fire(): void {
    const now = performance.now();
    this.lateness.record(now - this.next);
    for (const m of this.members) {
      try {
        m.tick(now);
      } catch {
        // A failing session must not stop the clock for every other call; sessions log their own errors.
      }
    }
    if (this.members.size === 0) {
      this.timer = undefined;
      return;
    }
    this.next += this.periodMs;
    // Far behind (the process was suspended): start a fresh grid rather than firing a burst.
    if (performance.now() - this.next > 5 * this.periodMs) this.next = performance.now() + this.periodMs;
    this.arm();
  }
}
