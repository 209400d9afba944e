import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes, contracts, type McpServerConfig } from '@switchboard/contracts';
import { everythingStdio, freePort, startScriptableMcpServer, type Fault, type ScriptableMcpServer, type ScriptedTool } from '@switchboard/testing';
import { resolveServer } from '../src/mcp/headers.ts';
import { announce, ctx, envelope, http, startTestBroker, until, type ServerConfig, type TestBroker } from './harness.ts';

let t: TestBroker;

/** A path no earlier server had: the broker's tool-list cache is keyed by URL, and ports get reused. */
const uniquePath = () => randomUUID().slice(0, 8);
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await announce('failures.int.test');
  t = await startTestBroker({ BREAKER_FAILURE_THRESHOLD: '2', BREAKER_COOLDOWN_MS: '300', BREAKER_MAX_COOLDOWN_MS: '1000', CANCEL_GRACE_MS: '100' });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

afterAll(async () => {
  await t?.close();
});

const lookup: ScriptedTool = { name: 'lookup', description: 'Look a thing up', inputSchema: { type: 'object', properties: { q: { type: 'string' } } }, annotations: { readOnlyHint: true } };
const charge: ScriptedTool = { name: 'charge_card', description: 'Charge the card (not idempotent)', inputSchema: { type: 'object', properties: { cents: { type: 'integer' } }, required: ['cents'] }, annotations: { readOnlyHint: false, idempotentHint: false, destructiveHint: true } };

async function scriptable(opts: Parameters<typeof startScriptableMcpServer>[0] = {}): Promise<ScriptableMcpServer> {
  const s = await startScriptableMcpServer({ tools: [lookup, charge], ...opts });
  cleanup.push(() => s.close());
  return s;
}

async function plainHttp(): Promise<string> {
  const srv: Server = createServer((_req, res) => res.writeHead(200).end('not an MCP server'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => srv.close(() => r(undefined))));
  return `https://127.0.0.1:${(srv.address() as AddressInfo).port}/${uniquePath()}/mcp`;
}

describe('connect failure: logged, the server skipped, the call proceeds with the others', () => {
  it.each<[string, () => Promise<ServerConfig>, RegExp]>([
    ['unreachable', async () => http('broken', `http://127.0.0.1:${await freePort()}/${uniquePath()}/mcp`), /^cannot connect to MCP server 'broken': connection refused/],
    ['TLS (https to a plain-HTTP port)', async () => http('broken', await plainHttp()), /^cannot connect to MCP server 'broken': .*(TLS|SSL|ssl|wrong version)/],
    ['401 (credentials refused)', async () => http('broken', (await scriptable({ requireHeader: { name: 'authorization', value: 'Bearer right' } })).url, { headers: { Authorization: 'Bearer wrong' } }), /^cannot connect to MCP server 'broken': the server refused the credentials \(HTTP 401\)/],
    ['not an MCP server (HTML 404)', async () => http('broken', `http://127.0.0.1:${(await scriptable()).port}/not-mcp`), /^cannot connect to MCP server 'broken': .*HTTP 404/],
  ])('%s', async (_name, broken, message) => {
    const good = await scriptable();
    const reply = await t.list([await broken(), http('good', good.url)]);
    expect(reply.failed).toEqual([{ server: 'broken', code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: expect.stringMatching(message) }]);
    expect(reply.tools.map((d) => `${d.server}:${d.name}`)).toEqual(['good:lookup', 'good:charge_card']);
    expect(reply.pending).toEqual([]);
  });
});

describe('tools/list failure: the server skipped, the others listed', () => {
  it.each<[string, Fault, RegExp]>([
    ['HTTP 500', { mode: 'http-status', status: 500 }, /tools\/list on 'bad' failed: HTTP 500/],
    ['malformed JSON', { mode: 'malformed' }, /tools\/list on 'bad': the server's answer is not valid JSON-RPC/],
    ['JSON that is not JSON-RPC', { mode: 'not-jsonrpc' }, /tools\/list on 'bad': the server's answer is not valid JSON-RPC/],
    ['a dropped connection', { mode: 'drop' }, /tools\/list on 'bad' failed/],
  ])('%s', async (_name, fault, message) => {
    const bad = await scriptable();
    bad.setFault(fault, ['tools/list']);
    const good = await scriptable();
    const reply = await t.list([http('bad', bad.url), http('good', good.url)]);
    expect(reply.failed).toEqual([{ server: 'bad', code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: expect.stringMatching(message) }]);
    expect(reply.tools.map((d) => d.server)).toEqual(['good', 'good']);
  });

  it('lists a server that hangs on tools/list as pending within the budget, and offers its tools once it answers', async () => {
    const slow = await scriptable({ listLatencyMs: 400 });
    const context = ctx();
    const first = await t.list([http('slow', slow.url)], { budgetMs: 100, context });
    expect(first).toMatchObject({ tools: [], pending: ['slow'], failed: [] });
    await new Promise((r) => setTimeout(r, 500));
    const second = await t.list([http('slow', slow.url)], { budgetMs: 100, context });
    expect(second.pending).toEqual([]);
    expect(second.tools.map((d) => d.name)).toEqual(['lookup', 'charge_card']);
  });
});

describe('invocation failure: the fallback envelope', () => {
  it.each<[string, Fault, string, RegExp]>([
    ['HTTP 503', { mode: 'http-status', status: 503 }, ErrorCodes.MCP_SERVER_UNAVAILABLE, /failed: HTTP 503/],
    ['malformed JSON', { mode: 'malformed' }, ErrorCodes.MCP_SERVER_UNAVAILABLE, /not valid JSON-RPC/],
    ['a hang', { mode: 'hang' }, ErrorCodes.TOOL_TIMEOUT, /did not answer within 300 ms/],
  ])('%s on tools/call', async (_name, fault, code, message) => {
    const s = await scriptable();
    const server = http('s', s.url, { timeoutMs: 300 });
    expect((await t.call(server, 'charge_card', { cents: 1 })).isError).toBe(false);
    s.setFault(fault, ['tools/call']);
    const reply = await t.call(server, 'charge_card', { cents: 2 });
    expect(reply).toMatchObject({ isError: true, code });
    expect(envelope(reply)).toEqual({ error: expect.stringMatching(message), fallback: true });
  });

  it('a tool that throws becomes a TOOL_FAILED envelope with its message', async () => {
    const s = await scriptable({
      tools: [{ name: 'explode', handler: () => { throw new Error('database is on fire'); } }],
    });
    const reply = await t.call(http('s', s.url), 'explode', {});
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_FAILED });
    expect(envelope(reply).error).toMatch(/database is on fire/);
  });

  it('caps a huge result at MAX_RESULT_BYTES with a truncation notice', async () => {
    const small = await startTestBroker({ MAX_RESULT_BYTES: '2048' });
    cleanup.push(() => small.close());
    const s = await scriptable({ tools: [{ name: 'dump', handler: () => ({ content: [{ type: 'text', text: 'é'.repeat(5000) }] }) }] });
    const reply = await small.call(http('s', s.url), 'dump', {});
    expect(reply.isError).toBe(false);
    expect(reply.text).toMatch(/\n\[result truncated at 2048 bytes\]$/);
    expect(Buffer.byteLength(reply.text)).toBeLessThan(2048 + 64);
    expect(reply.text).not.toContain('\uFFFD');
  });
});

describe('a server that dies', () => {
  it('forgot our session (restarted): the dead session is detected, reconnected, and a non-idempotent tool still runs exactly once', async () => {
    const s = await scriptable();
    const server = http('restarting', s.url);
    expect((await t.call(server, 'charge_card', { cents: 100 })).isError).toBe(false);
    expect(s.requests.initialize).toBe(1);
    s.forgetSessions();
    const reply = await t.call(server, 'charge_card', { cents: 200 });
    // The 404 proves the request never reached the tool, so sending it again on a new session cannot charge twice.
    expect(reply.isError).toBe(false);
    expect(s.calls.charge_card).toBe(2);
    expect(s.requests.initialize).toBe(2);
  });

  it('stdio process killed mid-call: the broker respawns it, and a read-only tool is sent again on the new process', async () => {
    const server: ServerConfig = { name: 'everything-stdio', transport: 'stdio', ...everythingStdio() };
    const context = ctx();
    expect((await t.call(server, 'echo', { message: 'one' }, { context })).text).toBe('Echo: one');
    const pidOf = () => (t.b.pool.peek(resolveServer(server as McpServerConfig, context))?.transport as { pid?: number | null } | undefined)?.pid ?? undefined;
    const pid = pidOf();
    expect(pid).toBeGreaterThan(0);
    const retries = t.b.broker.stats.retries;
    const running = t.call(server, 'trigger-long-running-operation', { duration: 0.6, steps: 3 }, { context });
    await new Promise((r) => setTimeout(r, 200));
    process.kill(pid as number, 'SIGKILL');
    // trigger-long-running-operation is read-only and idempotent: safe to run again after the transport broke.
    const reply = await running;
    expect(reply).toMatchObject({ isError: false, text: 'Long running operation completed. Duration: 0.6 seconds, Steps: 3.' });
    expect(t.b.broker.stats.retries).toBe(retries + 1);
    const next = pidOf();
    expect(next).toBeGreaterThan(0);
    expect(next).not.toBe(pid);
    expect((await t.call(server, 'echo', { message: 'two' }, { context })).text).toBe('Echo: two');
  });

  it('stdio process that dies between calls is respawned in the background (autoReconnect)', async () => {
    const server: ServerConfig = { name: 'everything-stdio-2', transport: 'stdio', ...everythingStdio() };
    const context = ctx();
    expect((await t.list([server], { context })).tools.length).toBeGreaterThan(3);
    expect((await t.call(server, 'echo', { message: 'one' }, { context })).isError).toBe(false);
    const pidOf = () => (t.b.pool.peek(resolveServer(server as McpServerConfig, context))?.transport as { pid?: number | null } | undefined)?.pid ?? undefined;
    const pid = pidOf() as number;
    process.kill(pid, 'SIGKILL');
    await until(() => {
      const p = pidOf();
      return p !== undefined && p !== pid;
    }, 'a new stdio process without any call', 5000);
  });

  it('the call ends while a tool runs: after the grace the tool is cancelled (notifications/cancelled) and the call-scoped connection closed', async () => {
    const s = await scriptable({
      tools: [
        {
          name: 'wait',
          handler: async (_a, c) => {
            await new Promise((r) => {
              const timer = setTimeout(r, 5000);
              c.signal.addEventListener('abort', () => {
                clearTimeout(timer);
                r(undefined);
              });
            });
            return { content: [{ type: 'text', text: 'too late' }] };
          },
        },
      ],
    });
    const context = ctx();
    const server = http('scoped', s.url, { headers: { 'X-Call': '{{call.id}}' } });
    const running = t.call(server, 'wait', {}, { context });
    await until(() => (s.calls.wait ?? 0) === 1, 'the tool to start');
    const t0 = performance.now();
    t.bus.publish(contracts.callEnded, { callId: context.callId, reason: 'caller-hangup', endedAt: new Date().toISOString() });
    const reply = await running;
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_CANCELLED });
    expect(envelope(reply).error).toMatch(/cancelled \(call ended\)/);
    await until(() => s.cancelled.length === 1, 'notifications/cancelled at the server');
    await until(() => t.b.pool.peek(resolveServer(server as McpServerConfig, context)) === undefined, 'the call-scoped connection to close');
  });

  it('closing a call-scoped connection to a server that hangs never blocks the call teardown', async () => {
    const s = await scriptable();
    const context = ctx();
    const server = http('scoped', s.url, { headers: { 'X-Call': '{{call.id}}' } });
    expect((await t.call(server, 'lookup', {}, { context })).isError).toBe(false);
    s.setFault({ mode: 'hang' });
    const t0 = performance.now();
    t.b.broker.callEnded(context.callId);
    expect(performance.now() - t0).toBeLessThan(50);
    expect(t.b.pool.peek(resolveServer(server as McpServerConfig, context))).toBeUndefined();
  });
});

describe('a server that flaps: the circuit breaker', () => {
  it('opens after repeated failures, fails fast without touching the server, and closes after a half-open probe succeeds', async () => {
    const s = await scriptable();
    const server = http('flappy', s.url);
    expect((await t.call(server, 'lookup', {})).isError).toBe(false);
    s.setFault({ mode: 'http-status', status: 503 }, ['tools/call']);
    for (let i = 0; i < 2; i++) expect(await t.call(server, 'charge_card', { cents: 1 })).toMatchObject({ isError: true, code: ErrorCodes.MCP_SERVER_UNAVAILABLE });
    expect(t.b.broker.breakerStates().flappy).toBe('open');
    const reached = s.requests['tools/call'];
    const fast = await t.call(server, 'lookup', {});
    expect(fast).toMatchObject({ isError: true, code: ErrorCodes.MCP_SERVER_UNAVAILABLE });
    expect(envelope(fast).error).toMatch(/circuit open/);
    expect(s.requests['tools/call']).toBe(reached);
    // At call start the open server is skipped with the reason.
    const listed = await t.list([server]);
    expect(listed.failed).toEqual([{ server: 'flappy', code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: expect.stringMatching(/circuit open/) }]);
    s.setFault(undefined);
    // After the cooldown the broker probes on its own (half-open); the probe succeeds and closes the circuit.
    await until(() => t.b.broker.breakerStates().flappy === 'closed', 'the half-open probe to close the circuit', 3000);
    expect((await t.call(server, 'lookup', {})).isError).toBe(false);
  });

  it('a failed probe opens the circuit again', async () => {
    const s = await scriptable();
    const server = http('down', s.url);
    expect((await t.call(server, 'lookup', {})).isError).toBe(false);
    s.setFault({ mode: 'http-status', status: 503 });
    for (let i = 0; i < 2; i++) await t.call(server, 'lookup', {});
    expect(t.b.broker.breakerStates().down).toBe('open');
    const before = s.requests.initialize ?? 0;
    // The failed calls dropped the connection: the probe reconnects (initialize), which fails again.
    await until(() => (s.requests.initialize ?? 0) > before, 'the probe to reach the server', 3000);
    await until(() => t.b.broker.breakerStates().down === 'open', 'the circuit to open again after the failed probe');
  });
});

describe('tools the broker will not offer', () => {
  it('leaves out tools with invalid schemas, no name or a duplicate name, and keeps the rest', async () => {
    const s = await scriptable({
      rawToolsList: {
        tools: [
          { name: 'good', description: 'fine', inputSchema: { type: 'object', properties: { a: { type: 'string' } } } },
          { name: 'not_object', inputSchema: { type: 'string' } },
          { name: 'bad_type', inputSchema: { type: 'object', properties: { a: { type: 'strin' } } } },
          { description: 'no name at all', inputSchema: { type: 'object' } },
          { name: 'good', inputSchema: { type: 'object' } },
          { name: 'no_schema' },
        ],
      },
    });
    const before = t.b.broker.stats.rejectedTools;
    const reply = await t.list([http('mixed', s.url)]);
    expect(reply.failed).toEqual([]);
    expect(reply.tools.map((d) => d.name)).toEqual(['good', 'no_schema']);
    expect(reply.tools[1]?.inputSchema).toEqual({ type: 'object', properties: {} });
    expect(t.b.broker.stats.rejectedTools - before).toBe(4);
  });

  it('follows tools/list pagination and caps an absurd tool count', async () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ name: `tool_${i}`, description: `tool number ${i}` }));
    const s = await scriptable({ tools: many, pageSize: 5 });
    const all = await t.list([http('paged', s.url)]);
    expect(all.tools.map((d) => d.name)).toEqual(many.map((m) => m.name));
    expect(s.requests['tools/list']).toBe(3);
    const capped = await startTestBroker({ MAX_TOOLS_PER_SERVER: '7' });
    cleanup.push(() => capped.close());
    const s2 = await scriptable({ tools: many, pageSize: 5 });
    const reply = await capped.list([http('paged', s2.url)]);
    expect(reply.tools.map((d) => d.name)).toEqual(many.slice(0, 7).map((m) => m.name));
  });
});
