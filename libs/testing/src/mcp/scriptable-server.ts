import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';

/** What a scripted tool does when called. */
export interface ScriptedToolContext {
  /** Aborted when the client sends `notifications/cancelled` for this request. */
  signal: AbortSignal;
  /** Sends `notifications/progress` (only when the client asked for progress). */
  progress(progress: number, total?: number, message?: string): Promise<void>;
}

/** A tool of the scriptable server: raw definition fields (invalid schemas pass through untouched) and a handler. */
export interface ScriptedTool {
  name: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: Record<string, unknown>;
  /** Default: answers `{"tool": name, "arguments": …}` as text. */
  handler?: (args: Record<string, unknown>, ctx: ScriptedToolContext) => Promise<CallToolResult> | CallToolResult;
}

/**
 * A fault to inject at the HTTP level, before the MCP SDK sees the request:
 * - `http-status`: answer every matching request with `status` (e.g. 503, 401) and a small body.
 * - `malformed`: answer 200 with a body that is not JSON.
 * - `not-jsonrpc`: answer 200 JSON that is not a JSON-RPC response (`{"hello":"world"}`).
 * - `hang`: never answer (the socket stays open until the server closes).
 * - `drop`: destroy the socket without an answer (after reading the request).
 */
export type Fault = { mode: 'http-status'; status: number } | { mode: 'malformed' } | { mode: 'not-jsonrpc' } | { mode: 'hang' } | { mode: 'drop' };

export interface ScriptableMcpServerOptions {
  /** Server name in `initialize`. */
  name?: string;
  tools?: ScriptedTool[];
  /** `tools/list` page size: more tools than this come with `nextCursor`. Default: all on one page. */
  pageSize?: number;
  /** Delay before each `tools/list` page is answered (ms). */
  listLatencyMs?: number;
  /** Delay before a tool handler runs (ms). */
  callLatencyMs?: number;
  /** A fresh server and transport per request, no session (like agtOS and the orders example); default false (sessions). */
  stateless?: boolean;
  /** Answer POSTs with SSE streams instead of JSON bodies (default false: JSON). */
  sse?: boolean;
  /** A `tools/list` answer sent as it is, bypassing the SDK (for invalid tool definitions). */
  rawToolsList?: unknown;
  /** Header the server requires (`{ name: 'authorization', value: 'Bearer x' }`); others get 401. */
  requireHeader?: { name: string; value: string };
  port?: number;
  /**
   * Endpoint path; default `/<random>/mcp`, so a server never shares its URL with an earlier one that
   * had the same port (a tool-list cache keyed by URL would mix them up). Pass it to restart "the same" server.
   */
  path?: string;
}

export interface ScriptableMcpServer {
  /** `http://127.0.0.1:<port><path>` */
  url: string;
  port: number;
  /** The endpoint path (pass it as `path` to start a server at the same URL). */
  path: string;
  /** JSON-RPC requests and notifications received, by method (faulted ones included). */
  requests: Record<string, number>;
  /** Tool calls that reached a handler, by tool name. */
  calls: Record<string, number>;
  /** Request ids the client cancelled (`notifications/cancelled`), with their reason. */
  cancelled: Array<{ requestId: unknown; reason?: string }>;
  /** Headers of every HTTP request, lower-cased names. */
  seenHeaders: Array<Record<string, string | string[] | undefined>>;
  /** Replaces the tool list; with sessions, every session gets `notifications/tools/list_changed`. */
  setTools(tools: ScriptedTool[]): Promise<void>;
  /** Injects a fault for the given JSON-RPC methods (all when omitted); `undefined` clears it. */
  setFault(fault: Fault | undefined, methods?: string[]): void;
  /** Forgets every session, as a restarted server would (their requests then get 404). */
  forgetSessions(): void;
  /** Open sessions. */
  readonly sessions: number;
  close(): Promise<void>;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An MCP server over real streamable HTTP, built on the SDK's low-level `Server`, whose tools,
 * timing and failures a test scripts: paging, slow lists, list_changed, progress, cancellation,
 * HTTP errors, malformed JSON-RPC, hangs, dropped connections, forgotten sessions, invalid schemas.
 */
export async function startScriptableMcpServer(opts: ScriptableMcpServerOptions = {}): Promise<ScriptableMcpServer> {
  let tools: ScriptedTool[] = opts.tools ?? [];
  let fault: { fault: Fault; methods: string[] | undefined } | undefined;
  const sessions = new Map<string, { server: Server; transport: StreamableHTTPServerTransport }>();
  const requests: Record<string, number> = {};
  const calls: Record<string, number> = {};
  const cancelled: ScriptableMcpServer['cancelled'] = [];
  const seenHeaders: ScriptableMcpServer['seenHeaders'] = [];
  const hanging = new Set<ServerResponse>();

  const buildServer = (): Server => {
    const server = new Server({ name: opts.name ?? 'scriptable', version: '0.0.1' }, { capabilities: { tools: { listChanged: true } } });
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      if (opts.listLatencyMs) await sleep(opts.listLatencyMs);
      const defs = tools.map((t) => ({
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        inputSchema: t.inputSchema === undefined ? { type: 'object', properties: {} } : t.inputSchema,
        ...(t.annotations ? { annotations: t.annotations } : {}),
      }));
      const size = opts.pageSize ?? (defs.length || 1);
      const start = Number(request.params?.cursor ?? 0) || 0;
      const page = defs.slice(start, start + size);
      const next = start + size < defs.length ? String(start + size) : undefined;
      return { tools: page, ...(next ? { nextCursor: next } : {}) } as never;
    });
    server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const name = request.params.name;
      const tool = tools.find((t) => t.name === name);
      if (!tool) return { content: [{ type: 'text', text: `Unknown tool ${name}` }], isError: true };
      if (opts.callLatencyMs) await sleep(opts.callLatencyMs);
      calls[name] = (calls[name] ?? 0) + 1;
      const args = (request.params.arguments ?? {}) as Record<string, unknown>;
      const token = request.params._meta?.progressToken;
      const ctx: ScriptedToolContext = {
        signal: extra.signal,
        progress: async (progress, total, message) => {
          if (token === undefined) return;
          await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress, ...(total !== undefined ? { total } : {}), ...(message ? { message } : {}) } });
        },
      };
      if (tool.handler) return tool.handler(args, ctx);
      return { content: [{ type: 'text', text: JSON.stringify({ tool: name, arguments: args }) }] };
    });
    return server;
  };

  const newTransport = (stateless: boolean) =>
    new StreamableHTTPServerTransport({
      sessionIdGenerator: stateless ? undefined : () => randomUUID(),
      enableJsonResponse: !opts.sse,
    });

  const faultFor = (methods: string[]): Fault | undefined => {
    if (!fault) return undefined;
    if (!fault.methods || methods.some((m) => fault?.methods?.includes(m))) return fault.fault;
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    seenHeaders.push({ ...req.headers });
    if (opts.requireHeader && req.headers[opts.requireHeader.name.toLowerCase()] !== opts.requireHeader.value) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Unauthorized' }, id: null }));
      return;
    }
    const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
    let parsed: unknown;
    try {
      parsed = body.length ? JSON.parse(body.toString('utf8')) : undefined;
    } catch {
      parsed = undefined;
    }
    const messages = (Array.isArray(parsed) ? parsed : parsed ? [parsed] : []) as Array<{ method?: string; id?: unknown; params?: { requestId?: unknown; reason?: string } }>;
    const methods = messages.map((m) => m.method ?? '').filter(Boolean);
    for (const m of messages) {
      if (!m.method) continue;
      requests[m.method] = (requests[m.method] ?? 0) + 1;
      if (m.method === 'notifications/cancelled') cancelled.push({ requestId: m.params?.requestId, ...(m.params?.reason ? { reason: m.params.reason } : {}) });
    }
    const f = req.method === 'POST' ? faultFor(methods) : undefined;
    if (f) {
      const id = messages[0]?.id ?? null;
      switch (f.mode) {
        case 'http-status':
          res.writeHead(f.status, { 'content-type': 'text/plain' }).end(`injected HTTP ${f.status}`);
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":' + JSON.stringify(id) + ',"result":{"tools":[{"name":');
          return;
        case 'not-jsonrpc':
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ hello: 'world', id }));
          return;
        case 'hang':
          hanging.add(res);
          return;
        case 'drop':
          req.socket.destroy();
          return;
      }
    }
    if (opts.rawToolsList !== undefined && methods.length === 1 && methods[0] === 'tools/list' && req.method === 'POST') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: messages[0]?.id ?? null, result: opts.rawToolsList }));
      return;
    }
    if (opts.stateless) {
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      const server = buildServer();
      const transport = newTransport(true);
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res, parsed);
      return;
    }
    const sid = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(sid) ? sid[0] : sid;
    if (sessionId) {
      const s = sessions.get(sessionId);
      if (!s) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
        return;
      }
      await s.transport.handleRequest(req, res, parsed);
      return;
    }
    if (req.method !== 'POST' || !methods.includes('initialize')) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no session' }, id: null }));
      return;
    }
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: !opts.sse,
      onsessioninitialized: (id) => {
        sessions.set(id, { server, transport });
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    await transport.handleRequest(req, res, parsed);
  };

  const endpoint = opts.path ?? `/${randomUUID().slice(0, 8)}/mcp`;
  const http = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path !== endpoint) {
      res.writeHead(404).end();
      return;
    }
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String((err as Error)?.message ?? err));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}${endpoint}`,
    port,
    path: endpoint,
    requests,
    calls,
    cancelled,
    seenHeaders,
    async setTools(next) {
      tools = next;
      await Promise.allSettled([...sessions.values()].map((s) => s.server.sendToolListChanged()));
    },
    setFault(f, methods) {
      fault = f ? { fault: f, methods } : undefined;
    },
    forgetSessions() {
      const all = [...sessions.values()];
      sessions.clear();
      for (const s of all) void s.transport.close().catch(() => undefined);
    },
    get sessions() {
      return sessions.size;
    },
    async close() {
      for (const res of hanging) res.destroy();
      for (const s of sessions.values()) await s.transport.close().catch(() => undefined);
      sessions.clear();
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
