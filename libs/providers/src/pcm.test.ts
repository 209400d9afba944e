import { describe, expect, it } from 'vitest';
import { Pcm16Decoder } from './pcm.ts';
import { AsyncQueue } from './queue.ts';

describe('Pcm16Decoder', () => {
  const expected = [0, 1, -1, 256, -32768, 32767, 12345, -54];
  const bytes = Buffer.alloc(expected.length * 2);
  expected.forEach((v, i) => bytes.writeInt16LE(v, i * 2));

  it.each<[string, number[]]>([
    ['whole samples', [4, 4, 8]],
    ['one byte at a time', Array.from({ length: 16 }, () => 1)],
    ['odd pieces', [3, 5, 1, 7]],
    ['an empty piece between halves', [1, 0, 1, 14]],
  ])('joins samples split across %s', (_what, sizes) => {
    const d = new Pcm16Decoder();
    const out: number[] = [];
    let at = 0;
    for (const n of sizes) {
      out.push(...d.decode(bytes.subarray(at, at + n)));
      at += n;
    }
    expect(out).toEqual(expected);
  });
});

describe('AsyncQueue', () => {
  it('yields what was pushed before and after the consumer waits, then ends', async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    const seen: number[] = [];
    const done = (async () => {
      for await (const v of q) seen.push(v);
    })();
    await new Promise((r) => setTimeout(r, 5));
    q.push(2);
    q.end();
    q.push(3); // after end: dropped
    await done;
    expect(seen).toEqual([1, 2]);
  });

  it('throws the failure after the queued items; a later end does not hide it', async () => {
    const q = new AsyncQueue<number>();
    q.push(1);
    q.fail(new Error('boom'));
    q.end();
    const seen: number[] = [];
    const err = await (async () => {
      for await (const v of q) seen.push(v);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([1]);
    expect((err as Error).message).toBe('boom');
  });
});
