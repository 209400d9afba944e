import { describe, expect, it } from 'vitest';
import { JitterBuffer, type JitterItem } from './jitter-buffer.ts';

/** A 30 ms G.711 packet (240 samples) with sequence `seq`, as sipp's pcap sends them. */
const pkt = (seq: number, arrivedAt = 0, samples = 240, base = 1000): JitterItem => ({ seq: seq & 0xffff, timestamp: (base + seq * samples) >>> 0, payloadType: 8, payload: new Uint8Array(samples), arrivedAt });

describe('JitterBuffer', () => {
  it('releases in-order packets at once, with no gap', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    for (let i = 0; i < 5; i++) {
      const out = jb.push(pkt(i), i * 30);
      expect(out.map((r) => [r.item.seq, r.gapSamples])).toEqual([[i, 0]]);
    }
    expect(jb.stats).toMatchObject({ received: 5, released: 5, lost: 0 });
  });

  it('reorders a swapped pair without loss', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    expect(jb.push(pkt(0), 0).length).toBe(1);
    expect(jb.push(pkt(2, 60), 60)).toEqual([]);
    expect(jb.push(pkt(1, 65), 65).map((r) => r.item.seq)).toEqual([1, 2]);
    expect(jb.stats.lost).toBe(0);
  });

  it('declares a missing packet lost after depthMs and inserts its duration as silence', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    jb.push(pkt(0), 0);
    expect(jb.push(pkt(2, 60), 60)).toEqual([]);
    expect(jb.poll(100)).toEqual([]);
    const out = jb.poll(121);
    expect(out.map((r) => [r.item.seq, r.gapSamples])).toEqual([[2, 240]]);
    expect(jb.stats.lost).toBe(1);
    // The lost packet arriving afterwards is late and dropped.
    expect(jb.push(pkt(1), 130)).toEqual([]);
    expect(jb.stats.late).toBe(1);
  });

  it('drops duplicates, held or already released', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    jb.push(pkt(0), 0);
    expect(jb.push(pkt(0), 1)).toEqual([]);
    jb.push(pkt(2), 2);
    expect(jb.push(pkt(2), 3)).toEqual([]);
    expect(jb.stats.late + jb.stats.duplicates).toBe(2);
  });

  it('follows the sequence across the 16-bit wrap', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    const seqs: number[] = [];
    for (const s of [65534, 65535, 1, 0, 2]) for (const r of jb.push(pkt(s), 0)) seqs.push(r.item.seq);
    expect(seqs).toEqual([65534, 65535, 0, 1, 2]);
  });

  it('resynchronises on a large sequence jump (a new stream) instead of waiting', () => {
    const jb = new JitterBuffer({ depthMs: 60 });
    jb.push(pkt(10), 0);
    const out = jb.push(pkt(5000, 1, 240, 99), 1);
    expect(out.map((r) => [r.item.seq, r.gapSamples])).toEqual([[5000, 0]]);
    expect(jb.stats.resyncs).toBe(1);
  });

  it('caps the silence inserted for a timestamp jump at maxGapMs', () => {
    const jb = new JitterBuffer({ depthMs: 60, maxGapMs: 200 });
    jb.push(pkt(0), 0);
    const jumped: JitterItem = { ...pkt(1), timestamp: 1000 + 240 + 8000 * 5 };
    expect(jb.push(jumped, 5000)[0]!.gapSamples).toBe(1600);
  });

  it('advance() keeps real-time silence fill from being inserted twice', () => {
    const jb = new JitterBuffer({ depthMs: 60, maxGapMs: 1000 });
    jb.push(pkt(0), 0);
    jb.advance(160 * 5);
    const next: JitterItem = { ...pkt(1), timestamp: 1000 + 240 + 160 * 6 };
    expect(jb.push(next, 200)[0]!.gapSamples).toBe(160);
  });

  it('skips the gap at once when the buffer reaches capacity', () => {
    const jb = new JitterBuffer({ depthMs: 10_000, capacity: 3 });
    jb.push(pkt(0), 0);
    jb.push(pkt(2), 1);
    jb.push(pkt(3), 2);
    expect(jb.push(pkt(4), 3).map((r) => r.item.seq)).toEqual([2, 3, 4]);
  });
});
