import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { freePort, startFakeAnthropic } from '@switchboard/testing';
import type { FakeAnthropic, FakeAnthropicOptions } from '@switchboard/testing';
import { AnthropicChatModel, CALL_STARTED_TURN, toAnthropicMessages } from './llm.ts';
import type { AnthropicMessage } from './llm.ts';
import type { ChatMessage, LlmEvent, LlmTool, ToolCallRequest } from '../types.ts';

const fakes: FakeAnthropic[] = [];
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

async function fake(opts: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const f = await startFakeAnthropic({ apiKey: 'sk-ant-test', ...opts });
  fakes.push(f);
  return f;
}

const model = (f: FakeAnthropic | string, apiKey = 'sk-ant-test'): AnthropicChatModel =>
  new AnthropicChatModel({ apiKey, baseUrl: typeof f === 'string' ? f : f.url, model: 'claude-sonnet-4-5', maxTokens: 512 });

async function collect(events: AsyncIterable<LlmEvent>): Promise<LlmEvent[]> {
  const out: LlmEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

async function streamFailure(events: AsyncIterable<LlmEvent>): Promise<SwitchboardError> {
  const err = await collect(events).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SwitchboardError);
  return err as SwitchboardError;
}

const texts = (events: LlmEvent[]) => events.flatMap((e) => (e.type === 'text' ? [e.delta] : []));
const SYSTEM: ChatMessage = { role: 'system', content: 'You are a phone agent.' };
const TOOLS: LlmTool[] = [
  { name: 'get_order', description: 'Look up an order', parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] } },
  { name: 'lookup_customer', description: 'Find a customer', parameters: { type: 'object', properties: { phone: { type: 'string' } } } },
];
const call = (id: string, name: string, args: string): ToolCallRequest => ({ id, type: 'function', function: { name, arguments: args } });

describe('toAnthropicMessages', () => {
  it.each<[string, ChatMessage[], { system?: string; messages: AnthropicMessage[] }]>([
    ['system prompts go top-level, joined', [SYSTEM, { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], { system: 'You are a phone agent.\n\nBe brief.', messages: [{ role: 'user', content: 'hi' }] }],
    ['no system prompt, no system field', [{ role: 'user', content: 'hi' }], { messages: [{ role: 'user', content: 'hi' }] }],
    [
      'assistant tool calls become tool_use blocks after the text; tool results one user turn',
      [
        { role: 'user', content: 'where are my orders?' },
        { role: 'assistant', content: 'Let me check.', tool_calls: [call('call_1', 'get_order', '{"orderId":"A-1"}'), call('call_2', 'lookup_customer', '')] },
        { role: 'tool', tool_call_id: 'call_1', content: '{"status":"shipped"}' },
        { role: 'tool', tool_call_id: 'call_2', content: '{"error":"customer service down","fallback":true}' },
      ],
      {
        messages: [
          { role: 'user', content: 'where are my orders?' },
          {
            role: 'assistant',
            content: [
              { type: 'text', text: 'Let me check.' },
              { type: 'tool_use', id: 'call_1', name: 'get_order', input: { orderId: 'A-1' } },
              { type: 'tool_use', id: 'call_2', name: 'lookup_customer', input: {} },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'call_1', content: '{"status":"shipped"}' },
              { type: 'tool_result', tool_use_id: 'call_2', content: '{"error":"customer service down","fallback":true}', is_error: true },
            ],
          },
        ],
      },
    ],
    [
      'an assistant turn with only tool calls has no text block; a user turn after tool results merges into it',
      [
        { role: 'user', content: 'order?' },
        { role: 'assistant', content: null, tool_calls: [call('c', 'get_order', '{"orderId":"B"}')] },
        { role: 'tool', tool_call_id: 'c', content: 'ok' },
        { role: 'user', content: 'and?' },
      ],
      {
        messages: [
          { role: 'user', content: 'order?' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'c', name: 'get_order', input: { orderId: 'B' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'c', content: 'ok' }, { type: 'text', text: 'and?' }] },
        ],
      },
    ],
    [
      'a greeting first gets a placeholder user turn; consecutive user turns merge',
      [SYSTEM, { role: 'assistant', content: 'Hello, Acme here.' }, { role: 'user', content: 'hi' }, { role: 'user', content: 'anyone?' }],
      {
        system: 'You are a phone agent.',
        messages: [
          { role: 'user', content: CALL_STARTED_TURN },
          { role: 'assistant', content: 'Hello, Acme here.' },
          { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'anyone?' }] },
        ],
      },
    ],
    [
      'empty assistant and user messages are dropped; broken argument JSON is kept visible',
      [{ role: 'user', content: 'x' }, { role: 'assistant', content: '' }, { role: 'user', content: '' }, { role: 'assistant', content: null, tool_calls: [call('d', 'get_order', '{"orderId":')] }, { role: 'tool', tool_call_id: 'd', content: 'bad' }],
      {
        messages: [
          { role: 'user', content: 'x' },
          { role: 'assistant', content: [{ type: 'tool_use', id: 'd', name: 'get_order', input: { _raw: '{"orderId":' } }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'd', content: 'bad' }] },
        ],
      },
    ],
  ])('%s', (_what, history, expected) => {
    expect(toAnthropicMessages(history)).toEqual(expected);
  });
});

describe('AnthropicChatModel against the fake Anthropic API', () => {
  it('streams text deltas, then done with usage; sends the key, version, system and max_tokens', async () => {
    const f = await fake({ rules: [{ whenUser: 'hello', say: 'Hello! How can I help you with your order today?' }] });
    const events = await collect(model(f).stream({ messages: [SYSTEM, { role: 'user', content: 'hello there' }], tools: [] }));
    expect(texts(events).join('')).toBe('Hello! How can I help you with your order today?');
    expect(texts(events).length).toBeGreaterThan(5);
    const done = events.at(-1);
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(done?.type === 'done' && done.usage && done.usage.promptTokens > 0 && done.usage.completionTokens > 5).toBe(true);
    expect(f.requests.headers).toEqual([{ apiKey: 'sk-ant-test', version: '2023-06-01' }]);
    expect(f.requests.messages).toEqual([{ model: 'claude-sonnet-4-5', max_tokens: 512, stream: true, system: 'You are a phone agent.', messages: [{ role: 'user', content: 'hello there' }] }]);
  });

  it('assembles tool_use input from input_json_delta into ToolCallRequests, after the text', async () => {
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
    const events = await collect(model(f).stream({ messages: [SYSTEM, { role: 'user', content: 'where is my order?' }], tools: TOOLS }));
    expect(texts(events).join('')).toBe('Let me check.');
    expect(events.map((e) => e.type).slice(-2)).toEqual(['tool-calls', 'done']);
    const toolEvent = events.find((e) => e.type === 'tool-calls');
    const calls = toolEvent?.type === 'tool-calls' ? toolEvent.calls : [];
    expect(calls.map((c) => [c.type, c.function.name, JSON.parse(c.function.arguments)])).toEqual([
      ['function', 'get_order', { orderId: 'A-1001', verbose: true, note: 'needs "quotes" and, commas' }],
      ['function', 'lookup_customer', { phone: '+15550001111' }],
    ]);
    for (const c of calls) expect(c.id).toMatch(/^toolu_01[A-Za-z0-9]{22}$/);
    expect(events.at(-1)).toMatchObject({ type: 'done', finishReason: 'tool_calls' });
    expect(f.requests.messages[0]).toMatchObject({
      tool_choice: { type: 'auto' },
      tools: TOOLS.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters })),
    });
  });

  it('the tool round trip in our history shape is accepted by the API checks and answered', async () => {
    const f = await fake({
      rules: [
        { afterTool: 'get_order', say: 'Your order is {{tool.status}}.' },
        { whenUser: 'order', toolCalls: [{ name: 'get_order', arguments: { orderId: 'A-1' } }] },
      ],
    });
    const m = model(f);
    const history: ChatMessage[] = [SYSTEM, { role: 'assistant', content: 'Hi, this is Acme.' }, { role: 'user', content: 'my order?' }];
    const first = await collect(m.stream({ messages: history, tools: TOOLS }));
    const toolEvent = first.find((e) => e.type === 'tool-calls');
    if (toolEvent?.type !== 'tool-calls') throw new Error('expected tool calls');
    expect(texts(first)).toEqual([]);
    history.push({ role: 'assistant', content: null, tool_calls: toolEvent.calls }, ...toolEvent.calls.map((c): ChatMessage => ({ role: 'tool', tool_call_id: c.id, content: '{"status":"shipped"}' })));
    const second = await collect(m.stream({ messages: history, tools: TOOLS }));
    expect(texts(second).join('')).toBe('Your order is shipped.');
    expect(f.counters.errors).toBe(0);
  });

  it('a history the API would refuse is a non-retryable PROVIDER_FAILED with its message (fake checks hold)', async () => {
    const f = await fake();
    // A tool result with no tool_use before it: raw history the converter cannot fix.
    const err = await streamFailure(model(f).stream({ messages: [{ role: 'user', content: 'x' }, { role: 'tool', tool_call_id: 'nope', content: 'r' }], tools: [] }));
    expect([err.code, err.retryable, err.details?.['status']]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 400]);
    expect(err.message).toContain('unexpected `tool_use_id` found in `tool_result` blocks: nope');
  });

  it('a wrong key is a non-retryable PROVIDER_FAILED 401 with the API message', async () => {
    const f = await fake();
    const err = await streamFailure(model(f, 'sk-ant-wrong').stream({ messages: [{ role: 'user', content: 'hi' }], tools: [] }));
    expect([err.code, err.retryable, err.details?.['status'], err.message]).toEqual([ErrorCodes.PROVIDER_FAILED, false, 401, '/v1/messages failed (HTTP 401: invalid x-api-key)']);
  });

  it.each([
    [529, true],
    [500, true],
    [429, true],
    [400, false],
    [403, false],
  ])('HTTP %i raises PROVIDER_FAILED with retryable %s', async (status, retryable) => {
    const f = await fake({ rules: [{ say: 'later' }] });
    f.failNext({ status });
    const m = model(f);
    const err = await streamFailure(m.stream({ messages: [{ role: 'user', content: 'hi' }], tools: [] }));
    expect([err.code, err.retryable, err.details]).toEqual([ErrorCodes.PROVIDER_FAILED, retryable, { status }]);
    expect(texts(await collect(m.stream({ messages: [{ role: 'user', content: 'hi' }], tools: [] }))).join('')).toBe('later');
  });

  it.each<[string, 'drop' | 'error-event', RegExp]>([
    ['a stream dropped mid-way', 'drop', /^messages stream (broke|ended without message_stop)/],
    ['an overloaded_error event mid-stream', 'error-event', /^messages stream error: overloaded_error: Overloaded$/],
  ])('%s raises a retryable PROVIDER_FAILED', async (_what, how, message) => {
    const f = await fake({ rules: [{ say: 'This reply never arrives in full.' }] });
    f.failNext(how);
    const err = await streamFailure(model(f).stream({ messages: [{ role: 'user', content: 'hi' }], tools: [] }));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(message);
  });

  it('an unreachable server raises a retryable PROVIDER_FAILED', async () => {
    const port = await freePort();
    const err = await streamFailure(model(`http://127.0.0.1:${port}/v1`).stream({ messages: [{ role: 'user', content: 'hi' }], tools: [] }));
    expect([err.code, err.retryable]).toEqual([ErrorCodes.PROVIDER_FAILED, true]);
    expect(err.message).toMatch(/^\/v1\/messages unreachable/);
  });
});

describe('AnthropicChatModel against a hand-written SSE stream', () => {
  async function sseServer(pieces: string[]): Promise<string> {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', async () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        for (const p of pieces) {
          res.write(p);
          await sleep(2);
        }
        res.end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

  it('uses the start input when no input_json_delta arrives, counts cache tokens, maps max_tokens to length', async () => {
    const body = [
      ev('message_start', { message: { usage: { input_tokens: 10, cache_read_input_tokens: 5, output_tokens: 1 } } }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } }),
      ev('content_block_stop', { index: 0 }),
      ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_x', name: 'get_order', input: { orderId: 'Z' } } }),
      ev('content_block_stop', { index: 1 }),
      ev('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 7 } }),
      ev('message_stop', {}),
    ].join('');
    // Cut inside the event names and the JSON.
    const pieces = [body.slice(0, 9), body.slice(9, 130), body.slice(130, 131), body.slice(131)];
    const events = await collect(model(await sseServer(pieces)).stream({ messages: [{ role: 'user', content: 'x' }], tools: TOOLS }));
    expect(events).toEqual([
      { type: 'text', delta: 'Hi' },
      { type: 'tool-calls', calls: [call('toolu_x', 'get_order', '{"orderId":"Z"}')] },
      { type: 'done', finishReason: 'length', usage: { promptTokens: 15, completionTokens: 7 } },
    ]);
  });

  it.each<[string, string, boolean]>([
    ['invalid_request_error', 'prompt is too long', false],
    ['api_error', 'Internal server error', true],
  ])('an %s error event is PROVIDER_FAILED retryable %s', async (type, message, retryable) => {
    const url = await sseServer([ev('message_start', { message: {} }), ev('error', { error: { type, message } })]);
    const err = await streamFailure(model(url).stream({ messages: [{ role: 'user', content: 'x' }], tools: [] }));
    expect([err.code, err.retryable, err.message]).toEqual([ErrorCodes.PROVIDER_FAILED, retryable, `messages stream error: ${type}: ${message}`]);
  });
});
