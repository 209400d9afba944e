import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

export interface MinimalTool {
  name: string;
  description?: string;
  inputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  /** The `tools/call` result; default `{ content: [{ type: 'text', text: 'ok' }] }`. */
  result?: Record<string, unknown>;
}

export interface MinimalMcpServer {
  url: string;
  /** Requests by JSON-RPC method. */
  requests: Record<string, number>;
  close(): Promise<void>;
}

const PROTOCOL_VERSION = '2025-06-18';

/**
 * The smallest streamable-HTTP MCP server that still speaks the wire format: JSON-RPC over POST with
 * JSON answers, a session id from `initialize`, `notifications/*` accepted with 202, `tools/list`
 * and `tools/call` answered from a fixed table, `ping`, 405 for GET (no server-initiated stream).
 * No SDK on the server side: a benchmark against it measures the client path, not the server.
 */
export async function startMinimalMcpServer(tools: MinimalTool[], opts: { port?: number; /** Delay before `tools/list` is answered (ms). */ listLatencyMs?: number } = {}): Promise<MinimalMcpServer> {
  const requests: Record<string, number> = {};
  const sessions = new Set<string>();
  const byName = new Map(tools.map((t) => [t.name, t]));
  const list = JSON.stringify(tools.map(({ result: _r, ...t }) => ({ inputSchema: { type: 'object', properties: {} }, ...t })));
  const endpoint = `/${randomUUID().slice(0, 8)}/mcp`;

  const answer = (res: ServerResponse, body: string, headers: Record<string, string> = {}) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    let msg: { jsonrpc?: string; id?: string | number; method?: string; params?: { name?: string } };
    try {
      msg = JSON.parse(raw) as typeof msg;
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}');
      return;
    }
    const method = msg.method ?? '';
    requests[method] = (requests[method] ?? 0) + 1;
    if (msg.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const id = JSON.stringify(msg.id);
    if (method === 'initialize') {
      const sid = randomUUID();
      sessions.add(sid);
      answer(res, `{"jsonrpc":"2.0","id":${id},"result":{"protocolVersion":"${PROTOCOL_VERSION}","capabilities":{"tools":{}},"serverInfo":{"name":"minimal","version":"0"}}}`, { 'mcp-session-id': sid });
      return;
    }
    const sid = req.headers['mcp-session-id'];
    if (typeof sid !== 'string' || !sessions.has(sid)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(`{"jsonrpc":"2.0","id":${id},"error":{"code":-32001,"message":"Session not found"}}`);
      return;
    }
    switch (method) {
      case 'ping':
        return answer(res, `{"jsonrpc":"2.0","id":${id},"result":{}}`);
      case 'tools/list': {
        const body = `{"jsonrpc":"2.0","id":${id},"result":{"tools":${list}}}`;
        if (opts.listLatencyMs) setTimeout(() => answer(res, body), opts.listLatencyMs);
        else answer(res, body);
        return;
      }
      case 'tools/call': {
        const tool = byName.get(msg.params?.name ?? '');
        if (!tool) return answer(res, `{"jsonrpc":"2.0","id":${id},"error":{"code":-32602,"message":"Unknown tool"}}`);
        return answer(res, `{"jsonrpc":"2.0","id":${id},"result":${JSON.stringify(tool.result ?? { content: [{ type: 'text', text: 'ok' }] })}}`);
      }
      default:
        return answer(res, `{"jsonrpc":"2.0","id":${id},"error":{"code":-32601,"message":"Method not found"}}`);
    }
  };

  const http = createServer((req, res) => {
    if (req.url !== endpoint) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handle(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  http.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => http.listen(opts.port ?? 0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}${endpoint}`,
    requests,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
