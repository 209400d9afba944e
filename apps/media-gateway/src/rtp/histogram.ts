/**
 * A fixed-bucket latency histogram for the media hot path: recording is one array increment, no
 * allocation, so every packet can be measured in production. Resolution 0.1 ms up to `maxMs`;
 * larger values land in the last bucket.
 */
export class Histogram {
  private readonly buckets: Uint32Array;
  private readonly perMs: number;
  count = 0;
  max = 0;
  private sum = 0;

  constructor(
    readonly maxMs = 200,
    resolutionMs = 0.1,
  ) {
    this.perMs = 1 / resolutionMs;
    this.buckets = new Uint32Array(Math.ceil(maxMs * this.perMs) + 1);
  }

  record(ms: number): void {
    const v = ms < 0 ? 0 : ms;
    const i = Math.min(this.buckets.length - 1, Math.floor(v * this.perMs));
    this.buckets[i]!++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Value at percentile `p` (0..100): the upper edge of the bucket holding that rank (the max for the overflow bucket); NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      seen += this.buckets[i]!;
      if (seen >= rank) return i === this.buckets.length - 1 ? this.max : Math.min(this.max, (i + 1) / this.perMs);
    }
    return this.max;
  }

  get mean(): number {
    return this.count ? this.sum / this.count : Number.NaN;
  }

  /**
   * The non-empty buckets as `[index, count]` pairs (index × resolution = the bucket's lower edge, ms):
   * compact enough for health details, and two snapshots subtract into the figures of the time between
   * them (see {@link percentileOfSparse}).
   */
  sparse(): { resolutionMs: number; buckets: Array<[number, number]> } {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < this.buckets.length; i++) if (this.buckets[i]) buckets.push([i, this.buckets[i]!]);
    return { resolutionMs: 1 / this.perMs, buckets };
  }

  reset(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  summary(): { n: number; p50: number; p90: number; p99: number; p999: number; mean: number; max: number } {
    const r = (v: number) => Math.round(v * 1000) / 1000;
    return { n: this.count, p50: r(this.percentile(50)), p90: r(this.percentile(90)), p99: r(this.percentile(99)), p999: r(this.percentile(99.9)), mean: r(this.mean), max: r(this.max) };
  }
}

/** Percentile `p` of the samples recorded between two {@link Histogram.sparse} snapshots (upper bucket edges). */
export function percentileOfSparse(after: ReturnType<Histogram['sparse']>, before: ReturnType<Histogram['sparse']> | undefined, p: number): number {
  const counts = new Map<number, number>(after.buckets);
  for (const [i, n] of before?.buckets ?? []) counts.set(i, (counts.get(i) ?? 0) - n);
  const sorted = [...counts.entries()].filter(([, n]) => n > 0).sort((a, b) => a[0] - b[0]);
  const total = sorted.reduce((a, [, n]) => a + n, 0);
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [i, n] of sorted) {
    seen += n;
    if (seen >= rank) return (i + 1) * after.resolutionMs;
  }
  return Number.NaN;
}
