import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { RedisEventStore } from '../adapters/redis-event-store.ts';
import type { SessionStore } from '../adapters/sessions.ts';
import type { ToolContext, ToolServices } from '../tools/context.ts';
import { createToolServer } from '../tools/registry.ts';
import { authenticate, header, RpcCodes, type AuthDeps, type Refusal } from './auth.ts';

export interface McpRouteDeps {
  auth: AuthDeps;
  services: ToolServices;
  maxBodyBytes: number;
  mode: 'stateless' | 'session';
  /** Allowed `Origin` values, without port (any port of an allowed origin is allowed); `*` allows all. */
  allowedOrigins: readonly string[];
  /** Session mode only. */
  session?: { store: SessionStore; redis: Redis; ttlS: number; replayWaitMs: number };
}

/** Body that failed to parse as JSON: answered with a JSON-RPC parse error, not a 500. */
const PARSE_ERROR = Symbol('parse-error');

/** Longest a session-mode request keeps running after its client went away (its response is stored for a resume). */
const ORPHAN_REQUEST_MAX_MS = 15 * 60_000;

const rpcError = (reply: FastifyReply, status: number, code: number, message: string, headers: Record<string, string> = {}) =>
  reply.status(status).headers(headers).type('application/json').send({ jsonrpc: '2.0', error: { code, message }, id: null });

const refuse = (reply: FastifyReply, r: Refusal) => rpcError(reply, r.status, r.code, r.message, r.headers);

/** JSON-RPC requests (method and id) in a POST body: each must be answered before the transport may close. */
function requestIds(body: unknown): Set<string | number> {
  const msgs = Array.isArray(body) ? body : [body];
  const ids = new Set<string | number>();
  for (const m of msgs) {
    if (m && typeof m === 'object' && 'method' in m && 'id' in m) {
      const id = (m as { id: unknown }).id;
      if (typeof id === 'string' || typeof id === 'number') ids.add(id);
    }
  }
  return ids;
}

/** Whether a browser `Origin` may call: absent, `*` configured, or scheme+host in the list (any port). */
export function originAllowed(origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined || allowed.includes('*')) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return allowed.includes(`${url.protocol}//${url.hostname}`);
}

/** `{ only: name }` for a body that is a single `tools/call` (stateless mode then builds only that tool). */
function calledTool(body: unknown): { only?: string } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return {};
  const m = body as { method?: unknown; params?: { name?: unknown } };
  return m.method === 'tools/call' && typeof m.params?.name === 'string' ? { only: m.params.name } : {};
}

const isResponse = (m: JSONRPCMessage): m is JSONRPCMessage & { id: string | number } => 'id' in m && !('method' in m);

/**
 * Session mode serves every request of a session with a fresh transport bound to the session id that
 * Redis knows, so any instance can serve any session (and resume its streams from the Redis event
 * store). The SDK has no public way to bind a transport to an existing session, so this sets the two
 * fields its initialize path would set; the session-mode integration test fails if an SDK upgrade
 * moves them.
 */
function adoptSession(transport: StreamableHTTPServerTransport, sessionId: string): void {
  const inner = (transport as unknown as { _webStandardTransport?: { sessionId?: string; _initialized?: boolean } })._webStandardTransport;
  if (!inner || !('_initialized' in inner)) throw new Error('MCP SDK internals changed: cannot bind a transport to an existing session');
  inner.sessionId = sessionId;
  inner._initialized = true;
}

/**
 * `POST /mcp` (and `GET`/`DELETE` in session mode): streamable HTTP, a fresh server and transport
 * per request. Stateless (agtOS): JSON responses, no session ids, `GET`/`DELETE` answer 405.
 */
export async function mcpRoutes(app: FastifyInstance, deps: McpRouteDeps): Promise<void> {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: deps.maxBodyBytes }, (_req, body, done) => {
    if (body === '') return done(null, undefined);
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(null, PARSE_ERROR);
    }
  });

  // Body and media-type refusals on /mcp are JSON-RPC errors too; everything else goes to the app's handler.
  app.setErrorHandler((err: { statusCode?: number; code?: string }, _req, reply) => {
    if (err.statusCode === 413) return rpcError(reply, 413, -32600, `Request body larger than ${deps.maxBodyBytes} bytes`);
    if (err.statusCode === 415) return rpcError(reply, 415, -32600, 'Unsupported Content-Type: send application/json');
    throw err;
  });

  const serve = async (req: FastifyRequest, reply: FastifyReply) => {
    // DNS-rebinding protection: a browser page of another origin never reaches the tools.
    if (!originAllowed(header(req, 'origin'), deps.allowedOrigins)) return rpcError(reply, 403, RpcCodes.forbidden, 'Origin not allowed');
    const auth = await authenticate(req, deps.auth);
    if ('refusal' in auth) return refuse(reply, auth.refusal);
    if (req.body === PARSE_ERROR) return rpcError(reply, 400, -32700, 'Parse error: body is not valid JSON');
    if (deps.mode === 'session') return serveSession(req, reply, auth.ctx);
    const server = createToolServer(auth.ctx, deps.services, { ...calledTool(req.body) });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req.raw, reply.raw, req.body);
  };

  const serveSession = async (req: FastifyRequest, reply: FastifyReply, ctx: ToolContext) => {
    const s = deps.session!;
    let sessionId = header(req, 'mcp-session-id');
    const fresh = sessionId === undefined;
    if (!fresh) {
      const record = await s.store.touch(sessionId!);
      // Another account's session looks exactly like no session.
      if (!record || record.accountId !== ctx.accountId) return rpcError(reply, 404, RpcCodes.unauthorized, 'Session not found');
      if (record.personaId !== ctx.personaId) return rpcError(reply, 403, RpcCodes.forbidden, `This session belongs to persona ${record.personaId}`);
    } else if (req.method !== 'POST') {
      return rpcError(reply, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
    }
    sessionId ??= randomUUID();
    const id = sessionId;
    const abort = new AbortController();
    const events = new RedisEventStore(s.redis, id, { ttlS: s.ttlS, replayWaitMs: s.replayWaitMs }, abort.signal);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      eventStore: events,
      // Sent with the priming event: a client whose stream breaks reconnects after a second.
      retryInterval: 1000,
      onsessioninitialized: async (sid) => s.store.put(sid, { accountId: ctx.accountId, personaId: ctx.personaId, keyId: ctx.key.id, createdAt: new Date().toISOString() }),
      onsessionclosed: async (sid) => s.store.delete(sid),
    });
    if (!fresh) adoptSession(transport, id);
    const server: McpServer = createToolServer(ctx, deps.services);

    let closed = false;
    let orphanTimer: NodeJS.Timeout | undefined;
    const close = () => {
      if (closed) return;
      closed = true;
      abort.abort();
      clearTimeout(orphanTimer);
      void transport.close();
      void server.close();
    };
    // A POST stays open until every request in it is answered, even after its client left: the
    // answers go to the event store, where a resume (here or on another instance) finds them.
    const pending = req.method === 'POST' ? requestIds(req.body) : new Set<string | number>();
    if (pending.size) {
      const send = transport.send.bind(transport);
      transport.send = async (message, options) => {
        await send(message, options);
        if (isResponse(message) && pending.delete(message.id) && pending.size === 0) setImmediate(close);
      };
    }
    // A resumed stream whose answer was replayed is finished: end it once the response is out.
    events.onReplayed = (_stream, complete) => {
      if (complete) setImmediate(close);
    };
    reply.hijack();
    reply.raw.on('close', () => {
      if (pending.size === 0) return close();
      orphanTimer = setTimeout(close, ORPHAN_REQUEST_MAX_MS);
      orphanTimer.unref();
    });
    await server.connect(transport);
    await transport.handleRequest(req.raw, reply.raw, req.body);
  };

  app.post('/mcp', serve);
  if (deps.mode === 'session') {
    app.get('/mcp', serve);
    app.delete('/mcp', serve);
    return;
  }
  const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) => rpcError(reply, 405, -32000, 'Method not allowed: this server is stateless', { allow: 'POST' });
  app.get('/mcp', notAllowed);
  app.delete('/mcp', notAllowed);
}
