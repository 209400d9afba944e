import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { NET_0001, freePort, startFakeDeepgram } from '@switchboard/testing';
import type { FakeDeepgram, FakeDeepgramOptions } from '@switchboard/testing';
import { DeepgramSpeechToText } from './stt.ts';
import type { DeepgramOptions } from './stt.ts';
import type { ProviderClosed, SttStream, SttTranscript } from '../types.ts';

const fakes: FakeDeepgram[] = [];
const streams: SttStream[] = [];
afterEach(async () => {
  await Promise.all(streams.splice(0).map((s) => s.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(opts: FakeDeepgramOptions = {}): Promise<FakeDeepgram> {
  const f = await startFakeDeepgram({ apiKey: 'dg-key', ...opts });
  fakes.push(f);
  return f;
}

interface Recorded {
  transcripts: SttTranscript[];
  utteranceEnds: number[];
  errors: SwitchboardError[];
  closed: Promise<ProviderClosed>;
}

function record(s: SttStream): Recorded {
  const r: Omit<Recorded, 'closed'> = { transcripts: [], utteranceEnds: [], errors: [] };
  s.on('transcript', (t) => r.transcripts.push(t));
  s.on('utteranceEnd', (u) => r.utteranceEnds.push(u.lastWordEnd));
  s.on('error', (e) => r.errors.push(e));
  return { ...r, closed: new Promise((resolve) => s.once('closed', resolve)) };
}

async function open(f: FakeDeepgram, opts: Partial<DeepgramOptions> = {}, encoding: 'mulaw' | 'linear16' = 'mulaw', sampleRate = 8000): Promise<SttStream> {
  const s = await new DeepgramSpeechToText({ apiKey: 'dg-key', baseUrl: f.url, ...opts }).open({ sampleRate, encoding });
  streams.push(s);
  return s;
}

/** Sends `ms` of audio in 20 ms frames (content does not matter to the fake). */
function sendAudio(s: SttStream, ms: number, bytesPerMs: number): void {
  for (let t = 0; t < ms; t += 20) s.send(new Uint8Array(20 * bytesPerMs).fill(0x7f));
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('DeepgramSpeechToText against the fake Deepgram', () => {
  it('opens /v1/listen with the format, model and endpointing parameters and a Token header', async () => {
    const f = await fake();
    await open(f, { model: 'nova-3', language: 'en-US', endpointingMs: 250, utteranceEndMs: 1200, extraParams: { numerals: 'true' } });
    expect(f.connections[0]?.authorization).toBe('Token dg-key');
    expect(f.connections[0]?.params).toEqual({
      model: 'nova-3',
      encoding: 'mulaw',
      sample_rate: '8000',
      channels: '1',
      interim_results: 'true',
      smart_format: 'true',
      language: 'en-US',
      endpointing: '250',
      utterance_end_ms: '1200',
      numerals: 'true',
    });
  });

  it.each<[string, 'mulaw' | 'linear16', number, number]>([
    ['μ-law 8 kHz', 'mulaw', 8000, 8],
    ['PCM16 16 kHz', 'linear16', 16000, 32],
  ])('%s: interim results, then a speech-final result once enough audio arrived, then UtteranceEnd', async (_what, encoding, rate, bytesPerMs) => {
    const f = await fake({ utterances: [{ text: 'I want to check my order.', afterAudioMs: 600, interims: 2 }] });
    const s = await open(f, {}, encoding, rate);
    const r = record(s);
    sendAudio(s, 580, bytesPerMs);
    await sleep(50);
    expect(r.transcripts).toEqual([]); // 580 ms is not enough
    sendAudio(s, 40, bytesPerMs);
    await until(() => r.utteranceEnds.length > 0, 'UtteranceEnd');
    expect(r.transcripts.map((t) => [t.text, t.isFinal, t.speechFinal])).toEqual([
      ['I want', false, false],
      ['I want to check', false, false],
      ['I want to check my order.', true, true],
    ]);
    expect(r.transcripts[2]).toMatchObject({ start: 0, duration: 0.6, confidence: 0.98 });
    expect(r.transcripts[2]?.fromFinalize).toBeUndefined();
    expect(r.utteranceEnds).toEqual([0.6]);
    expect(f.connections[0]?.audioBytes).toBe(620 * bytesPerMs);
  });

  it('without interim results only finals arrive, and no UtteranceEnd is asked for', async () => {
    const f = await fake({ utterances: [{ text: 'hello there', afterAudioMs: 100 }, { text: 'second one', afterAudioMs: 100 }] });
    const s = await open(f, { interimResults: false });
    const r = record(s);
    sendAudio(s, 200, 8);
    await until(() => r.transcripts.length === 2, 'two finals');
    expect(r.transcripts.map((t) => [t.text, t.isFinal, t.start])).toEqual([
      ['hello there', true, 0],
      ['second one', true, 0.1],
    ]);
    expect(f.connections[0]?.params['utterance_end_ms']).toBeUndefined();
  });

  it('finalize() sends Finalize and the result comes back with fromFinalize', async () => {
    const f = await fake({ utterances: [{ text: 'cut short', afterAudioMs: 5000 }] });
    const s = await open(f);
    const r = record(s);
    sendAudio(s, 300, 8);
    s.finalize();
    await until(() => r.transcripts.length === 1, 'finalized result');
    expect(r.transcripts[0]).toMatchObject({ text: 'cut short', isFinal: true, speechFinal: false, fromFinalize: true, duration: 0.3 });
    expect(f.connections[0]?.controls).toEqual([{ type: 'Finalize' }]);

    // Finalize with nothing heard since: an empty final, still from_finalize.
    s.finalize();
    await until(() => r.transcripts.length === 2, 'empty finalized result');
    expect(r.transcripts[1]).toMatchObject({ text: '', isFinal: true, fromFinalize: true });
  });

  it('KeepAlive messages keep a silent stream open past the idle timeout', async () => {
    const f = await fake({ idleTimeoutMs: 150 });
    const s = await open(f, { keepAliveMs: 40 });
    const r = record(s);
    await sleep(400);
    expect(f.connections[0]?.closed).toBeUndefined();
    expect(f.counters.keepAlives).toBeGreaterThanOrEqual(5);
    expect(f.connections[0]?.controls.every((c) => c.type === 'KeepAlive')).toBe(true);
    expect(r.errors).toEqual([]);
  });

  it('without KeepAlive Deepgram closes an idle stream with NET-0001: error then closed', async () => {
    const f = await fake({ idleTimeoutMs: 100 });
    const s = await open(f, { keepAliveMs: 0 });
    const r = record(s);
    const closed = await r.closed;
    expect(closed).toEqual({ code: 1011, reason: NET_0001, byClient: false });
    expect(r.errors).toHaveLength(1);
    expect([r.errors[0]?.code, r.errors[0]?.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(r.errors[0]?.message).toContain('net0001');
    expect(f.counters.idleTimeouts).toBe(1);
    s.send(new Uint8Array(160)); // dropped, not thrown
  });

  it('close() sends CloseStream, waits for Metadata and the close, and reports no error', async () => {
    const f = await fake({ utterances: [{ text: 'one', afterAudioMs: 100 }], latencyMs: 30 });
    const s = await open(f);
    const r = record(s);
    sendAudio(s, 100, 8);
    await s.close();
    // The final result that was in flight arrived before the stream closed.
    expect(r.transcripts.map((t) => t.text).filter(Boolean)).toContain('one');
    expect(await r.closed).toEqual({ code: 1000, reason: '', byClient: true });
    expect(r.errors).toEqual([]);
    expect(f.connections[0]?.controls.at(-1)).toEqual({ type: 'CloseStream' });
    expect(f.connections[0]?.sent.at(-1)).toMatchObject({ type: 'Metadata', duration: 0.1, channels: 1 });
    expect(f.counters.closeStreams).toBe(1);
    await s.close(); // idempotent
  });

  it('a wrong key is refused on the upgrade: PROVIDER_FAILED, not retryable, with Deepgram\'s message', async () => {
    const f = await fake();
    const err = await new DeepgramSpeechToText({ apiKey: 'wrong', baseUrl: f.url }).open({ sampleRate: 8000, encoding: 'mulaw' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    const e = err as SwitchboardError;
    expect([e.code, e.retryable, e.details?.['status']]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 401]);
    expect(e.message).toBe('deepgram refused the WebSocket (HTTP 401: Invalid credentials.)');
    expect(f.counters).toMatchObject({ connections: 0, rejected: 1 });
  });

  it.each([
    [503, true],
    [429, true],
    [400, false],
  ])('an upgrade refused with %i is PROVIDER_FAILED retryable %s', async (status, retryable) => {
    const f = await fake();
    f.failNextUpgrade(status);
    const err = (await open(f).catch((e: unknown) => e)) as SwitchboardError;
    expect([err.code, err.retryable, err.details?.['status']]).toEqual([ErrorCodes.PROVIDER_FAILED, retryable, status]);
    await open(f); // one failure only
  });

  it('a connection dropped mid-stream is a retryable PROVIDER_FAILED, then closed', async () => {
    const f = await fake({ utterances: [{ text: 'never', afterAudioMs: 10_000 }] });
    const s = await open(f);
    const r = record(s);
    sendAudio(s, 100, 8);
    await until(() => (f.connections[0]?.audioBytes ?? 0) === 800, 'audio at the fake');
    f.dropAll();
    expect(await r.closed).toMatchObject({ code: 1006, byClient: false });
    expect(r.errors.map((e) => [e.code, e.retryable])).toEqual([[ErrorCodes.PROVIDER_FAILED, true]]);
  });

  it('an unreachable server is a retryable PROVIDER_FAILED', async () => {
    const port = await freePort();
    const err = (await new DeepgramSpeechToText({ apiKey: 'k', baseUrl: `http://127.0.0.1:${port}/v1` })
      .open({ sampleRate: 8000, encoding: 'mulaw' })
      .catch((e: unknown) => e)) as SwitchboardError;
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(/^deepgram unreachable \(/);
  });

  it('an error event without a listener does not throw', async () => {
    const f = await fake({ idleTimeoutMs: 50 });
    const s = await open(f, { keepAliveMs: 0 });
    await new Promise((resolve) => s.once('closed', resolve));
  });
});
