import { afterEach, describe, expect, it, test } from 'vitest';
import { startFakeOpenAI } from './server.ts';
import type { FakeOpenAI, FakeOpenAIOptions, ScriptRule } from './server.ts';
import { wavHeader } from './audio.ts';

const fakes: FakeOpenAI[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.close()));
});

async function start(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const fake = await startFakeOpenAI(opts);
  fakes.push(fake);
  return fake;
}

function post(fake: FakeOpenAI, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface Chunk {
  id: string;
  object: string;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: number; delta: Record<string, unknown>; finish_reason: string | null; logprobs: null }>;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null;
}

/** SSE framing by hand: events are separated by a blank line, each carries one `data: ` line. */
async function readSse(res: Response): Promise<{ raw: string; chunks: Chunk[]; done: boolean }> {
  const raw = await res.text();
  const events = raw.split('\n\n');
  expect(events.pop()).toBe(''); // the stream ends with a complete event
  const data = events.map((event) => {
    expect(event.startsWith('data: ')).toBe(true);
    return event.slice('data: '.length);
  });
  const done = data.at(-1) === '[DONE]';
  const chunks = data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Chunk);
  return { raw, chunks, done };
}

function choiceChunks(chunks: Chunk[]): Chunk['choices'] {
  return chunks.flatMap((c) => c.choices);
}

/** Reassembles streamed tool calls the way an adapter must: by index, concatenating argument fragments. */
function assembleToolCalls(chunks: Chunk[]): Array<{ id: string; name: string; arguments: string }> {
  const calls: Array<{ id: string; name: string; arguments: string }> = [];
  for (const choice of choiceChunks(chunks)) {
    const deltas = (choice.delta.tool_calls ?? []) as Array<{ index: number; id?: string; function?: { name?: string; arguments?: string } }>;
    for (const d of deltas) {
      const call = (calls[d.index] ??= { id: '', name: '', arguments: '' });
      if (d.id) call.id = d.id;
      if (d.function?.name) call.name = d.function.name;
      call.arguments += d.function?.arguments ?? '';
    }
  }
  return calls;
}

const user = (content: string) => ({ role: 'user', content });

describe('chat completions, streaming', () => {
  it('streams the scripted text as several content deltas framed like OpenAI, ending with [DONE]', async () => {
    const say = 'We are open from nine to five, Monday to Friday.';
    const fake = await start({ rules: [{ whenUser: 'hours', say }] });
    const res = await post(fake, '/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [user('What are your hours?')] });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { raw, chunks, done } = await readSse(res);
    expect(raw.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(done).toBe(true);
    for (const c of chunks) {
      expect(c).toMatchObject({ id: chunks[0]?.id, object: 'chat.completion.chunk', model: 'gpt-4o-mini' });
      expect(c.id).toMatch(/^chatcmpl-/);
      expect(c.system_fingerprint).toMatch(/^fp_/);
    }
    const choices = choiceChunks(chunks);
    expect(choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '', refusal: null }, logprobs: null, finish_reason: null });
    const contentDeltas = choices.filter((c) => typeof c.delta.content === 'string' && c.delta.content !== '');
    expect(contentDeltas.length).toBeGreaterThan(5);
    expect(contentDeltas.map((c) => c.delta.content).join('')).toBe(say);
    expect(choices.at(-1)).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    expect(fake.counters.chat).toBe(1);
    expect(fake.requests.chat).toHaveLength(1);
  });

  it('streams tool calls whose argument fragments reassemble into the scripted JSON', async () => {
    const args = { orderId: 'A-17', includeItems: true, note: 'fragile, "handle" with care' };
    const fake = await start({ rules: [{ whenUser: 'order', toolCalls: [{ name: 'lookup_order', arguments: args }, { name: 'notify', arguments: {} }] }] });
    const res = await post(fake, '/chat/completions', { model: 'gpt-4o-mini', stream: true, messages: [user('Where is my order?')] });

    const { chunks, done } = await readSse(res);
    expect(done).toBe(true);
    const choices = choiceChunks(chunks);
    expect(choices[0]?.delta).toEqual({ role: 'assistant', content: null, refusal: null });
    const starts = choices.flatMap((c) => (c.delta.tool_calls ?? []) as Array<Record<string, unknown>>).filter((d) => 'id' in d);
    expect(starts[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'lookup_order', arguments: '' } });
    const fragments = choices.flatMap((c) => (c.delta.tool_calls ?? []) as Array<Record<string, unknown>>).filter((d) => d.index === 0 && !('id' in d));
    expect(fragments.length).toBeGreaterThanOrEqual(2);
    expect(fragments.length).toBeLessThanOrEqual(3);
    for (const f of fragments) expect(Object.keys(f).sort()).toEqual(['function', 'index']);

    const calls = assembleToolCalls(chunks);
    expect(calls.map((c) => c.name)).toEqual(['lookup_order', 'notify']);
    expect(JSON.parse(calls[0]?.arguments ?? '')).toEqual(args);
    expect(JSON.parse(calls[1]?.arguments ?? '')).toEqual({});
    expect(calls[0]?.id).not.toBe(calls[1]?.id);
    expect(choices.at(-1)).toMatchObject({ delta: {}, finish_reason: 'tool_calls' });
  });

  it('sends text and then tool calls in one response when a rule has both', async () => {
    const fake = await start({ rules: [{ say: 'One moment, checking.', toolCalls: [{ name: 'check', arguments: { a: 1 } }] }] });
    const { chunks } = await readSse(await post(fake, '/chat/completions', { model: 'm', stream: true, messages: [user('hi')] }));
    const choices = choiceChunks(chunks);
    expect(choices[0]?.delta).toMatchObject({ role: 'assistant', content: '' });
    const firstTool = choices.findIndex((c) => c.delta.tool_calls !== undefined);
    const lastText = choices.findLastIndex((c) => typeof c.delta.content === 'string' && c.delta.content !== '');
    expect(lastText).toBeLessThan(firstTool);
    expect(choices.map((c) => c.delta.content ?? '').join('')).toBe('One moment, checking.');
    expect(assembleToolCalls(chunks)[0]).toMatchObject({ name: 'check', arguments: '{"a":1}' });
    expect(choices.at(-1)?.finish_reason).toBe('tool_calls');
  });

  it('adds a usage chunk with empty choices before [DONE] when stream_options.include_usage is set', async () => {
    const fake = await start({ fallbackReply: 'Hello there, how can I help?' });
    const res = await post(fake, '/chat/completions', {
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'system', content: 'Be brief.' }, user('hi')],
    });
    const { chunks, done } = await readSse(res);
    expect(done).toBe(true);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage?.prompt_tokens).toBeGreaterThan(0);
    expect(last?.usage?.completion_tokens).toBeGreaterThan(0);
    expect(last?.usage?.total_tokens).toBe((last?.usage?.prompt_tokens ?? 0) + (last?.usage?.completion_tokens ?? 0));
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
  });

  it('omits usage entirely without include_usage', async () => {
    const fake = await start();
    const { chunks } = await readSse(await post(fake, '/chat/completions', { model: 'm', stream: true, messages: [user('hi')] }));
    expect(chunks.every((c) => !('usage' in c) && c.choices.length === 1)).toBe(true);
  });

  it('waits chatTtftMs before the first chunk', async () => {
    const fake = await start({ latency: { chatTtftMs: 150 } });
    const t0 = performance.now();
    const res = await post(fake, '/chat/completions', { model: 'm', stream: true, messages: [user('hi')] });
    const reader = res.body!.getReader();
    await reader.read();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    await reader.cancel();
  });

  it('survives a client that aborts mid-stream and keeps serving', async () => {
    const fake = await start({ fallbackReply: 'a b c d e f g h', latency: { chatTokenMs: 50 } });
    const controller = new AbortController();
    const res = await fetch(`${fake.url}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', stream: true, messages: [user('hi')] }),
      signal: controller.signal,
    });
    await res.body!.getReader().read();
    controller.abort();
    fake.setLatency({});
    const again = await post(fake, '/chat/completions', { model: 'm', messages: [user('hi')] });
    expect(again.status).toBe(200);
  });
});

describe('chat completions, scripting', () => {
  const chat = async (fake: FakeOpenAI, messages: unknown[]): Promise<{ content: string | null; tool_calls?: unknown[] }> => {
    const res = await post(fake, '/chat/completions', { model: 'gpt-4o-mini', messages });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { object: string; choices: Array<{ message: { content: string | null; tool_calls?: unknown[] } }> };
    expect(body.object).toBe('chat.completion');
    return body.choices[0]!.message;
  };

  const rules: ScriptRule[] = [
    { whenUser: '/^book\\s+a\\s+table/', say: 'regex' },
    { whenUser: 'Opening HOURS', say: 'substring' },
  ];
  test.each([
    ['book a table for two', 'regex'],
    ['BOOK  A TABLE please', 'regex'],
    ['I want to book a table', 'Sorry, I did not catch that.'],
    ['what are your opening hours?', 'substring'],
    ['hello', 'Sorry, I did not catch that.'],
  ])('user %j gets %j', async (text, expected) => {
    const fake = await start({ rules });
    expect((await chat(fake, [user(text)])).content).toBe(expected);
  });

  it('renders {{tool}} and {{tool.path}} from the tool result after a tool call round trip', async () => {
    const fake = await start({
      rules: [
        { afterTool: 'lookup_order', say: 'Order {{tool.order.id}} is {{ tool.order.status }}, {{tool.items.1}}{{tool.nope.deeper}}. Raw: {{tool}}' },
        { whenUser: 'order', toolCalls: [{ name: 'lookup_order', arguments: { id: 'A-17' } }] },
      ],
    });
    const first = await chat(fake, [user('Where is my order?')]);
    expect(first.content).toBeNull();
    const call = first.tool_calls?.[0] as { id: string; type: string; function: { name: string; arguments: string } };
    expect(call.function).toEqual({ name: 'lookup_order', arguments: '{"id":"A-17"}' });

    const toolResult = JSON.stringify({ order: { id: 'A-17', status: 'shipped' }, items: ['mug', 'plate'] });
    const second = await chat(fake, [
      user('Where is my order?'),
      { role: 'assistant', content: null, tool_calls: [call] },
      { role: 'tool', tool_call_id: call.id, content: toolResult },
    ]);
    expect(second.content).toBe(`Order A-17 is shipped, plate. Raw: ${toolResult}`);
  });

  it('matches afterTool only for the tool the result answers', async () => {
    const fake = await start({ rules: [{ afterTool: 'other_tool', say: 'wrong' }, { afterTool: 'weather', say: 'right: {{tool.temp}}' }] });
    const message = await chat(fake, [
      user('weather?'),
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '{"temp":21}' }] },
    ]);
    expect(message.content).toBe('right: 21');
  });

  it('uses a rule at most `times` times, and setRules resets the count', async () => {
    const rule: ScriptRule = { whenUser: 'hi', say: 'first time', times: 1 };
    const fake = await start({ rules: [rule], fallbackReply: 'fallback' });
    expect((await chat(fake, [user('hi')])).content).toBe('first time');
    expect((await chat(fake, [user('hi')])).content).toBe('fallback');
    fake.setRules([rule]);
    expect((await chat(fake, [user('hi')])).content).toBe('first time');
    expect(fake.counters.chat).toBe(3);
  });

  it('rejects a bad regex when the rules are set', async () => {
    const fake = await start();
    expect(() => fake.setRules([{ whenUser: '/(unclosed/' }])).toThrow(SyntaxError);
  });
});

describe('failures and errors', () => {
  it('answers 401 with the OpenAI error body for a wrong or missing key', async () => {
    const fake = await start({ apiKey: 'sk-test-correct-key' });
    const body = { model: 'm', messages: [user('hi')] };

    const wrong = await post(fake, '/chat/completions', body, { authorization: 'Bearer sk-test-wrong-key' });
    expect(wrong.status).toBe(401);
    const error = ((await wrong.json()) as { error: Record<string, unknown> }).error;
    expect(error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key', param: null });
    expect(error.message).not.toContain('sk-test-wrong-key');

    const none = await post(fake, '/chat/completions', body);
    expect(none.status).toBe(401);

    const right = await post(fake, '/chat/completions', body, { authorization: 'Bearer sk-test-correct-key' });
    expect(right.status).toBe(200);
    expect(fake.counters).toMatchObject({ chat: 1, errors: 2 });
  });

  it('fails the next requests with the injected status, then recovers', async () => {
    const fake = await start();
    fake.failNext('chat', { status: 429 }, 2);
    const body = { model: 'm', messages: [user('hi')] };
    for (let i = 0; i < 2; i++) {
      const res = await post(fake, '/chat/completions', body);
      expect(res.status).toBe(429);
      expect(await res.json()).toEqual({ error: { message: expect.any(String), type: 'requests', param: null, code: 'rate_limit_exceeded' } });
    }
    expect((await post(fake, '/chat/completions', body)).status).toBe(200);
    expect(fake.counters).toMatchObject({ chat: 3, errors: 2 });
  });

  test.each([
    ['chat' as const, 500, '/chat/completions', { model: 'm', messages: [user('hi')] }],
    ['tts' as const, 503, '/audio/speech', { model: 'tts-1', input: 'hi', voice: 'alloy', response_format: 'pcm' }],
  ])('failNext(%s, %i) answers with an OpenAI server_error body', async (endpoint, status, path, body) => {
    const fake = await start();
    fake.failNext(endpoint, { status });
    const res = await post(fake, path, body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('server_error');
  });

  it("'drop' breaks a chat stream after its first chunk", async () => {
    const fake = await start();
    fake.failNext('chat', 'drop');
    const res = await post(fake, '/chat/completions', { model: 'm', stream: true, messages: [user('hi')] });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toMatch(/^data: \{"id":"chatcmpl-/);
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) break;
      })(),
    ).rejects.toThrow();
    expect(fake.counters.errors).toBe(1);
    // The next request is answered normally.
    const { done } = await readSse(await post(fake, '/chat/completions', { model: 'm', stream: true, messages: [user('hi')] }));
    expect(done).toBe(true);
  });

  test.each([
    ['chat', '/chat/completions', { model: 'm', messages: [user('hi')] }],
    ['stt', '/audio/transcriptions', null],
    ['tts', '/audio/speech', { model: 'tts-1', input: 'hello there', voice: 'alloy', response_format: 'pcm' }],
  ] as const)("'drop' on %s leaves the client with a truncated body", async (endpoint, path, body) => {
    const fake = await start({ transcripts: ['kept'] });
    fake.failNext(endpoint, 'drop');
    const res =
      body === null
        ? await fetch(`${fake.url}${path}`, { method: 'POST', body: audioForm() })
        : await post(fake, path, body);
    await expect(res.arrayBuffer()).rejects.toThrow();
    if (endpoint === 'stt') {
      // The dropped request did not consume the queued transcript.
      const ok = await fetch(`${fake.url}${path}`, { method: 'POST', body: audioForm() });
      expect(await ok.json()).toEqual({ text: 'kept' });
    }
  });

  test.each([
    ['no model', { messages: [user('hi')] }, null],
    ['model not a string', { model: 4, messages: [user('hi')] }, 'model'],
    ['messages missing', { model: 'm' }, 'messages'],
    ['messages not an array', { model: 'm', messages: 'hi' }, 'messages'],
    ['empty messages', { model: 'm', messages: [] }, 'messages'],
    ['unknown role', { model: 'm', messages: [{ role: 'robot', content: 'x' }] }, 'messages.[0].role'],
    ['tool result without a tool call', { model: 'm', messages: [user('hi'), { role: 'tool', tool_call_id: 'call_x', content: '{}' }] }, 'messages.[1].role'],
    [
      'tool call without its result',
      {
        model: 'm',
        messages: [user('hi'), { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '{}' } }] }],
      },
      'messages.[1].role',
    ],
  ])('chat rejects %s with 400', async (_name, body, param) => {
    const fake = await start();
    fake.failNext('chat', { status: 500 });
    const res = await post(fake, '/chat/completions', body);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: Record<string, unknown> };
    expect(error).toMatchObject({ type: 'invalid_request_error', param });
    expect(typeof error.message).toBe('string');
    expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
    // A bad request neither is recorded nor uses up the injected failure.
    expect(fake.requests.chat).toHaveLength(0);
    expect((await post(fake, '/chat/completions', { model: 'm', messages: [user('hi')] })).status).toBe(500);
  });

  it('rejects a body that is not JSON with 400', async () => {
    const fake = await start();
    const res = await post(fake, '/chat/completions', '{"model": "m", ');
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/could not parse the JSON body/);
  });

  it('answers 404 with an OpenAI error body for an unknown path or method', async () => {
    const fake = await start();
    const res = await post(fake, '/embeddings', { model: 'm', input: 'x' });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { message: 'Invalid URL (POST /v1/embeddings)', type: 'invalid_request_error', param: null, code: null } });
    expect((await fetch(`${fake.url}/chat/completions`)).status).toBe(404);
  });

  it('answers 500 when a handler throws and keeps serving', async () => {
    // BigInt makes JSON.stringify throw inside the chat handler.
    const fake = await start({ rules: [{ whenUser: 'boom', toolCalls: [{ name: 'f', arguments: { n: 1n } }] }] });
    const res = await post(fake, '/chat/completions', { model: 'm', messages: [user('boom')] });
    expect(res.status).toBe(500);
    const { error } = (await res.json()) as { error: { type: string; message: string } };
    expect(error.type).toBe('server_error');
    expect(error.message).not.toMatch(/BigInt/);
    expect((await post(fake, '/chat/completions', { model: 'm', messages: [user('fine')] })).status).toBe(200);
  });

  it('lists models', async () => {
    const fake = await start();
    const body = (await (await fetch(`${fake.url}/models`)).json()) as { object: string; data: Array<Record<string, unknown>> };
    expect(body.object).toBe('list');
    expect(body.data.length).toBeGreaterThan(0);
    for (const m of body.data) expect(m).toEqual({ id: expect.any(String), object: 'model', created: expect.any(Number), owned_by: expect.any(String) });
  });
});

/** A multipart body built by the platform FormData, as the production adapter builds it. */
function audioForm(fields: Record<string, string> = {}, file: Uint8Array | null = wavBytes(0.5), filename = 'turn.wav'): FormData {
  const form = new FormData();
  if (file) form.append('file', new Blob([new Uint8Array(file)], { type: 'audio/wav' }), filename);
  form.append('model', 'gpt-4o-mini-transcribe');
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  return form;
}

function wavBytes(seconds: number): Uint8Array {
  const data = Buffer.alloc(Math.round(seconds * 16_000) * 2, 1);
  return new Uint8Array(Buffer.concat([wavHeader(data.length, 16_000), data]));
}

describe('audio transcriptions', () => {
  it('round-trips a multipart upload and consumes the transcript queue', async () => {
    const fake = await start({ transcripts: ['I would like to book a table.'] });
    fake.pushTranscripts('Second turn.', 'Third turn.');
    const file = wavBytes(0.5);

    const first = await fetch(`${fake.url}/audio/transcriptions`, { method: 'POST', body: audioForm({ language: 'en' }, file, 'turn "1".wav') });
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ text: 'I would like to book a table.' });
    expect(fake.requests.stt[0]).toEqual({ model: 'gpt-4o-mini-transcribe', bytes: file.length, filename: 'turn "1".wav' });

    const second = await fetch(`${fake.url}/audio/transcriptions`, { method: 'POST', body: audioForm({ response_format: 'text' }) });
    expect(second.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await second.text()).toBe('Second turn.');

    const third = await fetch(`${fake.url}/audio/transcriptions`, { method: 'POST', body: audioForm({ response_format: 'verbose_json' }) });
    expect(await third.json()).toMatchObject({ task: 'transcribe', text: 'Third turn.', duration: 0.5 });

    const empty = await fetch(`${fake.url}/audio/transcriptions`, { method: 'POST', body: audioForm() });
    expect(await empty.json()).toEqual({ text: '' });
    expect(fake.counters.stt).toBe(4);
  });

  test.each([
    ['no file', () => audioForm({}, null)],
    ['an unsupported response_format', () => audioForm({ response_format: 'srt' })],
    ['a JSON body', () => JSON.stringify({ model: 'whisper-1' })],
    ['a broken multipart body', () => '--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1'],
  ])('rejects %s with 400', async (_name, makeBody) => {
    const fake = await start({ transcripts: ['unused'] });
    const body = makeBody();
    const headers: Record<string, string> =
      typeof body === 'string' ? { 'content-type': body.startsWith('--x') ? 'multipart/form-data; boundary=x' : 'application/json' } : {};
    const res = await fetch(`${fake.url}/audio/transcriptions`, { method: 'POST', body, headers });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect(fake.requests.stt).toHaveLength(0);
  });
});

describe('audio speech', () => {
  const input = 'Hello, how can I help you today?';

  it('streams 24 kHz PCM16 lasting chars x ttsMsPerChar in several chunks at about -20 dBFS', async () => {
    const fake = await start({ ttsMsPerChar: 50 });
    const res = await post(fake, '/audio/speech', { model: 'gpt-4o-mini-tts', input, voice: 'alloy', response_format: 'pcm' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('audio/pcm');
    expect(res.headers.get('transfer-encoding')).toBe('chunked');

    const reader = res.body!.getReader();
    const parts: Uint8Array[] = [];
    for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
    const pcm = Buffer.concat(parts);
    const expectedBytes = input.length * 50 * 24 * 2;
    expect(Math.abs(pcm.length - expectedBytes)).toBeLessThanOrEqual(2);
    expect(parts.length).toBeGreaterThan(1);

    let sumSquares = 0;
    for (let i = 0; i < pcm.length; i += 2) sumSquares += (pcm.readInt16LE(i) / 32768) ** 2;
    const dbfs = 20 * Math.log10(Math.sqrt(sumSquares / (pcm.length / 2)));
    expect(dbfs).toBeGreaterThan(-23);
    expect(dbfs).toBeLessThan(-17);
    expect(fake.counters.tts).toBe(1);
    expect(fake.requests.tts[0]).toMatchObject({ input, response_format: 'pcm' });
  });

  it('wraps the same audio in a WAV container', async () => {
    const fake = await start();
    const res = await post(fake, '/audio/speech', { model: 'tts-1', input, voice: 'alloy', response_format: 'wav' });
    expect(res.headers.get('content-type')).toBe('audio/wav');
    const wav = Buffer.from(await res.arrayBuffer());
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.toString('ascii', 8, 12)).toBe('WAVE');
    expect(wav.readUInt32LE(24)).toBe(24_000);
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.readUInt32LE(40)).toBe(wav.length - 44);
    expect(wav.length - 44).toBe(input.length * 45 * 24 * 2);
  });

  it('waits ttsTtfbMs before the first audio bytes', async () => {
    const fake = await start({ latency: { ttsTtfbMs: 120 } });
    const t0 = performance.now();
    const res = await post(fake, '/audio/speech', { model: 'tts-1', input: 'hi', voice: 'alloy', response_format: 'pcm' });
    await res.arrayBuffer();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(110);
  });

  test.each([
    ['missing input', { model: 'tts-1', voice: 'alloy', response_format: 'pcm' }, /input/],
    ['empty input', { model: 'tts-1', input: '', voice: 'alloy', response_format: 'pcm' }, /input/],
    ['absent response_format (mp3)', { model: 'tts-1', input: 'hi', voice: 'alloy' }, /only pcm and wav are supported by this fake/],
    ['opus', { model: 'tts-1', input: 'hi', voice: 'alloy', response_format: 'opus' }, /only pcm and wav are supported by this fake/],
    ['missing voice', { model: 'tts-1', input: 'hi', response_format: 'pcm' }, /voice/],
  ])('rejects %s with 400', async (_name, body, message) => {
    const fake = await start();
    const res = await post(fake, '/audio/speech', body);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { message: string; type: string } };
    expect(error.type).toBe('invalid_request_error');
    expect(error.message).toMatch(message);
    expect(fake.counters).toMatchObject({ tts: 1, errors: 1 });
  });
});
