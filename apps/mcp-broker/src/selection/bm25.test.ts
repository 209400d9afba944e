import { describe, expect, it } from 'vitest';
import { Bm25Index, stem, tokenize } from './bm25.ts';

describe('tokenize', () => {
  it.each([
    ['check_order_status', ['check', 'order', 'status']],
    ['getCustomerProfile', ['customer', 'profile']],
    ['home.set-temperature', ['home', 'set', 'temperature']],
    ["Where's my order? I'd like it cancelled", ['order', 'cancel']],
    ['installed travelling', ['install', 'travel']],
  ])('%j → %j', (text, terms) => {
    expect(tokenize(text)).toEqual(terms);
  });

  it.each([
    ['orders', 'order'],
    ['cancelled', 'cancel'],
    ['cancelling', 'cancel'],
    ['shipping', 'ship'],
    ['deliveries', 'delivery'],
    ['addresses', 'address'],
    ['boxes', 'box'],
    ['class', 'class'],
  ])('stems %s to %s', (w, s) => {
    expect(stem(w)).toBe(s);
  });
});

describe('Bm25Index', () => {
  const docs = [
    tokenize('check_order_status Get the status and tracking number of an order order_id'),
    tokenize('process_return Start a return for an order order_id reason'),
    tokenize('set_temperature Set the thermostat temperature in a room room degrees'),
  ];
  const index = new Bm25Index(docs);
  const q = (text: string) => new Map(tokenize(text).map((t) => [t, 1]));

  it('ranks the document that shares the rarer terms first', () => {
    const s = index.score(q('I want to track my order'));
    expect(s[0]).toBeGreaterThan(s[1] as number);
    expect(s[2]).toBe(0);
    const t = index.score(q('make the room warmer, set it to 21 degrees'));
    expect(t.indexOf(Math.max(...t))).toBe(2);
  });

  it('gives a term found everywhere less weight than a rare one', () => {
    expect(index.idf('order')).toBeLessThan(index.idf('thermostat'));
  });

  it('weighs query terms', () => {
    const light = index.score(new Map([['return', 0.25]]));
    const heavy = index.score(new Map([['return', 1]]));
    expect(heavy[1]).toBeCloseTo((light[1] as number) * 4);
  });
});
