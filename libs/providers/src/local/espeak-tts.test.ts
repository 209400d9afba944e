import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmsDbfs } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { ESPEAK_NATIVE_RATE, EspeakTextToSpeech } from './espeak-tts.ts';

async function all(it: AsyncIterable<Int16Array>): Promise<{ samples: Int16Array; chunks: number }> {
  const parts: Int16Array[] = [];
  for await (const c of it) parts.push(c);
  const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    samples.set(p, o);
    o += p.length;
  }
  return { samples, chunks: parts.length };
}

const savedPath = process.env['PATH'];
afterEach(() => {
  process.env['PATH'] = savedPath;
});

// espeak-ng is installed on this machine and in CI (.ci/run); these tests run the real binary.
describe('EspeakTextToSpeech (real espeak-ng)', () => {
  it('speaks at the native 22050 Hz in 100 ms chunks', async () => {
    expect(EspeakTextToSpeech.locate()).not.toBeNull();
    const tts = new EspeakTextToSpeech();
    expect(tts.sampleRate).toBe(ESPEAK_NATIVE_RATE);
    const { samples, chunks } = await all(tts.synthesize('Your order has shipped and arrives on Friday.'));
    const seconds = samples.length / ESPEAK_NATIVE_RATE;
    expect(seconds).toBeGreaterThan(1.5);
    expect(seconds).toBeLessThan(6);
    expect(chunks).toBe(Math.ceil(samples.length / 2205));
    expect(rmsDbfs(samples)).toBeGreaterThan(-35);
  });

  it('resamples to the configured rate', async () => {
    const text = 'One two three.';
    const native = (await all(new EspeakTextToSpeech().synthesize(text))).samples.length;
    const tts = new EspeakTextToSpeech({ sampleRate: 8000 });
    const n = (await all(tts.synthesize(text))).samples.length;
    expect(Math.abs(n - (native * 8000) / ESPEAK_NATIVE_RATE)).toBeLessThan(10);
  });

  it('reads text that starts with a dash as text, and yields nothing for blank text', async () => {
    expect((await all(new EspeakTextToSpeech().synthesize('-v is not an option here'))).samples.length).toBeGreaterThan(ESPEAK_NATIVE_RATE);
    expect((await all(new EspeakTextToSpeech().synthesize('   '))).chunks).toBe(0);
  });

  it('an unknown voice is a non-retryable PROVIDER_FAILED with espeak-ng\'s message', async () => {
    const err = (await all(new EspeakTextToSpeech({ voice: 'zzqq' }).synthesize('hi')).catch((e: unknown) => e)) as SwitchboardError;
    expect(err).toBeInstanceOf(SwitchboardError);
    expect([err.code, err.retryable, err.message]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 'espeak-ng failed: The specified espeak-ng voice does not exist.']);
  });

  it('hidden from PATH: a clear, non-retryable error that says how to fix it', async () => {
    process.env['PATH'] = mkdtempSync(join(tmpdir(), 'no-espeak-'));
    expect(EspeakTextToSpeech.locate()).toBeNull();
    const err = (await all(new EspeakTextToSpeech().synthesize('hello')).catch((e: unknown) => e)) as SwitchboardError;
    expect(err).toBeInstanceOf(SwitchboardError);
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, false]);
    expect(err.message).toBe('espeak-ng is not installed (not found on PATH): install it (apt-get install espeak-ng, brew install espeak-ng) or configure another TTS provider');
  });

  it("the caller's abort is thrown as the abort", async () => {
    const ctrl = new AbortController();
    ctrl.abort();
    const err = (await all(new EspeakTextToSpeech().synthesize('hello', ctrl.signal)).catch((e: unknown) => e)) as Error;
    expect(err).not.toBeInstanceOf(SwitchboardError);
    expect(err.name).toBe('AbortError');
  });
});
