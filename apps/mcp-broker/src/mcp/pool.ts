import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Tool, CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { context, propagation } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError, type CallContext, type McpServerConfig } from '@switchboard/contracts';
import { isCallScoped, resolveHeaders, serverIdentity } from './headers.ts';

/** A live MCP client connection to one server identity, with its cached tool list. */
export interface Connection {
  identity: string;
  server: McpServerConfig;
  client: Client;
  /** Calls holding this connection (call-scoped connections close when their call ends). */
  callIds: Set<string>;
  callScoped: boolean;
  tools: Tool[] | undefined;
  toolsAt: number;
  dead: boolean;
  /** Tool calls running on this connection; a released connection closes when this reaches 0. */
  inflight: number;
  closeWhenIdle: boolean;
}

/** fetch that adds the active W3C trace context to every request an MCP transport makes. */
const tracingFetch: typeof fetch = (input, init) => {
  const headers = new Headers(init?.headers);
  propagation.inject(context.active(), headers, { set: (c, k, v) => c.set(k, v) });
  return fetch(input, { ...init, headers });
};

function transportFor(server: McpServerConfig, headers: Record<string, string>): Transport {
  switch (server.transport) {
    case 'streamable-http':
      return new StreamableHTTPClientTransport(new URL(server.url ?? ''), { requestInit: { headers }, fetch: tracingFetch });
    case 'sse':
      return new SSEClientTransport(new URL(server.url ?? ''), { requestInit: { headers }, fetch: tracingFetch });
    case 'stdio':
      return new StdioClientTransport({ command: server.command ?? '', args: server.args ?? [], ...(server.env ? { env: server.env } : {}), ...(server.cwd ? { cwd: server.cwd } : {}), stderr: 'pipe' });
    default:
      throw new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `transport ${server.transport} is not supported by this broker`, { retryable: false });
  }
}

/**
 * Pooled MCP connections: one per (server, credentials) shared by every call, or one per call when
 * the server's headers name call context. Tool lists are cached per identity with a TTL.
 */
export class ConnectionPool {
  private readonly conns = new Map<string, Connection>();
  private readonly connecting = new Map<string, Promise<Connection>>();
  private readonly listing = new Map<string, Promise<Tool[]>>();

  constructor(
    private readonly log: Logger,
    private readonly opts: { toolsTtlMs: number; maxTools: number; connectTimeoutMs?: number },
  ) {}

  get size(): number {
    return this.conns.size;
  }

  /** The connection for this server and call, connecting if needed (concurrent callers share one attempt). */
  async get(server: McpServerConfig, ctx: CallContext): Promise<Connection> {
    const headers = resolveHeaders(server, ctx);
    const identity = serverIdentity(server, headers);
    const existing = this.conns.get(identity);
    if (existing && !existing.dead) {
      existing.callIds.add(ctx.callId);
      return existing;
    }
    let p = this.connecting.get(identity);
    if (!p) {
      p = this.connect(server, headers, identity).finally(() => this.connecting.delete(identity));
      this.connecting.set(identity, p);
    }
    const conn = await p;
    conn.callIds.add(ctx.callId);
    return conn;
  }

  private async connect(server: McpServerConfig, headers: Record<string, string>, identity: string): Promise<Connection> {
    const client = new Client({ name: 'switchboard-mcp-broker', version: '0.1.0' }, { capabilities: {} });
    const transport = transportFor(server, headers);
    const conn: Connection = { identity, server, client, callIds: new Set(), callScoped: isCallScoped(server), tools: undefined, toolsAt: 0, dead: false, inflight: 0, closeWhenIdle: false };
    client.onclose = () => {
      conn.dead = true;
      if (this.conns.get(identity) === conn) this.conns.delete(identity);
    };
    client.onerror = (err) => this.log.debug({ server: server.name, err: err.message }, 'MCP transport error');
    const t0 = performance.now();
    try {
      await client.connect(transport, { timeout: this.opts.connectTimeoutMs ?? 5000 });
    } catch (err) {
      await client.close().catch(() => undefined);
      throw new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `cannot connect to MCP server '${server.name}': ${describe(err)}`, { details: { server: server.name } });
    }
    // Invalidate the cached list at once when the server says its tools changed.
    if (client.getServerCapabilities()?.tools?.listChanged) {
      client.setNotificationHandler((await import('@modelcontextprotocol/sdk/types.js')).ToolListChangedNotificationSchema, () => {
        conn.tools = undefined;
        this.log.info({ server: server.name }, 'tool list changed; refreshing');
        void this.tools(conn, true).catch(() => undefined);
      });
    }
    this.log.debug({ server: server.name, ms: Math.round(performance.now() - t0) }, 'MCP connected');
    this.conns.set(identity, conn);
    return conn;
  }

  /** The server's tools: cached unless stale or `force`; pagination followed; absurd counts capped. */
  async tools(conn: Connection, force = false): Promise<Tool[]> {
    if (!force && conn.tools && Date.now() - conn.toolsAt < this.opts.toolsTtlMs) return conn.tools;
    let p = this.listing.get(conn.identity);
    if (!p) {
      p = (async () => {
        const all: Tool[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await conn.client.listTools(cursor ? { cursor } : undefined, { timeout: 10_000 });
          all.push(...page.tools);
          cursor = page.nextCursor;
          pages++;
        } while (cursor && all.length < this.opts.maxTools && pages < 100);
        if (all.length > this.opts.maxTools || cursor) {
          this.log.warn({ server: conn.server.name, count: all.length, cap: this.opts.maxTools }, 'MCP server lists too many tools; capped');
        }
        conn.tools = all.slice(0, this.opts.maxTools);
        conn.toolsAt = Date.now();
        return conn.tools;
      })().finally(() => this.listing.delete(conn.identity));
      this.listing.set(conn.identity, p);
    }
    return p;
  }

  /** Calls a tool on a connection; transport failures mark the connection dead so the next use reconnects. */
  async call(conn: Connection, name: string, args: Record<string, unknown>, timeoutMs: number, signal?: AbortSignal): Promise<CallToolResult> {
    conn.inflight++;
    // The SDK adds an abort listener to whatever signal it is given and never removes it. A signal
    // per call, linked to the caller's for its duration only, keeps long-lived signals clean.
    const perCall = new AbortController();
    const forward = () => perCall.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    try {
      return (await conn.client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs, signal: perCall.signal })) as CallToolResult;
    } catch (err) {
      const code = (err as { code?: number }).code;
      // -32001 is the SDK's request timeout. Other negative codes are JSON-RPC errors from the server
      // (not transport failures). A positive code is the HTTP status the SDK saw (502, 503…): transport.
      if (code === -32001) throw new SwitchboardError(ErrorCodes.TOOL_TIMEOUT, `tool ${name} on '${conn.server.name}' did not answer within ${timeoutMs} ms`);
      if (typeof code === 'number' && code < 0 && code !== -32000) throw new SwitchboardError(ErrorCodes.TOOL_FAILED, `tool ${name} on '${conn.server.name}' failed: ${describe(err)}`, { retryable: false });
      conn.dead = true;
      this.conns.delete(conn.identity);
      void conn.client.close().catch(() => undefined);
      throw new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `MCP server '${conn.server.name}' failed during ${name}: ${describe(err)}`, { details: { transport: true } });
    } finally {
      signal?.removeEventListener('abort', forward);
      conn.inflight--;
      if (conn.closeWhenIdle && conn.inflight === 0) this.close(conn);
    }
  }

  private close(conn: Connection): void {
    if (this.conns.get(conn.identity) === conn) this.conns.delete(conn.identity);
    conn.client.close().catch((err: unknown) => this.log.debug({ err, server: conn.server.name }, 'MCP close failed (ignored)'));
  }

  /** A call ended: close the connections only it used (best effort, never blocks teardown). */
  release(callId: string): void {
    for (const conn of [...this.conns.values()]) {
      if (!conn.callIds.delete(callId)) continue;
      if (conn.callScoped && conn.callIds.size === 0) {
        // A tool call still running (the hang-up that ended the call) finishes before the close.
        if (conn.inflight > 0) conn.closeWhenIdle = true;
        else this.close(conn);
      }
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.allSettled(all.map((c) => c.client.close()));
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  if (e?.cause?.code === 'ECONNREFUSED') return 'connection refused';
  return (e?.message ?? String(err)).slice(0, 300);
}
