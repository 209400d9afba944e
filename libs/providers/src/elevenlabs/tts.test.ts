import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { startFakeElevenLabs } from '@switchboard/testing';
import type { FakeElevenLabs, FakeElevenLabsOptions } from '@switchboard/testing';
import { ElevenLabsTextToSpeech } from './tts.ts';
import type { ElevenLabsOptions } from './tts.ts';

const fakes: FakeElevenLabs[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function fake(opts: FakeElevenLabsOptions = {}): Promise<FakeElevenLabs> {
  const f = await startFakeElevenLabs({ apiKey: 'xi-key', ...opts });
  fakes.push(f);
  return f;
}

const tts = (f: FakeElevenLabs, opts: Partial<ElevenLabsOptions> = {}): ElevenLabsTextToSpeech =>
  new ElevenLabsTextToSpeech({ apiKey: 'xi-key', voiceId: 'voice-1', baseUrl: f.url, ...opts });

async function samples(it: AsyncIterable<Int16Array>): Promise<number> {
  let n = 0;
  for await (const chunk of it) n += chunk.length;
  return n;
}

async function failure(p: Promise<unknown>): Promise<SwitchboardError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwitchboardError);
  return err as SwitchboardError;
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('ElevenLabsTextToSpeech against the fake ElevenLabs', () => {
  it('synthesize: init, text, end-of-input; PCM16 at the output_format rate whose length matches the speech', async () => {
    const f = await fake({ msPerChar: 40 });
    const t = tts(f, { modelId: 'eleven_flash_v2_5', outputFormat: 'pcm_16000', voiceSettings: { stability: 0.5, similarity_boost: 0.8 }, chunkLengthSchedule: [50, 90] });
    const text = 'Your order shipped yesterday.';
    expect(t.sampleRate).toBe(16000);
    expect(await samples(t.synthesize(text))).toBe(Math.round((text.length * 40 * 16000) / 1000));

    const conn = f.connections[0];
    expect(conn?.voiceId).toBe('voice-1');
    expect(conn?.apiKey).toBe('xi-key');
    expect(conn?.params).toEqual({ model_id: 'eleven_flash_v2_5', output_format: 'pcm_16000' });
    expect(conn?.messages).toEqual([
      { text: ' ', voice_settings: { stability: 0.5, similarity_boost: 0.8 }, generation_config: { chunk_length_schedule: [50, 90] } },
      { text, try_trigger_generation: true },
      { text: '' },
    ]);
    await until(() => conn?.closed !== undefined, 'close at the fake');
    expect(conn?.closed?.code).toBe(1000);
    expect(f.counters.finals).toBe(1);
  });

  it.each<[string, 'camel' | 'snake']>([
    ['camelCase (isFinal, normalizedAlignment)', 'camel'],
    ['snake_case (is_final, normalized_alignment)', 'snake'],
  ])('reads %s: the final message ends the stream and alignment is collected', async (_what, casing) => {
    // The fake keeps the socket open after the final message, so only reading the final flag ends the stream.
    const f = await fake({ casing, closeAfterFinal: false, msPerChar: 30 });
    const s = tts(f, { outputFormat: 'pcm_24000' }).open();
    s.push('Thanks for calling.');
    s.end();
    const n = await Promise.race([samples(s), sleep(2000).then(() => -1)]);
    expect(n).toBe(Math.round(('Thanks for calling.'.length * 30 * 24000) / 1000));
    expect(s.alignment?.chars.join('')).toBe('Thanks for calling.');
    expect(s.alignment?.startMs.slice(0, 3)).toEqual([0, 30, 60]);
    expect(s.alignment?.durationMs.every((d) => d === 30)).toBe(true);
  });

  it('open(): audio for a finished sentence arrives before the rest of the text, alignment is offset per generation', async () => {
    const f = await fake({ msPerChar: 45 });
    const s = tts(f).open();
    let received = 0;
    const consumed = (async () => {
      for await (const chunk of s) received += chunk.length;
    })();
    for (const token of ['Hello', ' there.', ' How']) s.push(token);
    await until(() => received > 0, 'audio of the first sentence');
    s.push(' are you?');
    s.end();
    await consumed;

    expect(f.connections[0]?.generations).toEqual(['Hello there. ', 'How are you?']);
    expect(received).toBe(Math.round((25 * 45 * 16000) / 1000));
    const h = s.alignment?.chars.indexOf('H', 1) ?? -1;
    expect(s.alignment?.chars.slice(h, h + 3).join('')).toBe('How');
    expect(s.alignment?.startMs[h]).toBe(13 * 45);
  });

  it('flush() makes the provider speak what it has without more text', async () => {
    const f = await fake();
    const s = tts(f).open();
    let received = 0;
    const consumed = (async () => {
      for await (const chunk of s) received += chunk.length;
    })();
    s.push('One moment');
    s.flush();
    await until(() => received > 0, 'flushed audio');
    expect(f.connections[0]?.messages.at(-1)).toEqual({ text: ' ', flush: true });
    s.end();
    await consumed;
    expect(f.connections[0]?.generations).toEqual(['One moment ']);
  });

  it('cancel() mid-stream ends the audio without an error and closes the socket', async () => {
    const f = await fake({ msPerChar: 60, chunkMs: 20, ttfbMs: 0 });
    const s = tts(f).open();
    s.push('A long answer that the caller interrupts half way through because they already know it.');
    s.end();
    let chunks = 0;
    for await (const _ of s) {
      if (++chunks === 2) s.cancel();
    }
    expect(chunks).toBeGreaterThanOrEqual(2);
    await until(() => f.connections[0]?.closed !== undefined, 'close at the fake');
    expect(f.connections[0]?.closed?.code).toBe(1000);
  });

  it('leaving the loop early closes the socket', async () => {
    const f = await fake({ chunkMs: 20 });
    const s = tts(f).synthesize('Another long answer that nobody listens to until the end of it.');
    for await (const _ of s) break;
    await until(() => f.connections[0]?.closed !== undefined, 'close at the fake');
  });

  it("the caller's abort is thrown as the abort reason", async () => {
    const f = await fake({ chunkMs: 20, msPerChar: 80 });
    const ctrl = new AbortController();
    let received = 0;
    const err = await (async () => {
      for await (const chunk of tts(f).synthesize('Something long enough to abort in the middle of.', ctrl.signal)) {
        received += chunk.length;
        ctrl.abort();
      }
    })().catch((e: unknown) => e);
    expect(received).toBeGreaterThan(0);
    expect(err).not.toBeInstanceOf(SwitchboardError);
    expect((err as Error).name).toBe('AbortError');
  });

  it('a wrong key is refused with 401: PROVIDER_FAILED, not retryable', async () => {
    const f = await fake();
    const err = await failure(samples(tts(f, { apiKey: 'nope' }).synthesize('hi')));
    expect([err.code, err.retryable, err.details?.['status']]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 401]);
    expect(err.message).toBe('elevenlabs refused the WebSocket (HTTP 401: Invalid API key)');
  });

  it.each<[string, 'drop' | 'error', RegExp]>([
    ['a connection dropped after the first audio', 'drop', /^elevenlabs closed the stream \(1006/],
    ['an error message', 'error', /^elevenlabs error: An internal server error occurred/],
  ])('%s is a retryable PROVIDER_FAILED', async (_what, how, message) => {
    const f = await fake();
    f.failNext(how);
    const err = await failure(samples(tts(f).synthesize('This does not arrive in full.')));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(message);
    // The next utterance works.
    expect(await samples(tts(f).synthesize('Fine now.'))).toBeGreaterThan(0);
  });

  it('an upgrade refused with 503 is retryable', async () => {
    const f = await fake();
    f.failNextUpgrade(503);
    const err = await failure(samples(tts(f).synthesize('hi')));
    expect([err.retryable, err.details?.['status']]).toEqual([true, 503]);
  });

  it('rejects output formats that are not PCM', () => {
    expect(() => new ElevenLabsTextToSpeech({ apiKey: 'k', voiceId: 'v', outputFormat: 'ulaw_8000' as 'pcm_8000' })).toThrow(RangeError);
  });
});
