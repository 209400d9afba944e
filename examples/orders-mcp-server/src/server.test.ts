import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { request as httpRequest } from 'node:http';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { startOrdersServer } from './server.ts';
import type { OrdersServerHandle } from './server.ts';

const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

function textOf(result: CallToolResult): string {
  const first = result.content[0];
  if (first?.type !== 'text') throw new Error(`expected text content, got ${JSON.stringify(result.content)}`);
  return first.text;
}

async function connectClient(url: string): Promise<Client> {
  const client = new Client({ name: 'orders-mcp-server-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return client;
}

describe('orders MCP server over streamable HTTP', () => {
  let server: OrdersServerHandle;
  let client: Client;

  beforeAll(async () => {
    server = await startOrdersServer({ port: 0 });
    client = await connectClient(server.url);
    // Client.callTool validates structuredContent against the outputSchemas cached by listTools().
    await client.listTools();
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('serves the MCP endpoint at /mcp on the bound port', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(server.url).not.toContain(':0/');
  });

  it('lists the three tools with honest annotations and output schemas', async () => {
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(['check_order_status', 'noop', 'process_return']);

    expect(byName['check_order_status']?.annotations).toEqual({
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: false,
    });
    expect(byName['check_order_status']?.inputSchema.required).toEqual(['order_id']);
    expect(byName['check_order_status']?.outputSchema?.required).toEqual([
      'order_id',
      'status',
      'tracking_number',
      'estimated_delivery',
      'total_amount',
    ]);

    expect(byName['process_return']?.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
    });
    expect(byName['process_return']?.inputSchema.required).toEqual(['order_id', 'reason']);
    expect(Object.keys(byName['process_return']?.inputSchema.properties ?? {})).toContain('items');
    expect(byName['process_return']?.outputSchema?.required).toEqual(['return_id', 'order_id', 'status']);

    expect(byName['noop']?.annotations?.readOnlyHint).toBe(true);
  });

  it('check_order_status returns the order as JSON text and structuredContent', async () => {
    const result = (await client.callTool({
      name: 'check_order_status',
      arguments: { order_id: 'ORD-1001' },
    })) as CallToolResult;
    const data = {
      order_id: 'ORD-1001',
      status: 'shipped',
      tracking_number: '1Z999AA10123456784',
      estimated_delivery: '2025-06-12',
      total_amount: 129.99,
    };
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual(data);
    expect(JSON.parse(textOf(result))).toEqual({ success: true, data });
  });

  it('check_order_status accepts an order number read aloud without the prefix', async () => {
    const result = (await client.callTool({
      name: 'check_order_status',
      arguments: { order_id: ' 1002 ' },
    })) as CallToolResult;
    expect(result.structuredContent).toMatchObject({ order_id: 'ORD-1002', status: 'processing', tracking_number: null });
  });

  it('check_order_status reports an unknown order as a tool error', async () => {
    const result = (await client.callTool({
      name: 'check_order_status',
      arguments: { order_id: 'ORD-9999' },
    })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe('Order ORD-9999 not found');
    expect(result.structuredContent).toBeUndefined();
  });

  it('process_return creates an RMA and refuses a second return for the same order', async () => {
    const first = (await client.callTool({
      name: 'process_return',
      arguments: { order_id: 'ORD-1003', reason: 'Chair arrived scratched' },
    })) as CallToolResult;
    expect(first.isError).toBeFalsy();
    const data = first.structuredContent as { return_id: string; order_id: string; status: string };
    expect(data.return_id).toMatch(/^RMA-\d{6}$/);
    expect(data).toEqual({ return_id: data.return_id, order_id: 'ORD-1003', status: 'return_initiated' });
    expect(JSON.parse(textOf(first))).toEqual({ success: true, data });

    const second = (await client.callTool({
      name: 'process_return',
      arguments: { order_id: 'ORD-1003', reason: 'Changed my mind' },
    })) as CallToolResult;
    expect(second.isError).toBe(true);
    expect(textOf(second)).toBe(`A return already exists for ORD-1003: ${data.return_id}`);
    expect(second.structuredContent).toBeUndefined();
  });

  it('process_return accepts a subset of items by SKU or product name', async () => {
    const result = (await client.callTool({
      name: 'process_return',
      arguments: { order_id: 'ORD-1006', reason: 'Stand wobbles', items: ['speaker stand'] },
    })) as CallToolResult;
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ order_id: 'ORD-1006', status: 'return_initiated' });
  });

  it.each([
    ['an unknown order', { order_id: 'ORD-9999', reason: 'x' }, 'Order ORD-9999 not found'],
    [
      'a processing order',
      { order_id: 'ORD-1002', reason: 'x' },
      'Order ORD-1002 is processing; only shipped or delivered orders can be returned',
    ],
    [
      'a cancelled order',
      { order_id: 'ORD-1004', reason: 'x' },
      'Order ORD-1004 is cancelled; only shipped or delivered orders can be returned',
    ],
    [
      'an item not on the order',
      { order_id: 'ORD-1005', reason: 'x', items: ['Toaster'] },
      'Order ORD-1005 has no item Toaster; it contains Wool Socks (SCK-101)',
    ],
  ])('process_return refuses %s', async (_label, args, message) => {
    const result = (await client.callTool({ name: 'process_return', arguments: args })) as CallToolResult;
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(message);
  });

  it('noop returns ok and every tool call is counted', async () => {
    const before = { ...server.calls };
    const result = (await client.callTool({ name: 'noop', arguments: {} })) as CallToolResult;
    expect(textOf(result)).toBe('ok');
    await client.callTool({ name: 'check_order_status', arguments: { order_id: 'ORD-1001' } });
    expect(server.calls['noop']).toBe((before['noop'] ?? 0) + 1);
    expect(server.calls['check_order_status']).toBe((before['check_order_status'] ?? 0) + 1);
    expect(server.calls['process_return']).toBe(before['process_return']);
  });

  it.each(['GET', 'DELETE'])('%s /mcp answers 405 with a JSON-RPC error', async (method) => {
    const res = await fetch(server.url, { method, headers: { Accept: 'application/json, text/event-stream' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  });

  it('answers a malformed JSON body with a JSON-RPC parse error and keeps serving', async () => {
    const res = await fetch(server.url, { method: 'POST', headers: MCP_HEADERS, body: '{"jsonrpc":"2.0",' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { jsonrpc: string; id: unknown; error: { code: number } };
    expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });

    const health = await fetch(new URL('/healthz', server.url));
    expect(health.status).toBe(200);
  });

  it('pins the wire shape of tools/list over plain JSON-RPC, without initialize', async () => {
    const res = await fetch(server.url, {
      method: 'POST',
      headers: MCP_HEADERS,
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const body = (await res.json()) as {
      jsonrpc: string;
      id: number;
      result: { tools: { name: string; inputSchema: { type: string }; annotations: object }[] };
    };
    expect(body.jsonrpc).toBe('2.0');
    expect(body.id).toBe(7);
    expect(body.result.tools.map((t) => t.name)).toEqual(['check_order_status', 'process_return', 'noop']);
    for (const tool of body.result.tools) {
      expect(tool.inputSchema.type).toBe('object');
      expect(tool.annotations).toBeTypeOf('object');
    }
  });

  it('GET /healthz answers 200', async () => {
    const res = await fetch(new URL('/healthz', server.url));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('rejects a non-loopback Host header while bound to loopback (DNS rebinding)', async () => {
    const { port } = new URL(server.url);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port, path: '/mcp', method: 'POST', headers: { ...MCP_HEADERS, Host: 'attacker.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
    });
    expect(status).toBe(403);
  });
});

describe('orders MCP server latency simulation', () => {
  let server: OrdersServerHandle;
  let client: Client;

  beforeAll(async () => {
    server = await startOrdersServer({ port: 0, latencyMs: 150 });
    client = await connectClient(server.url);
  });

  afterAll(async () => {
    await client?.close();
    await server?.close();
  });

  it('delays each tool call by at least latencyMs', async () => {
    const started = performance.now();
    const result = (await client.callTool({ name: 'noop', arguments: {} })) as CallToolResult;
    expect(textOf(result)).toBe('ok');
    expect(performance.now() - started).toBeGreaterThanOrEqual(145);
    expect(server.calls['noop']).toBe(1);
  });
});
