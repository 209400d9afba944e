
/** Anything with queued outbound frames that the pacer should service. */
export interface Paced {
  /** Sends whatever is due at `nowMs` (performance.now() clock). */
  pace(nowMs: number): void;
}

/**
 * One timer for every call in the process: each tick, every leg sends the frames that keep it a
 * little ahead of real time. One timer scales to thousands of calls where per-call timers would not.
 *
 * Ticks are scheduled on a fixed grid (tick k at start + k·tickMs), not one interval after the
 * previous callback, so they do not drift against the 20 ms frame grid of the legs. A leg that
 * starts sending anchors its frame grid half a tick off the tick grid ({@link phaseOffsetMs}), so a
 * frame falls due midway between two ticks: a tick a few milliseconds late still sends each frame
 * on the same tick as the others, instead of flipping it between two ticks (a 10 ms jump either way).
 */
export class Pacer {
  private readonly legs = new Set<Paced>();
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() of the grid's first tick; ticks fall at origin + k·tickMs. */
  private origin = 0;
  /** performance.now() of the next tick on the grid. */
  private next = 0;
  /** Ticks that ran more than one tick late (event loop busy): grid points were skipped. */
  lateTicks = 0;
  /**
   * How late each tick ran after its grid point, in 0.5 ms bins up to 50 ms: the part of the outbound
   * frame-interval error the gateway itself causes (a frame leaves with its tick).
   */
  private readonly lateness = new Uint32Array(101);

  constructor(readonly tickMs = 10) {}

  /** Where a leg's frame grid sits relative to the tick grid: half a tick. */
  get phaseOffsetMs(): number {
    return this.tickMs / 2;
  }

  /**
   * Where a leg that starts sending at `nowMs` should start its frame grid: the first point midway
   * between two ticks at or after `nowMs` (at most one tick later).
   */
  anchor(nowMs: number): number {
    const half = this.phaseOffsetMs;
    return this.origin + Math.ceil((nowMs - this.origin - half) / this.tickMs) * this.tickMs + half;
  }

  add(leg: Paced): void {
    this.legs.add(leg);
    if (!this.timer) {
      this.origin = performance.now();
      this.next = this.origin + this.tickMs;
      this.schedule();
    }
  }

  delete(leg: Paced): void {
    this.legs.delete(leg);
    if (this.legs.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.legs.size;
  }

  private schedule(): void {
    this.timer = setTimeout(() => this.tick(), Math.max(0, this.next - performance.now()));
    this.timer.unref();
  }

  /** Ticks so far and the 50th/99th percentile of their lateness (ms). */
  stats(): { ticks: number; lateTicks: number; latenessP50Ms: number; latenessP99Ms: number } {
    let ticks = 0;
    for (const n of this.lateness) ticks += n;
    const pct = (p: number) => {
      if (ticks === 0) return 0;
      const rank = Math.ceil(ticks * p);
      let seen = 0;
      for (let i = 0; i < this.lateness.length; i++) {
        seen += this.lateness[i]!;
        if (seen >= rank) return i / 2;
      }
      return 50;
    };
    return { ticks, lateTicks: this.lateTicks, latenessP50Ms: pct(0.5), latenessP99Ms: pct(0.99) };
  }

  /** Forgets the lateness figures (a new measuring window). */
  resetStats(): void {
    this.lateness.fill(0);
    this.lateTicks = 0;
  }

  private tick(): void {
    const now = performance.now();
    const late = Math.round((now - this.next) * 2);
    this.lateness[late < 0 ? 0 : late > 100 ? 100 : late]!++;
    for (const leg of this.legs) leg.pace(now);
    if (this.legs.size === 0) {
      this.timer = undefined;
      return;
    }
    this.next += this.tickMs;
    const after = performance.now();
    if (this.next <= after) {
      // More than a tick behind: skip to the next point of the same grid (no burst of catch-up ticks).
      this.lateTicks++;
      this.next += Math.ceil((after - this.next) / this.tickMs) * this.tickMs;
    }
    this.schedule();
  }
}
