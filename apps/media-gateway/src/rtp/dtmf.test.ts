import { describe, expect, it } from 'vitest';
import { DtmfReceiver, digitToEvent, eventToDigit, parseTelephoneEvent, planDtmf, serializeTelephoneEvent } from './dtmf.ts';

const ev = (event: number, end: boolean, duration: number) => serializeTelephoneEvent({ event, end, volume: 10, duration });

describe('RFC 4733 telephone-events', () => {
  it.each([
    [0, '0'],
    [9, '9'],
    [10, '*'],
    [11, '#'],
    [12, 'A'],
    [15, 'D'],
  ])('event %i is digit %s and back', (event, digit) => {
    expect(eventToDigit(event)).toBe(digit);
    expect(digitToEvent(digit)).toBe(event);
  });

  it('ignores non-DTMF events (flash = 16)', () => {
    expect(eventToDigit(16)).toBeUndefined();
  });

  it('parses the payload sipp sends (event 1, E bit, volume 10, duration 2240)', () => {
    expect(parseTelephoneEvent(Uint8Array.of(1, 0x8a, 0x08, 0xc0))).toEqual({ event: 1, end: true, volume: 10, duration: 2240 });
  });

  it('reports a press once although its end packet comes three times', () => {
    const digits: string[] = [];
    const rx = new DtmfReceiver((d) => digits.push(d));
    for (let d = 0; d <= 1920; d += 320) rx.push(7, 13280, ev(1, false, d), 0);
    for (let i = 0; i < 3; i++) rx.push(7, 13280, ev(1, true, 2240), 1);
    rx.push(7, 92640, ev(11, false, 0), 2);
    for (let i = 0; i < 3; i++) rx.push(7, 92640, ev(11, true, 2240), 3);
    expect(digits).toEqual(['1', '#']);
  });

  it('reports a press whose end packets were all lost when the next event starts', () => {
    const digits: string[] = [];
    const rx = new DtmfReceiver((d) => digits.push(d));
    rx.push(7, 100, ev(5, false, 320), 0);
    rx.push(7, 900, ev(6, false, 0), 100);
    rx.push(7, 900, ev(6, true, 800), 200);
    expect(digits).toEqual(['5', '6']);
  });

  it('a late retransmitted end packet is not a new press, the same stream replayed a second later is', () => {
    const digits: string[] = [];
    const rx = new DtmfReceiver((d) => digits.push(d));
    rx.push(7, 100, ev(3, true, 800), 0);
    rx.push(7, 100, ev(3, true, 800), 500);
    rx.push(7, 100, ev(3, true, 800), 2000);
    expect(digits).toEqual(['3', '3']);
  });

  it('plans marker, growing duration, three end packets and a gap between digits', () => {
    const slots = planDtmf('12', { durationMs: 100, gapMs: 40 });
    // 5 tone slots, 2 gap slots, 5 tone slots
    expect(slots.length).toBe(12);
    expect(slots[0]![0]!.marker).toBe(true);
    expect(parseTelephoneEvent(slots[0]![0]!.payload)).toMatchObject({ event: 1, end: false, duration: 160 });
    expect(slots[4]!.length).toBe(3);
    expect(slots[4]!.map((p) => parseTelephoneEvent(p.payload))).toEqual(Array(3).fill({ event: 1, end: true, volume: 10, duration: 800 }));
    expect(slots[5]).toBeNull();
    expect(slots[6]).toBeNull();
    expect(parseTelephoneEvent(slots[7]![0]!.payload)!.event).toBe(2);
  });

  it('refuses a non-digit', () => {
    expect(() => planDtmf('1x', { durationMs: 100, gapMs: 40 })).toThrow(RangeError);
  });
});
