import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { freePort, startFakeOpenAI } from '@switchboard/testing';
import type { FakeOpenAI, FakeOpenAIOptions } from '@switchboard/testing';
import { OpenAIChatModel } from './llm.ts';
import type { ChatMessage, LlmEvent, LlmTool } from '../types.ts';

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

/** A raw SSE server that writes `pieces` as separate socket writes, a few ms apart. */
async function sseServer(pieces: string[]): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const p of pieces) {
        res.write(p);
        await sleep(3);
      }
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
}

async function collect(events: AsyncIterable<LlmEvent>): Promise<LlmEvent[]> {
  const out: LlmEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

async function streamFailure(events: AsyncIterable<LlmEvent>): Promise<SwitchboardError> {
  try {
    await collect(events);
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected the stream to fail');
}

const texts = (events: LlmEvent[]) => events.flatMap((e) => (e.type === 'text' ? [e.delta] : []));
const user = (content: string): ChatMessage[] => [
  { role: 'system', content: 'You are a phone agent.' },
  { role: 'user', content },
];

const TOOLS: LlmTool[] = [
  { name: 'get_order', description: 'Look up an order', parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } },
  { name: 'lookup_customer', description: 'Find a customer', parameters: { type: 'object', properties: { phone: { type: 'string' } } } },
];

describe('OpenAIChatModel against the fake OpenAI server', () => {
  it('streams text deltas, then done with usage', async () => {
    const f = await fake({ rules: [{ whenUser: 'hello', say: 'Hello! How can I help you with your order today?' }] });
    const model = new OpenAIChatModel({ baseUrl: f.url, model: 'gpt-4o-mini', temperature: 0.3 });
    const events = await collect(model.stream({ messages: user('hello there'), tools: [] }));

    expect(texts(events).join('')).toBe('Hello! How can I help you with your order today?');
    expect(texts(events).length).toBeGreaterThan(5);
    expect(events.some((e) => e.type === 'tool-calls')).toBe(false);
    const done = events.at(-1);
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(done?.type === 'done' && done.usage && done.usage.promptTokens > 0 && done.usage.completionTokens > 0).toBe(true);

    expect(f.requests.chat).toEqual([
      { model: 'gpt-4o-mini', messages: user('hello there'), stream: true, stream_options: { include_usage: true }, temperature: 0.3 },
    ]);
  });

  it('assembles streamed tool calls by index, after the text', async () => {
    const f = await fake({
      rules: [
        {
          whenUser: 'order',
          say: 'Let me check.',
          toolCalls: [
            { name: 'get_order', arguments: { orderId: 'A-1001', verbose: true, note: 'needs "quotes" and, commas' } },
            { name: 'lookup_customer', arguments: { phone: '+15550001111' } },
          ],
        },
      ],
    });
    const model = new OpenAIChatModel({ baseUrl: f.url, model: 'gpt-4o-mini' });
    const events = await collect(model.stream({ messages: user('where is my order?'), tools: TOOLS }));

    expect(texts(events).join('')).toBe('Let me check.');
    expect(events.map((e) => e.type).slice(-2)).toEqual(['tool-calls', 'done']);
    const toolEvent = events.find((e) => e.type === 'tool-calls');
    const calls = toolEvent?.type === 'tool-calls' ? toolEvent.calls : [];
    expect(calls.map((c) => [c.type, c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['function', 'get_order', { orderId: 'A-1001', verbose: true, note: 'needs "quotes" and, commas' }],
      ['function', 'lookup_customer', { phone: '+15550001111' }],
    ]);
    for (const c of calls) expect(c.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });

    expect(f.requests.chat[0]).toMatchObject({
      tool_choice: 'auto',
      tools: TOOLS.map((t) => ({ type: 'function', function: { name: t.name, description: t.description, parameters: t.parameters } })),
    });
  });

  it('a follow-up carrying the tool results is accepted and answered', async () => {
    const f = await fake({
      rules: [
        { afterTool: 'get_order', say: 'Your order is {{tool.status}}.' },
        { whenUser: 'order', toolCalls: [{ name: 'get_order', arguments: { orderId: 'A-1' } }] },
      ],
    });
    const model = new OpenAIChatModel({ baseUrl: f.url, model: 'gpt-4o-mini' });
    const first = await collect(model.stream({ messages: user('my order?'), tools: TOOLS }));
    const toolEvent = first.find((e) => e.type === 'tool-calls');
    if (toolEvent?.type !== 'tool-calls') throw new Error('expected tool calls');
    expect(texts(first)).toEqual([]);

    const messages: ChatMessage[] = [
      ...user('my order?'),
      { role: 'assistant', content: null, tool_calls: toolEvent.calls },
      ...toolEvent.calls.map((c): ChatMessage => ({ role: 'tool', tool_call_id: c.id, content: '{"status":"shipped"}' })),
    ];
    const second = await collect(model.stream({ messages, tools: TOOLS }));
    expect(texts(second).join('')).toBe('Your order is shipped.');
    expect(f.counters.errors).toBe(0);
  });

  it('sends the API key as a bearer token', async () => {
    const f = await fake({ apiKey: 'sk-test-123', rules: [{ say: 'ok' }] });
    const good = new OpenAIChatModel({ baseUrl: f.url, apiKey: 'sk-test-123', model: 'gpt-4o-mini' });
    expect(texts(await collect(good.stream({ messages: user('hi'), tools: [] }))).join('')).toBe('ok');

    const bad = new OpenAIChatModel({ baseUrl: f.url, apiKey: 'sk-wrong-456', model: 'gpt-4o-mini' });
    const err = await streamFailure(bad.stream({ messages: user('hi'), tools: [] }));
    expect([err.code, err.retryable, err.details?.status]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 401]);
    expect(err.message).toContain('Incorrect API key provided');
  });

  it.each([
    [500, true],
    [502, true],
    [503, true],
    [429, true],
    [408, true],
    [400, false],
    [404, false],
  ])('HTTP %i raises PROVIDER_FAILED with retryable %s', async (status, retryable) => {
    const f = await fake({ rules: [{ say: 'never heard' }] });
    f.failNext('chat', { status });
    const model = new OpenAIChatModel({ baseUrl: f.url, model: 'gpt-4o-mini' });
    const err = await streamFailure(model.stream({ messages: user('hi'), tools: [] }));
    expect(err.code).toBe(ErrorCodes.PROVIDER_FAILED);
    expect(err.retryable).toBe(retryable);
    expect(err.details).toEqual({ status });
    expect(err.message).toMatch(new RegExp(`^/chat/completions failed \\(HTTP ${status}: .+\\)$`));

    // The failure was one request: the next one streams normally.
    expect(texts(await collect(model.stream({ messages: user('hi'), tools: [] }))).join('')).toBe('never heard');
  });

  it('a stream dropped mid-way raises a retryable PROVIDER_FAILED', async () => {
    const f = await fake({ rules: [{ say: 'This reply never arrives in full.' }] });
    f.failNext('chat', 'drop');
    const model = new OpenAIChatModel({ baseUrl: f.url, model: 'gpt-4o-mini' });
    const err = await streamFailure(model.stream({ messages: user('hi'), tools: [] }));
    expect(err.code).toBe(ErrorCodes.PROVIDER_FAILED);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/^chat stream (broke|ended without \[DONE\])/);
  });

  it('an unreachable server raises a retryable PROVIDER_FAILED', async () => {
    const port = await freePort();
    const model = new OpenAIChatModel({ baseUrl: `http://127.0.0.1:${port}/v1`, model: 'gpt-4o-mini' });
    const err = await streamFailure(model.stream({ messages: user('hi'), tools: [] }));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(/^\/chat\/completions unreachable/);
  });
});

describe('OpenAIChatModel against a hand-written SSE stream', () => {
  const event = (chunk: unknown) => `data: ${JSON.stringify(chunk)}\n\n`;
  const delta = (d: unknown, finish: string | null = null) => ({ choices: [{ index: 0, delta: d, finish_reason: finish }] });

  it('assembles tool calls when the role and the first tool delta arrive in one chunk', async () => {
    const body = [
      event(delta({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_first', type: 'function', function: { name: 'get_order', arguments: '' } }] })),
      event(delta({ tool_calls: [{ index: 0, function: { arguments: '{"order' } }] })),
      // The second call starts in the same chunk that finishes the first one's arguments.
      event(delta({ tool_calls: [{ index: 0, function: { arguments: 'Id":"A-1"}' } }, { index: 1, id: 'call_second', type: 'function', function: { name: 'lookup_customer', arguments: '{}' } }] })),
      event(delta({}, 'tool_calls')),
      event({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 7 } }),
      'data: [DONE]\n\n',
    ].join('');
    // Cut the byte stream at awkward places: inside `data:`, inside JSON strings, between the two newlines.
    const cuts = [3, 40, 41, 97, 160, 161, 250, body.length - 3];
    const pieces = [0, ...cuts].map((at, i) => body.slice(at, [...cuts, body.length][i]));
    expect(pieces.join('')).toBe(body);

    const model = new OpenAIChatModel({ baseUrl: await sseServer(pieces), model: 'm' });
    const events = await collect(model.stream({ messages: user('order?'), tools: TOOLS }));
    expect(events).toEqual([
      {
        type: 'tool-calls',
        calls: [
          { id: 'call_first', type: 'function', function: { name: 'get_order', arguments: '{"orderId":"A-1"}' } },
          { id: 'call_second', type: 'function', function: { name: 'lookup_customer', arguments: '{}' } },
        ],
      },
      { type: 'done', finishReason: 'tool_calls', usage: { promptTokens: 11, completionTokens: 7 } },
    ]);
  });

  it('yields text that shares its chunk with the role', async () => {
    const model = new OpenAIChatModel({
      baseUrl: await sseServer([event(delta({ role: 'assistant', content: 'Hi' })), event(delta({ content: ' there' }, 'stop')), 'data: [DONE]\n\n']),
      model: 'm',
    });
    expect(await collect(model.stream({ messages: user('hi'), tools: [] }))).toEqual([
      { type: 'text', delta: 'Hi' },
      { type: 'text', delta: ' there' },
      { type: 'done', finishReason: 'stop' },
    ]);
  });

  it.each<[string, string[], RegExp]>([
    ['an error event', [event(delta({ content: 'Hi' })), 'event: error\ndata: overloaded\n\n'], /^chat stream error: overloaded$/],
    ['an error chunk', [event({ error: { message: 'server exploded' } })], /^chat stream error: server exploded$/],
    ['an unparseable chunk', ['data: {not json\n\n'], /^chat stream error: unparseable chunk: \{not json$/],
    ['a stream that ends without [DONE]', [event(delta({ content: 'Hi' }, 'stop'))], /^chat stream ended without \[DONE\]$/],
  ])('raises a retryable PROVIDER_FAILED on %s', async (_what, pieces, message) => {
    const model = new OpenAIChatModel({ baseUrl: await sseServer(pieces), model: 'm' });
    const err = await streamFailure(model.stream({ messages: user('hi'), tools: [] }));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(message);
  });
});
