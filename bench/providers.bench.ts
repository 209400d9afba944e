/**
 * Provider adapters against their fakes on 127.0.0.1 with no scripted latency: what the adapter and
 * the socket add on top of a provider's own time.
 *
 *   npx tsx bench/providers.bench.ts
 *
 * Deepgram: `finalize()` → the finalized result. ElevenLabs: `open()` (WebSocket handshake included)
 * → first PCM chunk. Anthropic: `stream()` → first text delta. OpenAI Realtime: function call event
 * → `sendFunctionResult` → first audio of the answer; and the cost of one 20 ms μ-law `sendAudio`.
 * espeak-ng: a short sentence to the last chunk (a real subprocess). No NATS or Redis.
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { AnthropicChatModel, DeepgramSpeechToText, ElevenLabsTextToSpeech, EspeakTextToSpeech, OpenAIRealtime } from '@switchboard/providers';
import type { SttTranscript } from '@switchboard/providers';
import { startFakeAnthropic, startFakeDeepgram, startFakeElevenLabs, startFakeRealtime } from '@switchboard/testing';
import type { FakeRealtimeTurn } from '@switchboard/testing';
import { recordResults, summarize } from './lib.ts';

/** Every loop is bounded by these counts and by RUN_TIMEOUT_MS. */
const DEEPGRAM_ROUNDS = 200;
const ELEVENLABS_ROUNDS = 100;
const ANTHROPIC_ROUNDS = 100;
const REALTIME_ROUNDS = 50;
const SEND_AUDIO_FRAMES = 20_000;
const ESPEAK_ROUNDS = 10;
const WARMUP = 10;
const RUN_TIMEOUT_MS = 90_000;

const round3 = (v: number) => Number(v.toFixed(3));

async function deepgram(): Promise<number[]> {
  const f = await startFakeDeepgram({ apiKey: 'k', utterances: Array.from({ length: DEEPGRAM_ROUNDS + WARMUP }, (_, i) => ({ text: `utterance ${i}`, afterAudioMs: 60_000 })) });
  const stream = await new DeepgramSpeechToText({ apiKey: 'k', baseUrl: f.url }).open({ sampleRate: 8000, encoding: 'mulaw' });
  let resolveNext: ((t: SttTranscript) => void) | undefined;
  stream.on('transcript', (t) => resolveNext?.(t));
  const out: number[] = [];
  for (let i = 0; i < DEEPGRAM_ROUNDS + WARMUP; i++) {
    stream.send(new Uint8Array(160).fill(0x7f));
    const got = new Promise<SttTranscript>((resolve) => (resolveNext = resolve));
    const t0 = performance.now();
    stream.finalize();
    await got;
    if (i >= WARMUP) out.push(performance.now() - t0);
  }
  await stream.close();
  await f.close();
  return out;
}

async function elevenlabs(): Promise<number[]> {
  const f = await startFakeElevenLabs({ apiKey: 'k' });
  const tts = new ElevenLabsTextToSpeech({ apiKey: 'k', voiceId: 'v', baseUrl: f.url });
  const out: number[] = [];
  for (let i = 0; i < ELEVENLABS_ROUNDS + WARMUP; i++) {
    const t0 = performance.now();
    const s = tts.open();
    s.push('Your order shipped yesterday.');
    s.end();
    for await (const _ of s) {
      if (i >= WARMUP) out.push(performance.now() - t0);
      break; // leaving the loop cancels the rest
    }
  }
  await f.close();
  return out;
}

async function anthropic(): Promise<number[]> {
  const f = await startFakeAnthropic({ apiKey: 'k', rules: [{ say: 'Your order shipped yesterday and arrives Friday.' }] });
  const model = new AnthropicChatModel({ apiKey: 'k', baseUrl: f.url, model: 'claude' });
  const out: number[] = [];
  for (let i = 0; i < ANTHROPIC_ROUNDS + WARMUP; i++) {
    const t0 = performance.now();
    let first = 0;
    for await (const ev of model.stream({ messages: [{ role: 'user', content: 'where is my order' }], tools: [] })) {
      if (ev.type === 'text' && !first) first = performance.now() - t0;
    }
    if (i >= WARMUP) out.push(first);
  }
  await f.close();
  return out;
}

async function realtime(): Promise<{ roundTrip: number[]; sendAudioUs: number }> {
  const turns: FakeRealtimeTurn[] = [];
  for (let i = 0; i < REALTIME_ROUNDS + WARMUP; i++) turns.push({ functionCall: { name: 'get_order', arguments: { orderId: `A-${i}` } } }, { say: 'Shipped.' });
  const f = await startFakeRealtime({ apiKey: 'k', turns, chunkDelayMs: 0 });
  const session = await new OpenAIRealtime({ apiKey: 'k', url: f.url }).connect({
    instructions: 'bench',
    tools: [{ name: 'get_order', description: 'Look up an order', parameters: { type: 'object' } }],
    inputFormat: 'pcmu',
    outputFormat: 'pcmu',
  });
  let t0 = 0;
  let firstAudio: (() => void) | undefined;
  session.on('functionCall', (c) => {
    t0 = performance.now();
    session.sendFunctionResult(c.callId, '{"status":"shipped"}');
  });
  session.on('audio', () => firstAudio?.());
  const roundTrip: number[] = [];
  let done = 0;
  session.on('responseDone', () => done++);
  for (let i = 0; i < REALTIME_ROUNDS + WARMUP; i++) {
    const heard = new Promise<void>((resolve) => (firstAudio = resolve));
    session.createResponse();
    await heard;
    firstAudio = undefined;
    if (i >= WARMUP) roundTrip.push(performance.now() - t0);
    // Both responses of the round (the function call and the answer) are done before the next.
    while (done < 2 * (i + 1)) await new Promise((resolve) => session.once('responseDone', resolve));
  }
  const frame = new Uint8Array(160).fill(0xff);
  const s0 = performance.now();
  for (let i = 0; i < SEND_AUDIO_FRAMES; i++) session.sendAudio(frame);
  const sendAudioUs = ((performance.now() - s0) * 1000) / SEND_AUDIO_FRAMES;
  await session.close();
  await f.close();
  return { roundTrip, sendAudioUs };
}

async function espeak(): Promise<number[]> {
  const tts = new EspeakTextToSpeech();
  const out: number[] = [];
  for (let i = 0; i < ESPEAK_ROUNDS; i++) {
    const t0 = performance.now();
    for await (const _ of tts.synthesize('Your order shipped yesterday and arrives on Friday.'));
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(): Promise<void> {
  const dg = summarize(await deepgram());
  const el = summarize(await elevenlabs());
  const an = summarize(await anthropic());
  const rt = await realtime();
  const rtSum = summarize(rt.roundTrip);
  const hasEspeak = EspeakTextToSpeech.locate() !== null;
  const es = hasEspeak ? summarize(await espeak()) : undefined;
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  recordResults([
    {
      name: 'providers',
      metrics: {
        deepgram_finalize_p50_ms: round3(dg.p50),
        deepgram_finalize_p99_ms: round3(dg.p99),
        elevenlabs_first_audio_p50_ms: round3(el.p50),
        elevenlabs_first_audio_p99_ms: round3(el.p99),
        anthropic_first_text_p50_ms: round3(an.p50),
        anthropic_first_text_p99_ms: round3(an.p99),
        realtime_tool_round_trip_p50_ms: round3(rtSum.p50),
        realtime_tool_round_trip_p99_ms: round3(rtSum.p99),
        realtime_send_audio_us: round3(rt.sendAudioUs),
        ...(es ? { espeak_sentence_p50_ms: round3(es.p50) } : {}),
      },
      target: {
        deepgram_finalize_p99_ms: '≤ 10',
        elevenlabs_first_audio_p99_ms: '≤ 30',
        anthropic_first_text_p99_ms: '≤ 30',
        realtime_tool_round_trip_p99_ms: '≤ 15',
        realtime_send_audio_us: '≤ 50',
      },
      notes:
        `Adapters against the libs/testing fakes on 127.0.0.1, no scripted latency, one client at a time ` +
        `(${DEEPGRAM_ROUNDS}/${ELEVENLABS_ROUNDS}/${ANTHROPIC_ROUNDS}/${REALTIME_ROUNDS} rounds after ${WARMUP} warm-up). ` +
        `ElevenLabs includes the WebSocket handshake (one socket per utterance). ` +
        `${hasEspeak ? `espeak: ${ESPEAK_ROUNDS} runs of a 51-character sentence. ` : 'espeak-ng not installed: skipped. '}Load average at the end: ${load}.`,
    },
  ]);
}

const watchdog = setTimeout(() => {
  console.error(`providers bench: gave up after ${RUN_TIMEOUT_MS} ms`);
  process.exit(1);
}, RUN_TIMEOUT_MS);
watchdog.unref();

main().catch((err: unknown) => {
  console.error(`providers bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
