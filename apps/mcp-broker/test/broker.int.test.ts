import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { Bus } from '@switchboard/bus';
import { ErrorCodes, contracts } from '@switchboard/contracts';
import type { CallContext, CallToolReply, CallToolRequest, ListToolsReply, ListToolsRequest, McpServerConfig } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { freePort, infraUrls } from '@switchboard/testing';
// The example orders server is this test's real MCP backend.
import { startOrdersServer } from '@switchboard/orders-mcp-server';
import type { OrdersServerHandle } from '@switchboard/orders-mcp-server';
import { buildApp } from '../src/app.ts';
import { resolveServer } from '../src/mcp/headers.ts';
import type { BrokerApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

type ServerConfig = ListToolsRequest['servers'][number];


/** A path no earlier server had: the broker's tool-list cache is keyed by URL, and ports get reused. */
const uniquePath = () => randomUUID().slice(0, 8);
const log = createLogger('mcp-broker-test', 'silent');
const CTX: CallContext = { callId: 'call_brokertest_a', agentId: 'demo', accountId: 'default', from: '+15557654321', to: '+15550001234' };

let bus: Bus;
/** The test's own connection, standing in for the orchestrator. */
let probe: Bus;
let redis: Redis;
let broker: BrokerApp;
let orders: OrdersServerHandle;
/** Anything with a close() the test started; closed after each test. */
const cleanup: Array<() => Promise<unknown>> = [];

const http = (name: string, url: string, extra: Partial<ServerConfig> = {}): ServerConfig => ({ name, transport: 'streamable-http', url, ...extra });

function list(servers: ServerConfig[], budgetMs?: number, context: CallContext = CTX, extra: Partial<ListToolsRequest> = {}): Promise<ListToolsReply> {
  // A long default budget: on a loaded machine a cold server can take more than the production 1.5 s.
  return probe.request(contracts.listTools, { context, servers, budgetMs: budgetMs ?? 8_000, ...extra }, { callId: context.callId, timeoutMs: 15_000 });
}

function call(server: ServerConfig, tool: string, args: Record<string, unknown>, extra: Partial<CallToolRequest> = {}): Promise<CallToolReply> {
  const context = extra.context ?? CTX;
  return probe.request(contracts.callTool, { context, server, tool, arguments: args, ...extra }, { callId: context.callId, timeoutMs: 10_000 });
}

/** Tool calls a test orders server has handled (after its own input validation). */
const calls = (s: OrdersServerHandle, tool: string): number => s.calls[tool] ?? 0;

/** The `{"error": …, "fallback": true}` envelope a failed tool call carries to the model. */
function envelope(reply: CallToolReply): { error: string; fallback: boolean } {
  return JSON.parse(reply.text) as { error: string; fallback: boolean };
}

async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function listen(server: Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

async function startOrders(opts: Parameters<typeof startOrdersServer>[0] = {}): Promise<OrdersServerHandle> {
  const s = await startOrdersServer({ port: 0, ...opts });
  cleanup.push(() => s.close());
  return s;
}

/**
 * A stateless MCP server over real HTTP whose tools have names model providers refuse
 * (dots, slashes, more than 64 characters).
 */
async function startOddNamesServer(): Promise<string> {
  const httpServer = createServer((req, res) => {
    const server = new McpServer({ name: 'odd-names', version: '0.0.1' });
    const ok = async () => ({ content: [{ type: 'text' as const, text: 'ok' }] });
    server.registerTool('orders.lookup', { description: 'Look up an order', inputSchema: { id: z.string() }, annotations: { readOnlyHint: true } }, ok);
    server.registerTool('billing.get-invoice', { description: 'Get an invoice' }, ok);
    server.registerTool(`long_${'x'.repeat(70)}`, { description: 'A tool with a very long name' }, ok);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'POST' }).end();
      return;
    }
    void server.connect(transport).then(() => transport.handleRequest(req, res));
  });
  const port = await listen(httpServer);
  cleanup.push(() => closeServer(httpServer));
  return `http://127.0.0.1:${port}/${uniquePath()}/mcp`;
}

/** Accepts connections and never answers: a server that hangs. */
async function startHangingServer(): Promise<string> {
  const httpServer = createServer(() => undefined);
  const port = await listen(httpServer);
  cleanup.push(() => closeServer(httpServer));
  return `http://127.0.0.1:${port}/${uniquePath()}/mcp`;
}

interface Proxy {
  url: string;
  /** Per tool name: how many of its next tools/call requests to forward and then drop the connection on, unanswered. */
  dropAfterForwarding: Map<string, number>;
  /** Every request that came through: its headers and JSON-RPC method. */
  seen: Array<{ headers: IncomingHttpHeaders; method: string | undefined }>;
}

/**
 * An HTTP proxy in front of an MCP server. It can simulate a transport failure after the server did
 * the work: the request is forwarded and answered upstream, then the client's socket is destroyed.
 */
async function startProxy(target: string): Promise<Proxy> {
  const proxy: Proxy = { url: '', dropAfterForwarding: new Map(), seen: [] };
  const httpServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        let tool: string | undefined;
        let method: string | undefined;
        try {
          const msg = JSON.parse(body.toString('utf8')) as { method?: string; params?: { name?: string } };
          method = msg.method;
          if (msg.method === 'tools/call') tool = msg.params?.name;
        } catch {
          // not JSON (GET): forwarded as it is
        }
        proxy.seen.push({ headers: req.headers, method });
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'content-length', 'connection'].includes(k)) headers[k] = v;
        const upstream = await fetch(target, { method: req.method ?? 'GET', headers, ...(req.method === 'POST' ? { body } : {}) });
        const answer = Buffer.from(await upstream.arrayBuffer());
        const drops = tool ? (proxy.dropAfterForwarding.get(tool) ?? 0) : 0;
        if (tool && drops > 0) {
          proxy.dropAfterForwarding.set(tool, drops - 1);
          req.socket.destroy();
          return;
        }
        const out: Record<string, string> = {};
        upstream.headers.forEach((v, k) => {
          if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding'].includes(k)) out[k] = v;
        });
        res.writeHead(upstream.status, out).end(answer);
      })().catch(() => req.socket.destroy());
    });
  });
  const port = await listen(httpServer);
  cleanup.push(() => closeServer(httpServer));
  proxy.url = `http://127.0.0.1:${port}/${uniquePath()}/mcp`;
  return proxy;
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`broker.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'mcp-broker-test', log });
  probe = await Bus.connect({ url: infra.natsUrl, name: 'mcp-broker-test-probe', log });
  redis = await connectRedis(infra.redisUrl, { name: 'mcp-broker-test' });
  broker = await buildApp({ config: loadConfig({ LOG_LEVEL: 'silent' }), bus, redis, log, instanceId: 'mcp-broker-test' });
  await bus.nc.flush();
  orders = await startOrdersServer({ port: 0 });
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

afterAll(async () => {
  await broker?.close();
  await orders?.close();
  await probe?.drain(2000);
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('list-tools', () => {
  it('lists a server’s tools with descriptions, input schemas and annotations', async () => {
    const reply = await list([http('orders', orders.url)]);
    expect(reply.pending).toEqual([]);
    expect(reply.failed).toEqual([]);
    expect(reply.tools.map((t) => t.name)).toEqual(['check_order_status', 'process_return', 'noop']);
    const check = reply.tools[0]!;
    expect(check).toMatchObject({ name: 'check_order_status', originalName: 'check_order_status', server: 'orders' });
    expect(check.description).toMatch(/status, tracking number/);
    expect(check.inputSchema).toMatchObject({ type: 'object', properties: { order_id: { type: 'string' } }, required: ['order_id'] });
    expect(check.annotations).toEqual({ readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false });
    expect(reply.tools[1]!.annotations).toMatchObject({ readOnlyHint: false, idempotentHint: false });
  });

  it('turns tool names into provider-safe names and keeps the original', async () => {
    const url = await startOddNamesServer();
    const reply = await list([http('odd', url)]);
    expect(reply.failed).toEqual([]);
    const names = Object.fromEntries(reply.tools.map((t) => [t.originalName, t.name]));
    expect(names['orders.lookup']).toBe('orders_lookup');
    expect(names['billing.get-invoice']).toBe('billing_get-invoice');
    // Cut to 57 characters plus a hash of the full name, so long names sharing a beginning stay distinct.
    expect(names[`long_${'x'.repeat(70)}`]).toMatch(new RegExp(`^long_${'x'.repeat(52)}_[0-9a-f]{6}$`));
    for (const t of reply.tools) expect(t.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(reply.tools.find((t) => t.originalName === 'orders.lookup')?.annotations).toEqual({ readOnlyHint: true });
  });

  it('namespaces names with the server prefix', async () => {
    const url = await startOddNamesServer();
    const reply = await list([http('orders', orders.url, { prefix: 'shop' }), http('odd', url, { prefix: 'acme' })]);
    expect(reply.tools.filter((t) => t.server === 'orders').map((t) => [t.name, t.originalName])).toEqual([
      ['shop_check_order_status', 'check_order_status'],
      ['shop_process_return', 'process_return'],
      ['shop_noop', 'noop'],
    ]);
    expect(reply.tools.find((t) => t.originalName === 'orders.lookup')?.name).toBe('acme_orders_lookup');
  });

  it('offers only allowedTools', async () => {
    const reply = await list([http('orders', orders.url, { allowedTools: ['check_order_status', 'no_such_tool'] })]);
    expect(reply.tools.map((t) => t.name)).toEqual(['check_order_status']);
  });

  it('excludes the second server’s tools that collide with the first, and still replies', async () => {
    const other = await startOrders();
    const reply = await list([http('first', orders.url), http('second', other.url)]);
    expect(reply.tools.map((t) => `${t.server}:${t.name}`)).toEqual(['first:check_order_status', 'first:process_return', 'first:noop']);
    expect(reply.failed).toEqual([]);
    expect(reply.pending).toEqual([]);
    // With a prefix the same tools no longer collide.
    const prefixed = await list([http('first', orders.url), http('second', other.url, { prefix: 'b' })]);
    expect(prefixed.tools).toHaveLength(6);
  });

  it('reports a dead server in failed with MCP_SERVER_UNAVAILABLE and returns the others’ tools', async () => {
    const deadUrl = `http://127.0.0.1:${await freePort()}/${uniquePath()}/mcp`;
    const reply = await list([http('dead', deadUrl), http('orders', orders.url)]);
    expect(reply.failed).toEqual([{ server: 'dead', code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: expect.stringMatching(/^cannot connect to MCP server 'dead': connection refused/) }]);
    expect(reply.pending).toEqual([]);
    expect(reply.tools.map((t) => t.name)).toEqual(['check_order_status', 'process_return', 'noop']);
  });

  it('answers within the budget, listing a server that hangs as pending', async () => {
    await list([http('orders', orders.url)]); // warm: the orders list is cached, so only the hang decides the timing
    const hangUrl = await startHangingServer();
    const t0 = performance.now();
    const reply = await list([http('hang', hangUrl), http('orders', orders.url)], 300);
    const elapsed = performance.now() - t0;
    expect(reply.pending).toEqual(['hang']);
    expect(reply.failed).toEqual([]);
    expect(reply.tools.map((t) => t.server)).toEqual(['orders', 'orders', 'orders']);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(300 + 1500);
  });
});

describe('call-tool', () => {
  it('returns the text and structured content of a successful call', async () => {
    const before = calls(orders, 'check_order_status');
    const reply = await call(http('orders', orders.url), 'check_order_status', { order_id: 'ORD-1001' });
    const data = { order_id: 'ORD-1001', status: 'shipped', tracking_number: '1Z999AA10123456784', estimated_delivery: '2025-06-12', total_amount: 129.99 };
    expect(reply).toEqual({ isError: false, text: JSON.stringify({ success: true, data }), structuredContent: data, latencyMs: expect.any(Number) });
    expect(calls(orders, 'check_order_status')).toBe(before + 1);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['a missing order_id', {}, /^Invalid arguments for check_order_status: .*order_id/],
    ['an order_id of the wrong type', { order_id: 1001 }, /^Invalid arguments for check_order_status: \/order_id must be string/],
  ])('refuses %s before it reaches the server', async (_name, args, message) => {
    const before = calls(orders, 'check_order_status');
    const reply = await call(http('orders', orders.url), 'check_order_status', args);
    expect(reply.isError).toBe(true);
    expect(reply.code).toBe(ErrorCodes.TOOL_INVALID_ARGUMENTS);
    expect(envelope(reply)).toEqual({ error: expect.stringMatching(message), fallback: true });
    expect(calls(orders, 'check_order_status')).toBe(before);
  });

  it('turns an isError tool result into the fallback envelope', async () => {
    const reply = await call(http('orders', orders.url), 'check_order_status', { order_id: 'ORD-9999' });
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_FAILED });
    expect(envelope(reply)).toEqual({ error: 'Order ORD-9999 not found', fallback: true });
  });

  it('answers an unknown tool with TOOL_NOT_FOUND', async () => {
    const reply = await call(http('orders', orders.url), 'delete_everything', {});
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_NOT_FOUND });
    expect(envelope(reply)).toEqual({ error: "Tool delete_everything is not offered by 'orders'", fallback: true });
  });

  describe('a tool slower than its timeout', () => {
    // One slow server for the table: its close() waits for the requests the timeouts left running.
    let slow: OrdersServerHandle;
    beforeAll(async () => {
      slow = await startOrdersServer({ port: 0, latencyMs: 2000 });
    });
    afterAll(async () => {
      await slow?.close();
    });

    it.each<[string, Partial<ServerConfig>, Partial<CallToolRequest>]>([
      ['the request timeoutMs', {}, { timeoutMs: 200 }],
      ['the server timeoutMs', { timeoutMs: 200 }, {}],
      ['the per-tool timeoutMs', { timeoutMs: 5000, tools: { check_order_status: { timeoutMs: 200 } } }, {}],
    ])('gives up after %s with TOOL_TIMEOUT', async (_name, serverExtra, requestExtra) => {
      const t0 = performance.now();
      const reply = await call(http('slow', slow.url, serverExtra), 'check_order_status', { order_id: 'ORD-1001' }, requestExtra);
      expect(performance.now() - t0).toBeLessThan(1500);
      expect(reply).toMatchObject({ isError: true, code: ErrorCodes.TOOL_TIMEOUT });
      expect(envelope(reply)).toEqual({ error: expect.stringMatching(/did not answer within 200 ms/), fallback: true });
    });
  });
});

describe('connections', () => {
  beforeAll(async () => {
    // Pool state is per broker instance: these tests need every request to reach this test's broker.
    const others = (await probe.requestAll(contracts.health, {}, { param: 'mcp-broker', maxWaitMs: 300 })).filter((r) => r.instanceId !== 'mcp-broker-test');
    if (others.length) throw new Error(`other mcp-broker instances share this NATS queue group (${others.map((o) => o.instanceId).join(', ')}): stop them to run the pool tests`);
  });

  beforeEach(async () => {
    await broker.pool.closeAll();
    expect(broker.pool.size).toBe(0);
  });

  it('shares one pooled connection between 20 parallel calls', async () => {
    const before = calls(orders, 'check_order_status');
    const proxy = await startProxy(orders.url);
    const server = http('orders', proxy.url);
    const ids = Array.from({ length: 20 }, (_, i) => `call_pooled_${i}`);
    const replies = await Promise.all(ids.map((callId) => call(server, 'check_order_status', { order_id: 'ORD-1001' }, { context: { ...CTX, callId } })));
    expect(replies.every((r) => !r.isError)).toBe(true);
    expect(broker.pool.size).toBe(1);
    expect(calls(orders, 'check_order_status')).toBe(before + 20);
    // Seen from the server: one initialize handshake, then the 20 calls.
    expect(proxy.seen.filter((r) => r.method === 'initialize')).toHaveLength(1);
    expect(proxy.seen.filter((r) => r.method === 'tools/call')).toHaveLength(20);
    // A pooled connection belongs to no call: ending any of them leaves it open.
    const conn = broker.pool.peek(resolveServer(server as McpServerConfig, CTX))!;
    expect(conn.rs.callScoped).toBe(false);
    expect([...conn.callIds]).toEqual([]);
    // Ending one of those calls does not close a shared connection.
    probe.publish(contracts.callEnded, { callId: 'call_pooled_0', reason: 'caller-hangup', endedAt: new Date().toISOString() });
    await probe.nc.flush();
    await new Promise((r) => setTimeout(r, 200));
    expect(broker.pool.size).toBe(1);
  });

  it('opens a connection per call for a server whose headers name {{call.id}}, and closes it when the call ends', async () => {
    const proxy = await startProxy(orders.url);
    const server = http('scoped', proxy.url, { headers: { 'X-Call-Id': '{{call.id}}', 'X-Account': '{{account.id}}' } });
    const a = { ...CTX, callId: 'call_scoped_a' };
    const b = { ...CTX, callId: 'call_scoped_b' };
    expect((await call(server, 'check_order_status', { order_id: 'ORD-1001' }, { context: a })).isError).toBe(false);
    expect((await call(server, 'check_order_status', { order_id: 'ORD-1002' }, { context: b })).isError).toBe(false);
    expect((await call(server, 'check_order_status', { order_id: 'ORD-1003' }, { context: a })).isError).toBe(false);
    expect(broker.pool.size).toBe(2);
    expect(new Set(proxy.seen.map((r) => r.headers['x-call-id']))).toEqual(new Set(['call_scoped_a', 'call_scoped_b']));
    expect(proxy.seen.every((r) => r.headers['x-account'] === 'default')).toBe(true);
    // One MCP session per call: two initialize handshakes reached the server.
    expect(proxy.seen.filter((r) => r.method === 'initialize').map((r) => r.headers['x-call-id']).sort()).toEqual(['call_scoped_a', 'call_scoped_b']);
    const connA = broker.pool.peek(resolveServer(server as McpServerConfig, a))!;
    const connB = broker.pool.peek(resolveServer(server as McpServerConfig, b))!;
    expect(connA).not.toBe(connB);
    expect([...connA.callIds]).toEqual(['call_scoped_a']);

    probe.publish(contracts.callEnded, { callId: 'call_scoped_a', reason: 'caller-hangup', endedAt: new Date().toISOString() });
    await until(() => broker.pool.size === 1, 'the connection of call a to close');
    expect(connA.dead).toBe(true);
    expect(connB.dead).toBe(false);
    probe.publish(contracts.callEnded, { callId: 'call_scoped_b', reason: 'agent-hangup', endedAt: new Date().toISOString() });
    await until(() => broker.pool.size === 0, 'the connection of call b to close');
  });

  it('reconnects to a server that died between calls', async () => {
    const first = await startOrders();
    const port = Number(new URL(first.url).port);
    const server = http('restarting', first.url);
    expect((await call(server, 'check_order_status', { order_id: 'ORD-1001' })).isError).toBe(false);
    await first.close();

    const down = await call(server, 'check_order_status', { order_id: 'ORD-1001' });
    expect(down).toMatchObject({ isError: true, code: ErrorCodes.MCP_SERVER_UNAVAILABLE });
    expect(envelope(down).fallback).toBe(true);

    const second = await startOrders({ port });
    const up = await call(server, 'check_order_status', { order_id: 'ORD-1001' });
    expect(up.isError).toBe(false);
    expect(up.structuredContent).toMatchObject({ order_id: 'ORD-1001' });
    expect(calls(second, 'check_order_status')).toBe(1);
  });

  it('never sends a non-idempotent tool twice after a transport failure', async () => {
    const backend = await startOrders();
    const proxy = await startProxy(backend.url);
    proxy.dropAfterForwarding.set('process_return', 1);
    const reply = await call(http('flaky', proxy.url), 'process_return', { order_id: 'ORD-1003', reason: 'too small' });
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.MCP_SERVER_UNAVAILABLE });
    expect(envelope(reply).fallback).toBe(true);
    expect(calls(backend, 'process_return')).toBe(1);
    await new Promise((r) => setTimeout(r, 500));
    expect(calls(backend, 'process_return')).toBe(1);
  });

  it('retries a read-only tool after a transport failure (regression: the retry never happened on a fresh connection)', async () => {
    const backend = await startOrders();
    const proxy = await startProxy(backend.url);
    proxy.dropAfterForwarding.set('check_order_status', 1);
    const reply = await call(http('flaky', proxy.url), 'check_order_status', { order_id: 'ORD-1001' });
    expect(reply.isError).toBe(false);
    expect(reply.structuredContent).toMatchObject({ order_id: 'ORD-1001', status: 'shipped' });
    expect(calls(backend, 'check_order_status')).toBe(2);
  });
});

describe('registered servers and selection over the bus', () => {
  it('answers cmd.mcp-broker.servers-for-agent with the attached servers, header values withheld', async () => {
    const accountId = `acct_bus_${Date.now().toString(36)}`;
    const created = await broker.registry.create(accountId, { name: 'orders-registered', transport: 'streamable-http', url: orders.url, headers: [] });
    await broker.registry.attach(accountId, 'demo', created.id);
    const reply = await probe.request(contracts.serversForAgent, { accountId, agentId: 'demo' });
    expect(reply.servers).toEqual([expect.objectContaining({ id: created.id, name: 'orders-registered', url: orders.url, headers: [] })]);
    // The same servers join a call of that agent with `attached`, each descriptor naming its serverRef.
    const listed = await list([], undefined, { ...CTX, accountId }, { attached: true });
    expect(listed.tools.map((t) => [t.name, t.serverRef])).toEqual([
      ['check_order_status', created.id],
      ['process_return', created.id],
      ['noop', created.id],
    ]);
    const called = await probe.request(contracts.callTool, { context: { ...CTX, accountId }, serverRef: created.id, tool: 'check_order_status', arguments: { order_id: 'ORD-1001' } }, { callId: CTX.callId });
    expect(called.isError).toBe(false);
  });

  it('offers only the selected tools and reports the estimated tokens saved', async () => {
    const reply = await list([http('orders', orders.url)], undefined, CTX, { selection: { maxTools: 1, turns: ['I want to return the headphones I bought'] } });
    expect(reply.tools.map((t) => t.name)).toEqual(['process_return', 'discover_tools']);
    expect(reply.selection).toMatchObject({ applied: true, total: 3, offered: 2, strategy: 'bm25' });
    expect(reply.selection!.tokensOffered).toBeLessThan(reply.selection!.tokensAll + 200);
  });
});

describe('health', () => {
  it('answers cmd.mcp-broker.health', async () => {
    const replies = await probe.requestAll(contracts.health, {}, { param: 'mcp-broker', maxWaitMs: 500 });
    expect(replies.find((r) => r.instanceId === 'mcp-broker-test')).toMatchObject({ service: 'mcp-broker', status: 'ok', details: { connections: expect.any(Number) } });
  });
});
