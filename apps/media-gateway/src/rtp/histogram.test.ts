import { describe, expect, it } from 'vitest';
import { Histogram, percentileOfSparse } from './histogram.ts';

describe('Histogram', () => {
  it('percentiles at 0.1 ms resolution', () => {
    const h = new Histogram(100);
    for (let i = 1; i <= 100; i++) h.record(i / 10);
    // The upper edge of the 0.1 ms bucket holding the rank.
    expect(h.percentile(50)).toBeGreaterThanOrEqual(5.0);
    expect(h.percentile(50)).toBeLessThanOrEqual(5.1 + 1e-9);
    expect(h.percentile(99)).toBeGreaterThanOrEqual(9.9);
    expect(h.percentile(99)).toBeLessThanOrEqual(10 + 1e-9);
    expect(h.count).toBe(100);
    expect(h.max).toBeCloseTo(10);
  });

  it('values beyond the range land in the last bucket, and p100 is the true max', () => {
    const h = new Histogram(10);
    h.record(1);
    h.record(500);
    expect(h.percentile(100)).toBe(500);
  });

  it('is NaN when empty and resets', () => {
    const h = new Histogram();
    expect(h.percentile(99)).toBeNaN();
    h.record(3);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.percentile(50)).toBeNaN();
  });

  it('sparse snapshots subtract into the percentiles of the samples between them', () => {
    const h = new Histogram(100);
    for (let i = 0; i < 100; i++) h.record(20);
    const before = h.sparse();
    for (let i = 0; i < 100; i++) h.record(1);
    const after = h.sparse();
    expect(after.buckets).toEqual([
      [10, 100],
      [200, 100],
    ]);
    expect(percentileOfSparse(after, before, 99)).toBeCloseTo(1.1);
    expect(percentileOfSparse(after, undefined, 99)).toBeCloseTo(20.1);
    expect(percentileOfSparse(before, before, 50)).toBeNaN();
  });
});
