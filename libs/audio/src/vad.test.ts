import { describe, it, expect } from 'vitest';
import { Endpointer, EnergyVad, rmsDbfs } from './vad.ts';
import type { EndpointEvent, VoiceActivityDetector } from './vad.ts';

const RATE = 16000;
const FRAME = 320;
const SAMPLES_PER_MS = RATE / 1000;

/** Voiced-speech stand-in: 150 Hz fundamental with 1/k harmonics, scaled to the given RMS dBFS. */
function voiced(ms: number, dbfs = -20): Int16Array {
  const count = ms * SAMPLES_PER_MS;
  const raw = new Float64Array(count);
  let sumSquares = 0;
  for (let i = 0; i < count; i++) {
    let v = 0;
    for (let k = 1; k <= 10; k++) v += Math.sin((2 * Math.PI * 150 * k * i) / RATE) / k;
    raw[i] = v;
    sumSquares += v * v;
  }
  const gain = (32768 * 10 ** (dbfs / 20)) / Math.sqrt(sumSquares / count);
  return Int16Array.from(raw, (v) => Math.round(v * gain));
}

/** Deterministic white noise at roughly the given RMS dBFS. */
function noise(ms: number, dbfs: number, seed = 1): Int16Array {
  const count = ms * SAMPLES_PER_MS;
  const out = new Int16Array(count);
  // Uniform noise in [-a, a] has RMS a / sqrt(3).
  const amplitude = 32768 * 10 ** (dbfs / 20) * Math.sqrt(3);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = Math.round((s / 0xffffffff - 0.5) * 2 * amplitude);
  }
  return out;
}

const silence = (ms: number): Int16Array => new Int16Array(ms * SAMPLES_PER_MS);

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Pushes a signal frame by frame; returns every event tagged with the stream time at which it was emitted. */
function run(endpointer: Endpointer, signal: Int16Array): Array<EndpointEvent & { emittedAtMs: number }> {
  const events: Array<EndpointEvent & { emittedAtMs: number }> = [];
  for (let i = 0; i + FRAME <= signal.length; i += FRAME) {
    for (const e of endpointer.push(signal.subarray(i, i + FRAME))) {
      events.push({ ...e, emittedAtMs: (i + FRAME) / SAMPLES_PER_MS });
    }
  }
  return events;
}

/** A detector that replays a script of decisions, one character per frame: 'S' speech, '.' not. */
class ScriptedVad implements VoiceActivityDetector {
  readonly name = 'scripted';
  private index = 0;
  constructor(private readonly script: string) {}
  isSpeech(): boolean {
    return this.script[this.index++] === 'S';
  }
}

function scripted(script: string, opts: Partial<ConstructorParameters<typeof Endpointer>[0]> = {}) {
  const endpointer = new Endpointer({ sampleRate: RATE, vad: new ScriptedVad(script), ...opts });
  // Each frame carries its index so the emitted audio shows which frames it holds.
  const frames = Array.from({ length: script.length }, (_, i) => new Int16Array(FRAME).fill(i));
  const events: Array<EndpointEvent & { emittedAtFrame: number }> = [];
  frames.forEach((frame, i) => {
    for (const e of endpointer.push(frame)) events.push({ ...e, emittedAtFrame: i });
  });
  return { endpointer, events };
}

/** Frame indices in emitted audio, one per frame. */
function frameIds(audio: Int16Array): number[] {
  const ids: number[] = [];
  for (let i = 0; i < audio.length; i += FRAME) ids.push(audio[i]!);
  return ids;
}

describe('rmsDbfs', () => {
  it.each([
    ['an all-zero frame', new Int16Array(320), -Infinity],
    ['an empty frame', new Int16Array(0), -Infinity],
    ['a full-scale square wave', Int16Array.from({ length: 320 }, (_, i) => (i % 2 ? -32768 : 32767)), 0],
    ['a full-scale sine', Int16Array.from({ length: 320 }, (_, i) => Math.round(32767 * Math.sin((2 * Math.PI * i) / 32))), -3.01],
    ['a -20 dBFS voiced frame', voiced(20), -20],
  ])('%s measures %d dBFS', (_name, frame, expected) => {
    if (expected === -Infinity) expect(rmsDbfs(frame)).toBe(-Infinity);
    else expect(rmsDbfs(frame)).toBeCloseTo(expected, 1);
  });
});

describe('EnergyVad', () => {
  it.each([
    [-20, true],
    [-39, true],
    [-41, false],
    [-60, false],
  ])('with the default -40 dBFS threshold, a %i dBFS voiced frame is speech: %s', (dbfs, expected) => {
    expect(new EnergyVad().isSpeech(voiced(20, dbfs))).toBe(expected);
  });

  it('honours a custom threshold', () => {
    const vad = new EnergyVad({ thresholdDb: -25 });
    expect(vad.name).toBe('energy');
    expect(vad.isSpeech(voiced(20, -30))).toBe(false);
    expect(vad.isSpeech(voiced(20, -20))).toBe(true);
  });

  it('digital silence is never speech', () => {
    expect(new EnergyVad({ thresholdDb: -200 }).isSpeech(new Int16Array(320))).toBe(false);
  });

  it('adaptive mode learns a steady noise floor that the fixed threshold would call speech', () => {
    const fixed = new EnergyVad();
    const adaptive = new EnergyVad({ adaptive: true });
    const background = noise(4000, -30);
    const fixedSpeech: boolean[] = [];
    const adaptiveSpeech: boolean[] = [];
    for (let i = 0; i < background.length; i += FRAME) {
      const frame = background.subarray(i, i + FRAME);
      fixedSpeech.push(fixed.isSpeech(frame));
      adaptiveSpeech.push(adaptive.isSpeech(frame));
    }
    expect(fixedSpeech.every(Boolean)).toBe(true);
    // At first the noise is above -40 dBFS and counts as speech; within 3 s the floor has adapted.
    expect(adaptiveSpeech[0]).toBe(true);
    expect(adaptiveSpeech.slice(150).some(Boolean)).toBe(false);
    // Speech well above the learned floor is still detected.
    expect(adaptive.isSpeech(voiced(20, -10))).toBe(true);
  });

  it('adaptive mode behaves like the fixed threshold on a quiet line', () => {
    const adaptive = new EnergyVad({ adaptive: true });
    for (let i = 0; i < 100; i++) expect(adaptive.isSpeech(noise(20, -60, i + 1))).toBe(false);
    expect(adaptive.isSpeech(voiced(20, -35))).toBe(true);
  });
});

describe('Endpointer on synthetic audio', () => {
  it.each([
    ['digital silence', silence(3000)],
    ['-60 dBFS line noise', noise(3000, -60)],
    ['a 40 ms click', concat(silence(500), noise(40, -6), silence(1000))],
    ['three 40 ms clicks 60 ms apart', concat(silence(500), noise(40, -6), silence(60), noise(40, -6), silence(60), noise(40, -6), silence(1000))],
  ])('%s produces no events', (_name, signal) => {
    const endpointer = new Endpointer({ sampleRate: RATE });
    expect(run(endpointer, signal)).toEqual([]);
    expect(endpointer.speaking).toBe(false);
  });

  it('600 ms of voice then 700 ms of silence gives one start and one end with the utterance audio', () => {
    const speech = voiced(600);
    const endpointer = new Endpointer({ sampleRate: RATE });
    const events = run(endpointer, concat(silence(300), speech, silence(700)));

    expect(events.map((e) => [e.type, e.atMs, e.emittedAtMs])).toEqual([
      ['speech-start', 300, 420], // onset at 300 ms, confirmed after minSpeechMs = 120 ms
      ['speech-end', 900, 1400], // last speech at 900 ms, confirmed after minSilenceMs = 500 ms
    ]);
    const end = events[1]!;
    if (end.type !== 'speech-end') throw new Error('expected speech-end');
    expect(end.speechMs).toBe(600);
    // 200 ms pre-roll + 600 ms speech + at most 500 ms trailing silence.
    expect(end.audio.length).toBe((200 + 600 + 500) * SAMPLES_PER_MS);
    expect(end.audio.subarray(200 * SAMPLES_PER_MS, 800 * SAMPLES_PER_MS)).toEqual(speech);
    expect(end.audio.subarray(800 * SAMPLES_PER_MS).every((s) => s === 0)).toBe(true);
  });

  it('keeps the pre-roll audio that came before the onset', () => {
    const lead = noise(300, -60, 42);
    const endpointer = new Endpointer({ sampleRate: RATE, preRollMs: 100 });
    const events = run(endpointer, concat(lead, voiced(300), silence(600)));
    const end = events.find((e) => e.type === 'speech-end');
    if (end?.type !== 'speech-end') throw new Error('expected speech-end');
    expect(end.audio.subarray(0, 100 * SAMPLES_PER_MS)).toEqual(lead.subarray(200 * SAMPLES_PER_MS));
  });

  it('reports speaking and speechMs while the utterance runs', () => {
    const endpointer = new Endpointer({ sampleRate: RATE });
    const frame = voiced(20);
    const quiet = silence(20);
    for (let i = 0; i < 5; i++) endpointer.push(frame);
    expect(endpointer.speaking).toBe(false);
    expect(endpointer.speechMs).toBe(100);
    endpointer.push(frame);
    expect(endpointer.speaking).toBe(true);
    expect(endpointer.speechMs).toBe(120);
    for (let i = 0; i < 10; i++) endpointer.push(frame);
    expect(endpointer.speechMs).toBe(320);
    for (let i = 0; i < 10; i++) endpointer.push(quiet);
    expect(endpointer.speaking).toBe(true);
    expect(endpointer.speechMs).toBe(320); // pauses do not count
    for (let i = 0; i < 15; i++) endpointer.push(quiet);
    expect(endpointer.speaking).toBe(false);
    expect(endpointer.speechMs).toBe(0);
  });
});

describe('Endpointer state machine', () => {
  it('a pause shorter than minSilenceMs does not split the utterance', () => {
    const { events } = scripted(`${'S'.repeat(10)}${'.'.repeat(20)}${'S'.repeat(10)}${'.'.repeat(25)}`);
    expect(events.map((e) => e.type)).toEqual(['speech-start', 'speech-end']);
    const end = events[1]!;
    expect(end.type === 'speech-end' && end.speechMs).toBe(40 * 20);
  });

  it('a burst shorter than minSpeechMs becomes pre-roll of the next utterance', () => {
    // Frames 0-2 speech (too short), 3 silence, 4-9 speech (120 ms), then silence.
    const { events } = scripted(`SSS.SSSSSS${'.'.repeat(30)}`, { preRollMs: 80 });
    expect(events.map((e) => [e.type, e.atMs, e.emittedAtFrame])).toEqual([
      ['speech-start', 80, 9],
      ['speech-end', 200, 34],
    ]);
    const end = events[1]!;
    if (end.type !== 'speech-end') throw new Error('expected speech-end');
    expect(frameIds(end.audio)).toEqual([0, 1, 2, 3, ...Array.from({ length: 6 + 25 }, (_, i) => i + 4)]);
  });

  it('trims the pre-roll to preRollMs', () => {
    const { events } = scripted(`${'.'.repeat(20)}${'S'.repeat(6)}${'.'.repeat(25)}`, { preRollMs: 60 });
    const end = events.find((e) => e.type === 'speech-end');
    if (end?.type !== 'speech-end') throw new Error('expected speech-end');
    expect(frameIds(end.audio).slice(0, 4)).toEqual([17, 18, 19, 20]);
  });

  it('an utterance at the very start of the stream has no pre-roll', () => {
    const { events } = scripted(`${'S'.repeat(6)}${'.'.repeat(25)}`);
    const end = events.find((e) => e.type === 'speech-end');
    if (end?.type !== 'speech-end') throw new Error('expected speech-end');
    expect(frameIds(end.audio)[0]).toBe(0);
    expect(end.audio.length).toBe((6 + 25) * FRAME);
  });

  it('maxUtteranceMs cuts a long utterance, and speech that continues starts a new one', () => {
    const { events } = scripted(`${'S'.repeat(80)}${'.'.repeat(25)}`, { maxUtteranceMs: 1000, preRollMs: 0 });
    expect(events.map((e) => [e.type, e.atMs, e.emittedAtFrame])).toEqual([
      ['speech-start', 0, 5],
      ['speech-end', 1000, 49], // cut while talking
      ['speech-start', 1000, 55],
      // 30 more speech frames, then the 1000 ms limit (counted from the onset) arrives before
      // the 500 ms of silence does; the end is still reported where the speech stopped.
      ['speech-end', 1600, 99],
    ]);
    const [, first, , second] = events;
    expect(first?.type === 'speech-end' && frameIds(first.audio)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(second?.type === 'speech-end' && frameIds(second.audio)[0]).toBe(50);
  });

  it.each([
    [{ minSilenceMs: 500 }, 25],
    [{ minSilenceMs: 300 }, 15],
    [{ minSilenceMs: 500, maxSilenceMs: 200 }, 10],
    [{ minSilenceMs: 300, maxSilenceMs: 800 }, 15],
  ])('with %o the end fires after %i silent frames', (opts, silentFrames) => {
    const { events } = scripted(`${'S'.repeat(10)}${'.'.repeat(60)}`, { preRollMs: 0, ...opts });
    const end = events.find((e) => e.type === 'speech-end');
    if (end?.type !== 'speech-end') throw new Error('expected speech-end');
    expect(end.emittedAtFrame).toBe(10 + silentFrames - 1);
    expect(end.audio.length).toBe((10 + silentFrames) * FRAME);
  });

  it.each([
    [60, 3],
    [120, 6],
    [200, 10],
  ])('with minSpeechMs %i, speech-start needs %i consecutive speech frames', (minSpeechMs, frames) => {
    const short = scripted(`${'S'.repeat(frames - 1)}${'.'.repeat(40)}`, { minSpeechMs });
    expect(short.events).toEqual([]);
    const enough = scripted(`${'S'.repeat(frames)}${'.'.repeat(40)}`, { minSpeechMs });
    expect(enough.events.map((e) => [e.type, e.emittedAtFrame])[0]).toEqual(['speech-start', frames - 1]);
  });

  it('reset drops the utterance in progress and restarts the clock', () => {
    const endpointer = new Endpointer({ sampleRate: RATE });
    const frame = voiced(20);
    for (let i = 0; i < 10; i++) endpointer.push(frame);
    expect(endpointer.speaking).toBe(true);
    endpointer.reset();
    expect(endpointer.speaking).toBe(false);
    expect(endpointer.speechMs).toBe(0);
    const events = run(endpointer, concat(voiced(200), silence(600)));
    expect(events.map((e) => [e.type, e.atMs])).toEqual([
      ['speech-start', 0],
      ['speech-end', 200],
    ]);
    const end = events[1]!;
    expect(end.type === 'speech-end' && end.audio.length).toBe((200 + 500) * SAMPLES_PER_MS);
  });

  it('works at 8 kHz with 10 ms frames', () => {
    const endpointer = new Endpointer({ sampleRate: 8000, frameMs: 10, vad: new ScriptedVad(`${'.'.repeat(30)}${'S'.repeat(20)}${'.'.repeat(60)}`) });
    const events: EndpointEvent[] = [];
    for (let i = 0; i < 110; i++) events.push(...endpointer.push(new Int16Array(80)));
    expect(events.map((e) => [e.type, e.atMs])).toEqual([
      ['speech-start', 300],
      ['speech-end', 500],
    ]);
    const end = events[1]!;
    expect(end.type === 'speech-end' && end.audio.length).toBe((200 + 200 + 500) * 8);
  });

  it('rejects frames of the wrong size', () => {
    const endpointer = new Endpointer({ sampleRate: RATE });
    expect(() => endpointer.push(new Int16Array(160))).toThrow(RangeError);
  });

  it.each([
    [{ minSilenceMs: -1 }],
    [{ preRollMs: Number.NaN }],
    [{ maxUtteranceMs: 0 }],
    [{ sampleRate: 11025 }],
  ])('rejects invalid options %o', (opts) => {
    expect(() => new Endpointer({ sampleRate: RATE, ...opts })).toThrow(RangeError);
  });
});
