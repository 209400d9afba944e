// The demo call: starts the whole stack as real processes, places one call through the Twilio Media
// Streams protocol with a simulated caller, prints the conversation turn by turn and writes the
// call's audio to a WAV file. Run through `npm run demo`, which does the set-up first.
import { writeFileSync, mkdirSync } from 'node:fs';
import { pino } from 'pino';
import { encodeWav } from '@switchboard/audio';
import { Bus } from '@switchboard/bus';
import { contracts, type CallEnded, type CallSummarized, type TranscriptAppended } from '@switchboard/contracts';
import { findEspeak, placeTwilioCall, startStack, synthesizeSpeech, TwilioStreamCaller } from '@switchboard/testing';

const natsUrl = process.env.NATS_URL!;
const redisUrl = process.env.REDIS_URL!;
const realModel = Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);
console.log(
  realModel
    ? `demo: using the model server at ${process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1'}`
    : 'demo: no OPENAI_API_KEY or OPENAI_BASE_URL set: using the bundled scripted model server (fake OpenAI-compatible API)',
);

const stack = await startStack({
  natsUrl,
  redisUrl,
  ...(realModel ? { openaiBaseUrl: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1', ...(process.env.OPENAI_API_KEY ? { openaiApiKey: process.env.OPENAI_API_KEY } : {}) } : { fakeOpenAIScript: 'config/demo/model-script.json' }),
  logLevel: 'warn',
  // Without espeak-ng the caller's voice is a synthetic buzz that Silero does not take for speech.
  ...(findEspeak() ? {} : { env: { VAD: 'energy' } }),
});
const bus = await Bus.connect({ url: natsUrl, name: 'demo', log: pino({ level: 'silent' }) });
const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
let callId = '';
let ended: CallEnded | undefined;
bus.subscribe(contracts.transcriptAppended, (t: TranscriptAppended) => {
  if (t.callId !== callId) return;
  if (t.role === 'tool' && t.tool) {
    console.log(`${stamp()}  tool    ${t.tool.server}.${t.tool.name}(${JSON.stringify(t.tool.arguments)}) -> ${t.tool.isError ? 'ERROR ' : ''}${t.tool.result.slice(0, 160)}  [${t.tool.latencyMs} ms]`);
  } else {
    console.log(`${stamp()}  ${t.role.padEnd(6)}  ${t.text}${t.responseMs !== undefined ? `  [responded in ${t.responseMs} ms]` : ''}`);
  }
});
bus.subscribe(contracts.callEnded, (e) => {
  if (e.callId === callId) ended = e;
});
let summary: CallSummarized | undefined;
bus.subscribe(contracts.callSummarized, (s) => {
  if (s.callId === callId) summary = s;
});

let exitCode = 0;
try {
  console.log(`demo: stack up — gateway ${stack.urls['media-gateway']}, tool server ${stack.urls['mcp-tool-server']}/mcp, orders MCP ${stack.urls['orders-mcp-server']}`);
  const placed = await placeTwilioCall(stack.urls['media-gateway'], { From: '+15557654321', To: '+15550001234' });
  if (!placed.streamUrl) throw new Error(`the gateway did not connect a stream:\n${placed.twiml}`);
  callId = placed.parameters.callId ?? '';
  console.log(`demo: call ${callId} from +15557654321 to +15550001234 (agent ${placed.parameters.agentId})`);
  const caller = await TwilioStreamCaller.connect({ url: placed.streamUrl, customParameters: placed.parameters });
  const timeline: Array<{ at: number; samples: Int16Array }> = [];
  const speak = async (text: string) => {
    const audio = await synthesizeSpeech(text, { engine: 'auto' });
    timeline.push({ at: caller.now(), samples: audio });
    await caller.say(audio);
  };
  await caller.waitForAgentAudio(500, 20_000);
  await caller.waitForSilence(800, 30_000);
  await speak("Hi, I'd like to know where my order ORD-1001 is.");
  await caller.waitForAgentAudio(500, 30_000);
  await caller.waitForSilence(800, 60_000);
  await speak("That's all, thank you. Goodbye!");
  await caller.waitForClose(60_000).catch(async () => {
    console.log('demo: the agent did not hang up; hanging up from the caller side');
    await caller.hangup();
  });
  for (let i = 0; i < 50 && !summary; i++) await new Promise((r) => setTimeout(r, 100));
  console.log(`demo: call ended (${ended?.reason ?? 'unknown'}) after ${((ended?.durationMs ?? 0) / 1000).toFixed(1)} s; caller heard ${(caller.heardMs() / 1000).toFixed(1)} s of agent audio; protocol violations: ${caller.violations.length}`);

  if (summary) console.log(`demo: summary: ${summary.summary}`);

  // One mono timeline: the agent's audio where the caller heard it, the caller's where it was said.
  const end = Math.max(...caller.segments.map((s) => (s.endedAt ?? s.startedAt) + 0), ...timeline.map((t) => t.at + (t.samples.length / 8)));
  const mix = new Int16Array(Math.ceil((end / 1000) * 8000) + 8000);
  const place = (atMs: number, samples: Int16Array) => {
    const off = Math.floor((atMs / 1000) * 8000);
    for (let i = 0; i < samples.length && off + i < mix.length; i++) mix[off + i] = Math.max(-32768, Math.min(32767, mix[off + i]! + samples[i]!));
  };
  let heardOffset = 0;
  const heard = caller.heardAudio();
  for (const seg of caller.segments) {
    place(seg.startedAt, heard.subarray(heardOffset, heardOffset + seg.samples));
    heardOffset += seg.samples;
  }
  for (const t of timeline) place(t.at, t.samples);
  mkdirSync('demo-output', { recursive: true });
  const file = `demo-output/${callId}.wav`;
  writeFileSync(file, encodeWav(mix, 8000));
  console.log(`demo: wrote the call's audio (both sides, 8 kHz) to ${file}`);
  if (ended?.reason !== 'agent-hangup') exitCode = 1;
} catch (err) {
  console.error(`demo failed: ${(err as Error).message}`);
  console.error(stack.logs().split('\n').slice(-60).join('\n'));
  exitCode = 1;
} finally {
  await bus.close();
  await stack.stop();
}
process.exit(exitCode);
