import { afterEach, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer } from 'ws';
import { MULAW_SILENCE, mulawDecode, mulawEncode, rmsDbfs } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { startFakeRealtime, synthesizeSpeech } from '@switchboard/testing';
import type { FakeRealtime, FakeRealtimeOptions } from '@switchboard/testing';
import { OpenAIRealtime } from './realtime.ts';
import type { OpenAIRealtimeOptions } from './realtime.ts';
import type { LlmTool, ProviderClosed, S2sAudio, S2sFunctionCall, S2sSession, S2sTranscript } from '../types.ts';

const fakes: FakeRealtime[] = [];
const sessions: S2sSession[] = [];
const servers: WebSocketServer[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.close()));
  await Promise.all(fakes.splice(0).map((f) => f.close()));
  for (const s of servers.splice(0)) {
    for (const c of s.clients) c.terminate();
    s.close();
  }
});

async function fake(opts: FakeRealtimeOptions = {}): Promise<FakeRealtime> {
  const f = await startFakeRealtime({ apiKey: 'sk-rt', vadSilenceMs: 200, ...opts });
  fakes.push(f);
  return f;
}

const TOOLS: LlmTool[] = [{ name: 'get_order', description: 'Look up an order', parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } }];

async function connect(f: FakeRealtime | string, opts: Partial<OpenAIRealtimeOptions> = {}): Promise<S2sSession> {
  const s = await new OpenAIRealtime({ apiKey: 'sk-rt', url: typeof f === 'string' ? f : f.url, ...opts }).connect({
    instructions: 'You are the Acme phone agent.',
    tools: TOOLS,
    voice: 'cedar',
    inputFormat: 'pcmu',
    outputFormat: 'pcmu',
  });
  sessions.push(s);
  return s;
}

interface Recorded {
  audio: S2sAudio[];
  transcripts: S2sTranscript[];
  calls: S2sFunctionCall[];
  speechStarted: Array<{ audioStartMs: number; itemId: string }>;
  done: Array<{ responseId: string; status: string; usage?: { inputTokens: number; outputTokens: number } }>;
  errors: SwitchboardError[];
  closed: ProviderClosed[];
}

function record(s: S2sSession): Recorded {
  const r: Recorded = { audio: [], transcripts: [], calls: [], speechStarted: [], done: [], errors: [], closed: [] };
  s.on('audio', (a) => r.audio.push(a));
  s.on('transcript', (t) => r.transcripts.push(t));
  s.on('functionCall', (c) => r.calls.push(c));
  s.on('speechStarted', (e) => r.speechStarted.push(e));
  s.on('responseDone', (d) => r.done.push(d));
  s.on('error', (e) => r.errors.push(e));
  s.on('closed', (c) => r.closed.push(c));
  return r;
}

async function until(cond: () => boolean, what: string, timeoutMs = 4000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A caller utterance as the phone line carries it: μ-law 8 kHz, 20 ms frames, followed by silence. */
async function speak(s: S2sSession, text: string, silenceMs = 400): Promise<number> {
  const voice = mulawEncode(await synthesizeSpeech(text, { engine: 'synthetic', sampleRate: 8000 }));
  const all = new Uint8Array(voice.length + silenceMs * 8);
  all.set(voice);
  all.fill(MULAW_SILENCE, voice.length);
  for (let i = 0; i < all.length; i += 160) s.sendAudio(all.subarray(i, i + 160));
  return all.length;
}

const assistantFinal = (r: Recorded) => r.transcripts.filter((t) => t.role === 'assistant' && t.final).map((t) => t.text);

describe('OpenAIRealtime against the fake Realtime API', () => {
  it('connects with the model and a Bearer key and configures a μ-law session with tools', async () => {
    const f = await fake();
    await connect(f, { model: 'gpt-realtime' });
    const fs = f.sessions[0];
    expect([fs?.model, fs?.authorization]).toEqual(['gpt-realtime', 'Bearer sk-rt']);
    expect(fs?.events[0]).toMatchObject({
      type: 'session.update',
      session: {
        type: 'realtime',
        instructions: 'You are the Acme phone agent.',
        output_modalities: ['audio'],
        audio: {
          input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad', create_response: true, interrupt_response: true }, transcription: { model: 'gpt-4o-mini-transcribe' } },
          output: { format: { type: 'audio/pcmu' }, voice: 'cedar' },
        },
        tools: [{ type: 'function', name: 'get_order', description: 'Look up an order', parameters: TOOLS[0]?.parameters }],
        tool_choice: 'auto',
      },
    });
    expect(f.counters.sessionUpdates).toBe(1);
  });

  it('μ-law in, server VAD turn, μ-law reply with transcripts out', async () => {
    const f = await fake({ turns: [{ say: 'Your order shipped yesterday.' }], userTranscripts: ['Where is my order?'], msPerChar: 50 });
    const s = await connect(f);
    const r = record(s);
    const sent = await speak(s, 'Where is my order?');
    await until(() => r.done.length === 1, 'response.done');

    // The bytes went through untouched: the fake's VAD heard speech in them as μ-law.
    expect(f.sessions[0]?.audioBytes).toBe(sent);
    expect(r.speechStarted).toHaveLength(1);
    expect(r.transcripts.filter((t) => t.role === 'user')).toEqual([{ role: 'user', text: 'Where is my order?', final: true, itemId: r.speechStarted[0]?.itemId }]);
    const pcmu = Buffer.concat(r.audio.map((a) => a.pcmu));
    expect(pcmu.length).toBe(Math.round(('Your order shipped yesterday.'.length * 50 * 8000) / 1000));
    expect(rmsDbfs(mulawDecode(pcmu))).toBeGreaterThan(-30); // speech, decoded as μ-law
    expect(new Set(r.audio.map((a) => a.itemId)).size).toBe(1);
    const deltas = r.transcripts.filter((t) => t.role === 'assistant' && !t.final).map((t) => t.text);
    expect(deltas.join('')).toBe('Your order shipped yesterday.');
    expect(assistantFinal(r)).toEqual(['Your order shipped yesterday.']);
    expect(r.done).toEqual([{ responseId: r.audio[0]?.responseId, status: 'completed', usage: { inputTokens: 80, outputTokens: 40 } }]);
    expect(r.errors).toEqual([]);
  });

  it('function call round trip: functionCall, function_call_output, then one response.create after response.done', async () => {
    const f = await fake({ turns: [{ functionCall: { name: 'get_order', arguments: { orderId: 'A-1001' } } }, { say: 'Your order is {{output.status}}.' }] });
    const s = await connect(f);
    const r = record(s);
    // Answer as soon as the call arrives, before the response that made it is done.
    s.on('functionCall', (c) => s.sendFunctionResult(c.callId, JSON.stringify({ status: 'shipped' })));
    f.sessions[0]?.userTurn('where is my order');
    await until(() => assistantFinal(r).length === 1, 'the answer after the tool');

    expect(r.calls).toEqual([{ callId: expect.stringMatching(/^call_/), name: 'get_order', arguments: '{"orderId":"A-1001"}', itemId: expect.stringMatching(/^item_/) }]);
    expect(assistantFinal(r)).toEqual(['Your order is shipped.']);
    expect(f.sessions[0]?.functionOutputs).toEqual([{ call_id: r.calls[0]?.callId, output: '{"status":"shipped"}' }]);
    const types = f.sessions[0]?.events.map((e) => e.type);
    expect(types).toEqual(['session.update', 'conversation.item.create', 'response.create']);
    expect(f.sessions[0]?.events[1]).toMatchObject({ item: { type: 'function_call_output', call_id: r.calls[0]?.callId, output: '{"status":"shipped"}' } });
    expect(r.done.map((d) => d.status)).toEqual(['completed', 'completed']);
    expect([f.counters.errors, r.errors.length]).toEqual([0, 0]);
  });

  it('cancelResponse and truncate: the response ends cancelled and the heard audio is recorded', async () => {
    const f = await fake({ turns: [{ say: 'A long explanation of the refund policy that the caller does not want to hear in full.' }], chunkDelayMs: 20, chunkMs: 100 });
    const s = await connect(f);
    const r = record(s);
    s.createResponse({ instructions: 'Greet the caller.' });
    await until(() => r.audio.length >= 3, 'some audio');
    s.cancelResponse();
    await until(() => r.done.length === 1, 'response.done');
    expect(r.done[0]?.status).toBe('cancelled');
    const itemId = r.audio[0]?.itemId ?? '';
    s.truncate(itemId, 250.4);
    await until(() => (f.sessions[0]?.truncates.length ?? 0) === 1, 'truncate at the fake');
    expect(f.sessions[0]?.truncates).toEqual([{ item_id: itemId, content_index: 0, audio_end_ms: 250 }]);
    expect(f.sessions[0]?.events.find((e) => e.type === 'response.create')).toMatchObject({ response: { instructions: 'Greet the caller.' } });
    // Cancelling again with nothing in progress sends nothing (the API would answer with an error).
    s.cancelResponse();
    await sleep(30);
    expect(f.sessions[0]?.events.filter((e) => e.type === 'response.cancel')).toHaveLength(1);
    expect([f.counters.errors, r.errors.length]).toEqual([0, 0]);
  });

  it('barge-in: caller speech during a reply raises speechStarted and the server cancels the reply', async () => {
    const f = await fake({ turns: [{ say: 'Let me read you all forty terms and conditions, starting with the first one.' }], chunkDelayMs: 25 });
    const s = await connect(f);
    const r = record(s);
    s.createResponse();
    await until(() => r.audio.length >= 2, 'some audio');
    await speak(s, 'Stop, stop.', 0);
    await until(() => r.done.length === 1, 'response.done');
    expect(r.speechStarted).toHaveLength(1);
    expect(r.done[0]?.status).toBe('cancelled');
    expect(f.sessions[0]?.responses).toEqual(['cancelled']);
  });

  it('updateInstructions and clearOutputAudio reach the server', async () => {
    const f = await fake();
    const s = await connect(f);
    s.updateInstructions?.('Now speak Spanish.');
    (s as S2sSession & { clearOutputAudio(): void }).clearOutputAudio();
    await until(() => f.counters.outputClears === 1 && f.counters.sessionUpdates === 2, 'events at the fake');
    expect(f.sessions[0]?.session['instructions']).toBe('Now speak Spanish.');
  });

  it('a server error event is a non-retryable error and the session stays open', async () => {
    const f = await fake({ turns: [{ say: 'still here' }] });
    const s = await connect(f);
    const r = record(s);
    f.sessions[0]?.send({ type: 'error', error: { type: 'invalid_request_error', code: 'invalid_value', message: 'Something was off.', event_id: 'evt_1' } });
    await until(() => r.errors.length === 1, 'error event');
    expect([r.errors[0]?.code, r.errors[0]?.retryable, r.errors[0]?.message]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 'openai-realtime error: invalid_value: Something was off.']);
    s.createResponse();
    await until(() => assistantFinal(r).length === 1, 'a response after the error');
    expect(r.closed).toEqual([]);
  });

  it('an injected failed response surfaces as an error and responseDone failed', async () => {
    const f = await fake();
    f.failNext('error-event');
    const s = await connect(f);
    const r = record(s);
    s.createResponse();
    await until(() => r.done.length === 1, 'response.done');
    expect(r.done[0]?.status).toBe('failed');
    expect(r.errors[0]?.message).toMatch(/^openai-realtime error: server_error: The server had an error/);
  });

  it('a socket dropped mid-response is a retryable PROVIDER_FAILED, then closed', async () => {
    const f = await fake();
    f.failNext('drop');
    const s = await connect(f);
    const r = record(s);
    s.createResponse();
    await until(() => r.closed.length === 1, 'closed');
    expect(r.closed[0]).toMatchObject({ code: 1006, byClient: false });
    expect(r.errors.map((e) => [e.code, e.retryable])).toEqual([[ErrorCodes.PROVIDER_FAILED, true]]);
    s.sendAudio(new Uint8Array(160)); // dropped, not thrown
  });

  it('close() is a client close without an error', async () => {
    const f = await fake();
    const s = await connect(f);
    const r = record(s);
    await s.close();
    expect(r.closed).toEqual([{ code: 1000, reason: '', byClient: true }]);
    expect(r.errors).toEqual([]);
  });

  it('a wrong key is refused on the upgrade: PROVIDER_FAILED 401, not retryable', async () => {
    const f = await fake();
    const err = (await connect(f, { apiKey: 'sk-wrong-1234' }).catch((e: unknown) => e)) as SwitchboardError;
    expect(err).toBeInstanceOf(SwitchboardError);
    expect([err.code, err.retryable, err.details?.['status']]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 401]);
    expect(err.message).toContain('Incorrect API key provided: sk-***1234');
  });

  it('a server that never configures the session is PROVIDER_TIMEOUT', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    servers.push(wss);
    await new Promise((resolve) => wss.once('listening', resolve));
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/v1/realtime`;
    const err = (await connect(url, { connectTimeoutMs: 150 }).catch((e: unknown) => e)) as SwitchboardError;
    expect([err.code, err.message]).toEqual([ErrorCodes.PROVIDER_TIMEOUT, expect.stringMatching(/^openai-realtime session not configured within \d+ ms$/)]);
  });

  // Regression: listeners were attached after `await connect`, so a session.created that arrived in the
  // same packet as the 101 response was parsed before anyone listened, and connect hung until timeout.
  it('session.created in the same packet as the upgrade response is not lost', async () => {
    const frame = (obj: unknown): Buffer => {
      const payload = Buffer.from(JSON.stringify(obj));
      return Buffer.concat([Buffer.from([0x81, 126, payload.length >> 8, payload.length & 0xff]), payload]);
    };
    const server = createServer();
    server.on('upgrade', (req, socket) => {
      const accept = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      const head = `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`;
      socket.write(Buffer.concat([Buffer.from(head), frame({ type: 'session.created', session: { id: 'sess_1' } })]));
      // Whatever the client sends first is its session.update.
      socket.once('data', () => socket.write(frame({ type: 'session.updated', session: { id: 'sess_1' } })));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const s = await connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/realtime`, { connectTimeoutMs: 1000 });
      expect(s).toBeDefined();
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('rejects formats other than pcmu', async () => {
    const rt = new OpenAIRealtime({ apiKey: 'k' });
    await expect(rt.connect({ instructions: '', tools: [], inputFormat: 'pcm16' as 'pcmu', outputFormat: 'pcmu' })).rejects.toThrow(RangeError);
  });
});
