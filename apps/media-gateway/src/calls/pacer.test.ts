import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pacer, type Paced } from './pacer.ts';

/** A leg that records the clock of every tick; `busyOnce` keeps the event loop busy that long in its next tick. */
class Recorder implements Paced {
  readonly at: number[] = [];
  busyOnce = 0;
  pace(now: number): void {
    this.at.push(now);
    if (this.busyOnce) {
      const ms = this.busyOnce;
      this.busyOnce = 0;
      // Nothing else is scheduled while a tick runs: this only moves the clock, like a long task would.
      vi.advanceTimersByTime(ms);
    }
  }
}

describe('Pacer', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ticks on a fixed 10 ms grid from the first leg', () => {
    const pacer = new Pacer(10);
    const leg = new Recorder();
    const t0 = performance.now();
    pacer.add(leg);
    vi.advanceTimersByTime(100);
    expect(leg.at.map((t) => t - t0)).toEqual([10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(pacer.stats()).toMatchObject({ ticks: 10, lateTicks: 0, latenessP99Ms: 0 });
    pacer.delete(leg);
  });

  it('after a tick that overran by more than a tick, skips to the next point of the same grid instead of bursting', () => {
    const pacer = new Pacer(10);
    const leg = new Recorder();
    const t0 = performance.now();
    pacer.add(leg);
    vi.advanceTimersByTime(10);
    leg.busyOnce = 25;
    vi.advanceTimersByTime(40);
    // Tick at 20 ran until 45: grid points 30 and 40 are skipped, 50 runs on time.
    expect(leg.at.map((t) => t - t0)).toEqual([10, 20, 50, 60, 70]);
    expect(pacer.stats().lateTicks).toBe(1);
    pacer.delete(leg);
  });

  it('anchors a leg midway between two ticks, at or after now and within one tick', () => {
    const pacer = new Pacer(10);
    const leg = new Recorder();
    const t0 = performance.now();
    pacer.add(leg);
    for (const offset of [0, 0.1, 3, 4.999, 5, 5.001, 9.9, 10, 17.5, 123.4]) {
      const a = pacer.anchor(t0 + offset);
      expect(a).toBeGreaterThanOrEqual(t0 + offset);
      expect(a - (t0 + offset)).toBeLessThan(10);
      expect((((a - t0 - 5) % 10) + 10) % 10).toBeCloseTo(0, 9);
    }
    pacer.delete(leg);
  });

  it('stops its timer when the last leg leaves and starts a new grid with the next one', () => {
    const pacer = new Pacer(10);
    const a = new Recorder();
    pacer.add(a);
    vi.advanceTimersByTime(30);
    pacer.delete(a);
    expect(pacer.size).toBe(0);
    vi.advanceTimersByTime(50);
    expect(a.at).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(0);
    const b = new Recorder();
    const t1 = performance.now();
    pacer.add(b);
    vi.advanceTimersByTime(20);
    expect(b.at.map((t) => t - t1)).toEqual([10, 20]);
    pacer.delete(b);
  });
});
