/** Anything with queued outbound frames that the pacer should service. */
export interface Paced {
  /** Sends whatever is due at `nowMs`; returns false once it has nothing more to do. */
  pace(nowMs: number): void;
}

/**
 * One timer for every call in the process: each tick, every leg sends the frames that keep it a
 * little ahead of real time. One timer scales to thousands of calls where per-call timers would not.
 */
export class Pacer {
  private readonly legs = new Set<Paced>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly tickMs = 10) {}

  add(leg: Paced): void {
    this.legs.add(leg);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  delete(leg: Paced): void {
    this.legs.delete(leg);
    if (this.legs.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.legs.size;
  }

  private tick(): void {
    const now = performance.now();
    for (const leg of this.legs) leg.pace(now);
  }
}
