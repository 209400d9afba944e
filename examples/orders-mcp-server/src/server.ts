import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { openOrdersDb } from './db.ts';
import { TOOL_NAMES, createOrdersMcpServer } from './tools.ts';
import type { ToolName } from './tools.ts';

export interface OrdersServerOptions {
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** Port to bind; 0 picks a free one. Default 3901. */
  port?: number;
  /** Delay added to every tool call, to simulate a slow backend in benchmarks. Default 0. */
  latencyMs?: number;
  /** SQLite file to load and persist to (main.ts passes `ORDERS_DB_PATH`). Default: a fresh in-memory database. */
  dbPath?: string;
}

export interface OrdersServerHandle {
  /** MCP endpoint, `http://host:port/mcp`. */
  url: string;
  /** Stops accepting connections, waits for in-flight requests (up to 5 s) and closes the database. */
  close(): Promise<void>;
  /** Tool calls handled so far, by tool name (counted after input validation). */
  calls: Record<string, number>;
}

/** How long close() waits for in-flight requests before cutting their connections. */
const CLOSE_GRACE_MS = 5_000;

/** Hostnames accepted in the Host header while bound to loopback (DNS-rebinding protection). */
const LOOPBACK_HOSTNAMES = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Starts the orders MCP server: stateless streamable HTTP on `POST /mcp`, a fresh McpServer and
 * transport per request, and `GET /healthz` for readiness probes.
 */
export async function startOrdersServer(opts: OrdersServerOptions = {}): Promise<OrdersServerHandle> {
  const host = opts.host ?? '127.0.0.1';
  const latencyMs = opts.latencyMs ?? 0;
  const db = await openOrdersDb({ path: opts.dbPath });
  const calls = Object.fromEntries(TOOL_NAMES.map((name) => [name, 0])) as Record<ToolName, number>;
  const checkHost = LOOPBACK_HOSTNAMES.includes(host) || host === '::1';

  const handleMcpPost = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const server = createOrdersMcpServer({ db, latencyMs, calls });
    // Stateless: no session id, and a transport may serve only one request.
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      // No parsed body: the transport reads it, enforces the size limit and answers bad JSON with -32700.
      await transport.handleRequest(req, res);
    } catch (err) {
      console.error('orders-mcp-server: error handling POST /mcp', err);
      if (!res.headersSent) sendJson(res, 500, rpcError(-32603, 'Internal server error'));
      else res.end();
    }
  };

  const httpServer = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path === '/healthz') {
      if (req.method === 'GET' || req.method === 'HEAD') sendJson(res, 200, { status: 'ok' });
      else sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET, HEAD' });
      return;
    }
    if (path !== '/mcp') {
      sendJson(res, 404, { error: 'not found' });
      return;
    }
    if (checkHost && !isLoopbackHostHeader(req.headers.host)) {
      sendJson(res, 403, rpcError(-32000, `Invalid Host header: ${req.headers.host ?? '(missing)'}`));
      return;
    }
    if (req.method !== 'POST') {
      // Stateless server: no standalone SSE stream (GET) and no session to end (DELETE).
      sendJson(res, 405, rpcError(-32000, 'Method not allowed.'), { Allow: 'POST' });
      return;
    }
    void handleMcpPost(req, res);
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(opts.port ?? 3901, host, () => {
      httpServer.off('error', reject);
      resolve();
    });
  });
  const { port } = httpServer.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve, reject) => {
      const force = setTimeout(() => httpServer.closeAllConnections(), CLOSE_GRACE_MS);
      httpServer.close((err) => {
        clearTimeout(force);
        db.close();
        if (err) reject(err);
        else resolve();
      });
      httpServer.closeIdleConnections();
    });
    return closing;
  };

  return { url: `http://${urlHost}:${port}/mcp`, close, calls };
}

function isLoopbackHostHeader(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  try {
    return LOOPBACK_HOSTNAMES.includes(new URL(`http://${hostHeader}`).hostname);
  } catch {
    return false;
  }
}

function rpcError(code: number, message: string): object {
  return { jsonrpc: '2.0', error: { code, message }, id: null };
}

function sendJson(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));
}
