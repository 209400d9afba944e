import { afterEach, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { startFakeAnthropic } from './anthropic/server.ts';
import { startFakeDeepgram } from './deepgram/server.ts';
import { startFakeElevenLabs } from './elevenlabs/server.ts';
import { startFakeRealtime } from './openai-realtime/server.ts';

// The adapters in libs/providers test the happy paths through these fakes; this file covers the
// protocol checks a correct adapter never trips, with raw clients.

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()));
});

interface Watched {
  messages: Array<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * Opens a raw socket; resolves with the socket (listeners attached before the first message can
 * arrive) or with the refused status and body.
 */
function open(url: string, headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; w?: Watched; status?: number; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    const messages: Array<Record<string, unknown>> = [];
    ws.on('message', (d) => messages.push(JSON.parse(d.toString()) as Record<string, unknown>));
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('open', () => resolve({ ws, w: { messages, closed } }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('error', () => undefined);
    closers.push(async () => ws.terminate());
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('fake Deepgram', () => {
  it.each<[string, string, Record<string, string>, number, string]>([
    ['no encoding', '/v1/listen?sample_rate=8000', { authorization: 'Token k' }, 400, 'The fake only accepts raw audio: set encoding and sample_rate'],
    ['no sample_rate', '/v1/listen?encoding=mulaw', { authorization: 'Token k' }, 400, 'sample_rate is required when encoding is set'],
    ['a wrong path', '/v1/speak?encoding=mulaw&sample_rate=8000', { authorization: 'Token k' }, 404, 'No such route: /v1/speak'],
    ['no key', '/v1/listen?encoding=mulaw&sample_rate=8000', {}, 401, 'Invalid credentials.'],
  ])('refuses %s with Deepgram\'s error body', async (_what, path, headers, status, message) => {
    const f = await startFakeDeepgram({ apiKey: 'k' });
    closers.push(f.close);
    const r = await open(f.url.replace('/v1', '') + path, headers);
    expect(r.status).toBe(status);
    expect(JSON.parse(r.body ?? '{}')).toMatchObject({ err_msg: message });
  });

  it('accepts a Bearer token too', async () => {
    const f = await startFakeDeepgram({ apiKey: 'k' });
    closers.push(f.close);
    expect((await open(`${f.url}/listen?encoding=linear16&sample_rate=16000`, { authorization: 'Bearer k' })).ws).toBeDefined();
  });
});

describe('fake ElevenLabs', () => {
  const path = '/text-to-speech/v/stream-input?output_format=pcm_16000';

  it('closes with 1008 when the first message is not the init message', async () => {
    const f = await startFakeElevenLabs();
    closers.push(f.close);
    const { ws, w } = await open(f.url + path);
    ws!.send(JSON.stringify({ text: 'Hello ' }));
    expect((await w!.closed).code).toBe(1008);
  });

  it('takes the key from the init message when there is no header, and refuses a missing one', async () => {
    const f = await startFakeElevenLabs({ apiKey: 'xi' });
    closers.push(f.close);
    const good = await open(f.url + path);
    const wg = good.w!;
    good.ws!.send(JSON.stringify({ text: ' ', xi_api_key: 'xi' }));
    good.ws!.send(JSON.stringify({ text: 'Hi.' }));
    good.ws!.send(JSON.stringify({ text: '' }));
    expect((await wg.closed).code).toBe(1000);
    expect(wg.messages.at(-1)).toEqual({ isFinal: true });

    const bad = await open(f.url + path);
    const wb = bad.w!;
    bad.ws!.send(JSON.stringify({ text: ' ' }));
    expect(await wb.closed).toEqual({ code: 1008, reason: 'Invalid API key' });
  });

  it('closes an idle socket with 1008 after the inactivity timeout', async () => {
    const f = await startFakeElevenLabs({ inactivityTimeoutMs: 80 });
    closers.push(f.close);
    const { ws, w } = await open(f.url + path);
    ws!.send(JSON.stringify({ text: ' ' }));
    expect((await w!.closed).code).toBe(1008);
  });

  it('refuses non-PCM output formats on the upgrade', async () => {
    const f = await startFakeElevenLabs();
    closers.push(f.close);
    expect((await open(`${f.url}/text-to-speech/v/stream-input?output_format=mp3_44100_128`)).status).toBe(400);
  });
});

describe('fake Anthropic', () => {
  const post = (url: string, body: unknown, headers: Record<string, string> = { 'x-api-key': 'k', 'anthropic-version': '2023-06-01' }) =>
    fetch(`${url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const base = { model: 'm', max_tokens: 10, stream: true };

  it.each<[string, unknown, Record<string, string> | undefined, number, string]>([
    ['a missing anthropic-version', { ...base, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': 'k' }, 400, 'anthropic-version: header is required'],
    ['a wrong key', { ...base, messages: [{ role: 'user', content: 'hi' }] }, { 'x-api-key': 'nope', 'anthropic-version': '2023-06-01' }, 401, 'invalid x-api-key'],
    ['no max_tokens', { model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }, undefined, 400, 'max_tokens: Field required'],
    ['an assistant turn first', { ...base, messages: [{ role: 'assistant', content: 'hi' }] }, undefined, 400, 'messages: first message must use the "user" role'],
    ['two user turns in a row', { ...base, messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }, undefined, 400, 'roles must alternate'],
    ['an empty text block', { ...base, messages: [{ role: 'user', content: [{ type: 'text', text: '' }] }] }, undefined, 400, 'text content blocks must be non-empty'],
    [
      'a tool_use without its tool_result',
      { ...base, messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'f', input: {} }] }, { role: 'user', content: 'b' }] },
      undefined,
      400,
      '`tool_use` ids were found without `tool_result` blocks immediately after: t1',
    ],
  ])('refuses %s the way the API does', async (_what, body, headers, status, message) => {
    const f = await startFakeAnthropic({ apiKey: 'k' });
    closers.push(f.close);
    const res = await post(f.url, body, headers);
    expect(res.status).toBe(status);
    const j = (await res.json()) as { type: string; error: { message: string } };
    expect(j.type).toBe('error');
    expect(j.error.message).toContain(message);
    expect(f.counters.messages).toBe(0);
  });
});

describe('fake OpenAI Realtime', () => {
  async function session(opts: Parameters<typeof startFakeRealtime>[0] = {}) {
    const f = await startFakeRealtime(opts);
    closers.push(f.close);
    const { ws, w } = await open(`${f.url}?model=gpt-realtime`);
    await until(() => w!.messages.length > 0, 'session.created');
    const send = (e: Record<string, unknown>) => ws!.send(JSON.stringify(e));
    const errors = () => w!.messages.filter((m) => m['type'] === 'error').map((m) => (m['error'] as { code: string }).code);
    return { f, w: w!, send, errors };
  }

  it('starts with session.created and refuses a missing model', async () => {
    const { w, f } = await session();
    expect(w.messages[0]).toMatchObject({ type: 'session.created', session: { type: 'realtime', model: 'gpt-realtime' } });
    expect((await open(f.url)).status).toBe(400);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['response.cancel with nothing in progress', { type: 'response.cancel' }, 'response_cancel_not_active'],
    ['a truncate of an unknown item', { type: 'conversation.item.truncate', item_id: 'item_x', content_index: 0, audio_end_ms: 10 }, 'item_not_found'],
    ['an output for an unknown call', { type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'call_x', output: '{}' } }, 'invalid_value'],
    ['an unknown event type', { type: 'response.explode' }, 'invalid_value'],
    ['a session.update with an unknown format', { type: 'session.update', session: { type: 'realtime', audio: { input: { format: { type: 'audio/opus' } } } } }, 'invalid_value'],
    ['a session.update without session.type', { type: 'session.update', session: { instructions: 'x' } }, 'missing_required_parameter'],
  ])('answers %s with an error event', async (_what, event, code) => {
    const { send, errors } = await session();
    send(event);
    await until(() => errors().length > 0, 'error event');
    expect(errors()).toEqual([code]);
  });

  it('refuses a truncate beyond the audio of the item and a second response while one runs', async () => {
    const { send, w, errors } = await session({ turns: [{ say: 'Hi.' }, { say: 'A much longer second reply that takes a while to send.' }], chunkDelayMs: 20 });
    send({ type: 'response.create' });
    await until(() => w.messages.some((m) => m['type'] === 'response.done'), 'first response');
    const itemId = (w.messages.find((m) => m['type'] === 'response.output_audio.delta') as { item_id: string }).item_id;
    send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: 60_000 });
    send({ type: 'response.create' });
    send({ type: 'response.create' });
    await until(() => errors().length === 2, 'two errors');
    expect(errors()).toEqual(['invalid_value', 'conversation_already_has_active_response']);
  });
});
