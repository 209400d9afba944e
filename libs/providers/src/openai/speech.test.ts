import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { startFakeOpenAI } from '@switchboard/testing';
import type { FakeOpenAI, FakeOpenAIOptions } from '@switchboard/testing';
import { OpenAISpeechToText } from './stt.ts';
import { OpenAITextToSpeech } from './tts.ts';

const fakes: FakeOpenAI[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

async function fake(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const f = await startFakeOpenAI(opts);
  fakes.push(f);
  return f;
}

/** A server whose one route answers with `bytes`, written as pieces of the given sizes a few ms apart. */
async function pcmServer(bytes: Buffer, sizes: number[], seen: Array<{ url: string | undefined; body: unknown }> = []): Promise<string> {
  const server = createServer((req: IncomingMessage, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', async () => {
      seen.push({ url: req.url, body: JSON.parse(Buffer.concat(parts).toString('utf8')) });
      res.writeHead(200, { 'content-type': 'audio/pcm' });
      let offset = 0;
      for (let i = 0; offset < bytes.length; i++) {
        const size = sizes[i % sizes.length]!;
        res.write(bytes.subarray(offset, offset + size));
        offset += size;
        await sleep(2);
      }
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

async function samplesOf(chunks: AsyncIterable<Int16Array>): Promise<{ samples: Int16Array; chunks: number }> {
  const parts: Int16Array[] = [];
  for await (const c of chunks) parts.push(Int16Array.from(c));
  const samples = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    samples.set(p, o);
    o += p.length;
  }
  return { samples, chunks: parts.length };
}

async function failure(p: Promise<unknown>): Promise<SwitchboardError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected a failure');
}

/** A second of a 440 Hz tone at 16 kHz, the shape of one caller utterance. */
function utterance(sampleRate = 16000, seconds = 1): Int16Array {
  return Int16Array.from({ length: sampleRate * seconds }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / sampleRate)));
}

describe('OpenAISpeechToText', () => {
  it('posts the utterance as a multipart WAV and returns the scripted transcript, trimmed', async () => {
    const f = await fake({ transcripts: ['  I want to check my order.  ', 'second'] });
    const stt = new OpenAISpeechToText({ baseUrl: f.url, model: 'whisper-1', language: 'en' });
    const audio = utterance();

    expect(await stt.transcribe(audio, 16000)).toBe('I want to check my order.');
    expect(await stt.transcribe(audio.subarray(0, 8000), 16000)).toBe('second');
    // A WAV is a 44-byte header and two bytes per sample.
    expect(f.requests.stt).toEqual([
      { model: 'whisper-1', bytes: 44 + audio.length * 2, filename: 'utterance.wav' },
      { model: 'whisper-1', bytes: 44 + 8000 * 2, filename: 'utterance.wav' },
    ]);
    expect(f.counters).toMatchObject({ stt: 2, errors: 0 });
  });

  it('returns an empty string when the provider heard nothing', async () => {
    const f = await fake();
    const stt = new OpenAISpeechToText({ baseUrl: f.url, model: 'gpt-4o-mini-transcribe' });
    expect(await stt.transcribe(utterance(), 16000)).toBe('');
  });

  it.each([
    [500, true],
    [429, true],
    [400, false],
  ])('HTTP %i raises PROVIDER_FAILED with retryable %s', async (status, retryable) => {
    const f = await fake({ transcripts: ['unused'] });
    f.failNext('stt', { status });
    const stt = new OpenAISpeechToText({ baseUrl: f.url, model: 'whisper-1' });
    const err = await failure(stt.transcribe(utterance(), 16000));
    expect([err.code, err.retryable, err.details?.status]).toEqual([ErrorCodes.PROVIDER_FAILED, retryable, status]);
    expect(err.message).toContain(`/audio/transcriptions failed (HTTP ${status}`);
  });

  // Regression: a body cut off after the headers escaped as undici's raw `TypeError: terminated`.
  it('a response dropped mid-body raises a retryable PROVIDER_FAILED', async () => {
    const f = await fake({ transcripts: ['never delivered'] });
    f.failNext('stt', 'drop');
    const stt = new OpenAISpeechToText({ baseUrl: f.url, model: 'whisper-1' });
    const err = await failure(stt.transcribe(utterance(), 16000));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(/^transcription response broke \(/);
  });

  it('no response headers within timeoutMs raises PROVIDER_TIMEOUT', async () => {
    const f = await fake({ transcripts: ['late'], latency: { sttMs: 5000 } });
    const stt = new OpenAISpeechToText({ baseUrl: f.url, model: 'whisper-1', timeoutMs: 100 });
    const err = await failure(stt.transcribe(utterance(), 16000));
    expect([err.code, err.retryable, err.message]).toEqual([ErrorCodes.PROVIDER_TIMEOUT, true, '/audio/transcriptions did not answer within 100 ms']);
  });

  it("the caller's abort is passed through as an abort, not a provider failure", async () => {
    const f = await fake({ transcripts: ['late'], latency: { sttMs: 5000 } });
    const stt = new OpenAISpeechToText({ baseUrl: f.url, model: 'whisper-1' });
    const ctrl = new AbortController();
    const pending = stt.transcribe(utterance(), 16000, ctrl.signal);
    setTimeout(() => ctrl.abort(), 50);
    const err: unknown = await pending.catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(SwitchboardError);
    expect((err as Error).name).toBe('AbortError');
  });
});

describe('OpenAITextToSpeech', () => {
  it('yields 24 kHz PCM whose sample count matches the spoken duration', async () => {
    const msPerChar = 45;
    const f = await fake({ ttsMsPerChar: msPerChar });
    const tts = new OpenAITextToSpeech({ baseUrl: f.url, model: 'gpt-4o-mini-tts', voice: 'alloy' });
    const text = 'Your order A-1001 shipped yesterday and arrives on Friday.';
    const { samples, chunks } = await samplesOf(tts.synthesize(text));

    expect(tts.sampleRate).toBe(24000);
    expect(samples.length).toBe(Math.round((text.length * msPerChar * 24000) / 1000));
    expect(chunks).toBeGreaterThan(1);
    // Speech, not silence: the fake's voice is normalised to about -20 dBFS RMS.
    const rms = Math.sqrt(samples.reduce((s, v) => s + v * v, 0) / samples.length) / 32768;
    expect(rms).toBeGreaterThan(0.05);
    expect(f.requests.tts).toEqual([{ model: 'gpt-4o-mini-tts', voice: 'alloy', input: text, response_format: 'pcm' }]);
  });

  it.each<[string, number[]]>([
    ['one byte at a time', [1]],
    ['odd pieces', [3, 5, 1, 7]],
    ['odd then even pieces', [1, 2, 3, 4]],
    ['pieces that leave a byte over then fill it', [641, 639, 1, 1]],
  ])('decodes little-endian samples exactly when the body arrives in %s', async (_what, sizes) => {
    const expected = Int16Array.from({ length: 300 }, (_, i) => ((i * 7919) % 65536) - 32768);
    expected[0] = -1;
    expected[1] = 256;
    expected[2] = -32768;
    expected[3] = 32767;
    const bytes = Buffer.alloc(expected.length * 2);
    expected.forEach((v, i) => bytes.writeInt16LE(v, i * 2));
    const seen: Array<{ url: string | undefined; body: unknown }> = [];

    const tts = new OpenAITextToSpeech({ baseUrl: await pcmServer(bytes, sizes, seen), model: 'tts-1', voice: 'verse', extra: { speed: 1.25 } });
    const { samples } = await samplesOf(tts.synthesize('Hello.'));
    expect(Array.from(samples)).toEqual(Array.from(expected));
    expect(seen).toEqual([{ url: '/v1/audio/speech', body: { speed: 1.25, model: 'tts-1', voice: 'verse', input: 'Hello.', response_format: 'pcm' } }]);
  });

  it('drops a trailing odd byte rather than inventing a sample', async () => {
    const bytes = Buffer.from([0x01, 0x00, 0xff, 0xff, 0x7f]);
    const tts = new OpenAITextToSpeech({ baseUrl: await pcmServer(bytes, [3, 2]), model: 'tts-1', voice: 'alloy' });
    expect(Array.from((await samplesOf(tts.synthesize('x'))).samples)).toEqual([1, -1]);
  });

  // Regression: a stream cut off mid-way escaped as undici's raw `TypeError: terminated`.
  it('a stream dropped mid-way raises a retryable PROVIDER_FAILED', async () => {
    const f = await fake();
    f.failNext('tts', 'drop');
    const tts = new OpenAITextToSpeech({ baseUrl: f.url, model: 'gpt-4o-mini-tts', voice: 'alloy' });
    const err = await failure(samplesOf(tts.synthesize('A sentence long enough to be cut off mid-way.')));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(/^speech stream broke \(/);
  });

  it("the caller's abort mid-stream is passed through as an abort", async () => {
    const bytes = Buffer.alloc(24000 * 2);
    const tts = new OpenAITextToSpeech({ baseUrl: await pcmServer(bytes, [4800]), model: 'tts-1', voice: 'alloy' });
    const ctrl = new AbortController();
    let received = 0;
    const err: unknown = await (async () => {
      for await (const chunk of tts.synthesize('Hello.', ctrl.signal)) {
        received += chunk.length;
        ctrl.abort();
      }
    })().catch((e: unknown) => e);
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThan(24000);
    expect(err).not.toBeInstanceOf(SwitchboardError);
    expect((err as Error).name).toBe('AbortError');
  });

  it.each([
    [500, true],
    [400, false],
  ])('HTTP %i raises PROVIDER_FAILED with retryable %s before any audio', async (status, retryable) => {
    const f = await fake();
    f.failNext('tts', { status });
    const tts = new OpenAITextToSpeech({ baseUrl: f.url, model: 'gpt-4o-mini-tts', voice: 'alloy' });
    const err = await failure(samplesOf(tts.synthesize('Hello there.')));
    expect([err.code, err.retryable, err.details?.status]).toEqual([ErrorCodes.PROVIDER_FAILED, retryable, status]);
  });
});
