import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, contracts, type ToolProgressed } from '@switchboard/contracts';
import { everythingStdio, startEverythingServer, startHttpFunctionsServer, startScriptableMcpServer, type EverythingServer, type HttpFunctionsServer, type ScriptableMcpServer } from '@switchboard/testing';
import { announce, ctx, envelope, startTestBroker, until, type ServerConfig, type TestBroker } from './harness.ts';

let t: TestBroker;
let everythingHttp: EverythingServer;
let everythingSse: EverythingServer;
/** One stdio server identity for the whole file (each everythingStdio() is a new one). */
const stdio = everythingStdio();

beforeAll(async () => {
  await announce('transports.int.test');
  t = await startTestBroker();
  // One after the other, so afterAll can stop whichever started if the other fails.
  everythingHttp = await startEverythingServer('streamableHttp');
  everythingSse = await startEverythingServer('sse');
}, 30_000);

afterAll(async () => {
  await t?.close();
  await everythingHttp?.close();
  await everythingSse?.close();
});

/** Collects `evt.tool.progressed.<callId>` events. */
function progressOf(callId: string): { events: ToolProgressed[]; stop: () => void } {
  const events: ToolProgressed[] = [];
  const sub = t.bus.subscribe(contracts.toolProgressed, (e) => void events.push(e), { param: callId });
  return { events, stop: () => sub.unsubscribe() };
}

const everything: Array<[string, () => ServerConfig]> = [
  ['streamable HTTP', () => ({ name: 'everything', transport: 'streamable-http', url: everythingHttp.url })],
  ['legacy SSE', () => ({ name: 'everything', transport: 'sse', url: everythingSse.url })],
  ['stdio', () => ({ name: 'everything', transport: 'stdio', ...stdio })],
];

describe.each(everything)('the reference server (server-everything) over %s', (_transport, server) => {
  it('lists its tools with their schemas and annotations', async () => {
    const reply = await t.list([server()]);
    expect(reply.failed).toEqual([]);
    const byName = new Map(reply.tools.map((d) => [d.name, d]));
    expect([...byName.keys()]).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation']));
    expect(byName.get('get-sum')).toMatchObject({ originalName: 'get-sum', server: 'everything', inputSchema: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } } }, annotations: { readOnlyHint: true } });
    for (const d of reply.tools) expect(d.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['echo', { message: 'hello switchboard' }, 'Echo: hello switchboard'],
    ['get-sum', { a: 2, b: 40 }, 'The sum of 2 and 40 is 42.'],
  ])('calls %s', async (tool, args, text) => {
    const reply = await t.call(server(), tool, args);
    expect(reply).toMatchObject({ isError: false, text });
  });

  it('refuses arguments that fail the input schema, naming the field', async () => {
    const reply = await t.call(server(), 'get-sum', { a: 'two', b: 3 });
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_INVALID_ARGUMENTS });
    expect(envelope(reply)).toEqual({ error: expect.stringMatching(/^Invalid arguments for get-sum: \/a must be number/), fallback: true });
  });

  it('forwards MCP progress notifications as evt.tool.progressed with the invocation id', async () => {
    const context = ctx('progress');
    const p = progressOf(context.callId);
    await t.bus.nc.flush();
    const reply = await t.call(server(), 'trigger-long-running-operation', { duration: 0.3, steps: 3 }, { context, invocationId: 'inv-progress-1' });
    expect(reply).toMatchObject({ isError: false, text: 'Long running operation completed. Duration: 0.3 seconds, Steps: 3.' });
    // Over legacy SSE the server's last notification can arrive after the result, when the SDK has
    // stopped listening for that request's progress: the first two are certain, the third is not.
    await until(() => p.events.length >= 2, `progress events (got ${JSON.stringify(p.events)})`);
    await new Promise((r) => setTimeout(r, 50));
    p.stop();
    const expected = [1, 2, 3].map((progress) => ({ invocationId: 'inv-progress-1', server: 'everything', tool: 'trigger-long-running-operation', progress, total: 3 }));
    expect(p.events).toEqual(expected.slice(0, p.events.length));
  });

  it('cancels a running tool on evt.tool.cancel-requested (notifications/cancelled) and answers TOOL_CANCELLED', async () => {
    const context = ctx('cancel');
    const p = progressOf(context.callId);
    await t.bus.nc.flush();
    const t0 = performance.now();
    const pending = t.call(server(), 'trigger-long-running-operation', { duration: 10, steps: 50 }, { context, invocationId: 'inv-cancel-1' });
    await until(() => p.events.length >= 1, 'the first progress event');
    t.bus.publish(contracts.toolCancelRequested, { invocationId: 'inv-cancel-1', reason: 'caller asked to stop' }, { param: context.callId });
    const reply = await pending;
    p.stop();
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_CANCELLED });
    expect(envelope(reply).error).toMatch(/cancelled \(caller asked to stop\)/);
  });
});

describe('an SDK server with sessions', () => {
  let s: ScriptableMcpServer;
  beforeAll(async () => {
    s = await startScriptableMcpServer({
      tools: [
        {
          name: 'slow_lookup',
          description: 'Looks something up slowly',
          inputSchema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] },
          handler: async (_args, c) => {
            await new Promise((resolve) => {
              const timer = setTimeout(resolve, 5000);
              c.signal.addEventListener('abort', () => {
                clearTimeout(timer);
                resolve(undefined);
              });
            });
            return { content: [{ type: 'text', text: 'late' }] };
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  it('tells the server which request it cancelled when a barge-in cancels a cancellable tool', async () => {
    const context = ctx('bargein');
    const server: ServerConfig = { name: 'sdk', transport: 'streamable-http', url: s.url, tools: { slow_lookup: { cancelOnBargeIn: true } } };
    const pending = t.call(server, 'slow_lookup', { q: 'x' }, { context, invocationId: 'inv-barge-1' });
    await until(() => (s.calls.slow_lookup ?? 0) >= 1, 'the tool to start');
    t.bus.publish(contracts.toolCancelRequested, { invocationId: 'inv-barge-1', reason: 'barge-in' }, { param: context.callId });
    const reply = await pending;
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_CANCELLED });
    await until(() => s.cancelled.length >= 1, 'notifications/cancelled at the server');
    expect(s.cancelled[0]).toMatchObject({ requestId: expect.anything(), reason: expect.stringMatching(/barge-in/) });
  });

  it('ignores a barge-in cancel for a tool not marked cancelOnBargeIn (a lookup must not be cut short)', async () => {
    const context = ctx('bargein');
    const server: ServerConfig = { name: 'sdk', transport: 'streamable-http', url: s.url, timeoutMs: 600 };
    const before = s.cancelled.length;
    const pending = t.call(server, 'slow_lookup', { q: 'x' }, { context, invocationId: 'inv-barge-2' });
    await until(() => (s.calls.slow_lookup ?? 0) >= 2, 'the tool to start');
    t.bus.publish(contracts.toolCancelRequested, { invocationId: 'inv-barge-2', reason: 'barge-in' }, { param: context.callId });
    const reply = await pending;
    // It ran to its own timeout instead.
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_TIMEOUT });
    // The timeout's own cancellation, not the barge-in's.
    await until(() => s.cancelled.length === before + 1, 'the timeout cancellation at the server');
    expect(s.cancelled.at(-1)?.reason).not.toMatch(/barge-in/);
  });
});

describe('an http-functions server (the Plati /tools + /call protocol)', () => {
  let f: HttpFunctionsServer;
  beforeAll(async () => {
    f = await startHttpFunctionsServer({
      authorization: 'Bearer plati-key',
      callLatencyMs: 0,
      functions: [
        {
          name: 'check_order_status',
          description: 'Check the status of a customer order',
          input_schema: { type: 'object', properties: { order_id: { type: 'string', description: 'The order ID to check' } }, required: ['order_id'] },
          handler: (args) =>
            args.order_id === 'ORD-001'
              ? { body: { success: true, data: { order_id: 'ORD-001', status: 'shipped' } } }
              : { body: { success: false, error: `Order ${String(args.order_id)} not found` } },
        },
        { name: 'send_email', description: 'Send an email to a customer', input_schema: { type: 'object', properties: { to: { type: 'string' } }, required: ['to'] }, handler: () => ({ status: 500, body: { error: 'SMTP relay refused the message' } }) },
        { name: 'no_schema', description: 'A function without input_schema' },
        {
          name: 'slow_report',
          description: 'Generates a report slowly',
          handler: async () => {
            await new Promise((r) => setTimeout(r, 3000));
            return { body: { success: true } };
          },
        },
      ],
    });
  });
  afterAll(async () => {
    await f?.close();
  });

  const plati = (extra: Partial<ServerConfig> = {}): ServerConfig => ({ name: 'plati', transport: 'http-functions', url: f.url, headers: { Authorization: 'Bearer plati-key' }, ...extra });

  it('maps GET /tools (input_schema) to tool descriptors', async () => {
    const reply = await t.list([plati()]);
    expect(reply.failed).toEqual([]);
    expect(reply.tools.map((d) => d.name)).toEqual(['check_order_status', 'send_email', 'no_schema', 'slow_report']);
    expect(reply.tools[0]).toMatchObject({ description: 'Check the status of a customer order', inputSchema: { type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] } });
    expect(reply.tools[2]?.inputSchema).toEqual({ type: 'object', properties: {} });
    expect(f.seenAuthorization.every((a) => a === 'Bearer plati-key')).toBe(true);
  });

  it.each<[string, string, Record<string, unknown>, object]>([
    ['a success', 'check_order_status', { order_id: 'ORD-001' }, { isError: false, text: JSON.stringify({ success: true, data: { order_id: 'ORD-001', status: 'shipped' } }), structuredContent: { order_id: 'ORD-001', status: 'shipped' } }],
    ['{ success: false, error }', 'check_order_status', { order_id: 'ORD-404' }, { isError: true, code: ErrorCodes.TOOL_FAILED, text: JSON.stringify({ error: 'Order ORD-404 not found', fallback: true }) }],
    ['HTTP 500 { error }', 'send_email', { to: 'a@b.c' }, { isError: true, code: ErrorCodes.TOOL_FAILED, text: JSON.stringify({ error: 'SMTP relay refused the message', fallback: true }) }],
  ])('maps %s from POST /call', async (_case, tool, args, expected) => {
    expect(await t.call(plati(), tool, args)).toMatchObject(expected);
  });

  it('validates arguments against input_schema before POST /call', async () => {
    const before = f.requests['POST /call'] ?? 0;
    const reply = await t.call(plati(), 'check_order_status', {});
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_INVALID_ARGUMENTS });
    expect(f.requests['POST /call'] ?? 0).toBe(before);
  });

  it('aborts the HTTP request of a function that outlives its timeout', async () => {
    const reply = await t.call(plati({ timeoutMs: 300 }), 'slow_report', {});
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_TIMEOUT });
    await until(() => f.aborted >= 1, 'the server to see the request aborted');
  });

  it('reports wrong credentials (401) as a failed server at list time', async () => {
    const other = await startHttpFunctionsServer({ authorization: 'Bearer right', functions: [{ name: 'x' }] });
    try {
      const reply = await t.list([{ name: 'locked', transport: 'http-functions', url: other.url, headers: { Authorization: 'Bearer wrong' } }]);
      expect(reply.tools).toEqual([]);
      expect(reply.failed).toEqual([{ server: 'locked', code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: expect.stringMatching(/refused the credentials \(HTTP 401\)/) }]);
    } finally {
      await other.close();
    }
  });
});
