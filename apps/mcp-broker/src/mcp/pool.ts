import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolResultSchema, ToolListChangedNotificationSchema, type CallToolResult, type Progress } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import type { Logger } from 'pino';
import { z } from 'zod';
import { transportFor } from '../adapters/mcp-transports.ts';
import { ErrorCodes } from '@switchboard/contracts';
import { McpFailure, classify } from './failures.ts';
import type { ResolvedServer } from './headers.ts';

/** A live MCP client connection to one server identity. */
export interface Connection {
  rs: ResolvedServer;
  client: Client;
  transport: Transport;
  /** Calls holding this connection (call-scoped connections close when their call ends). */
  callIds: Set<string>;
  /** The transport closed or failed: the next use reconnects. */
  dead: boolean;
  /** We are closing it (a close we asked for is not a lost connection). */
  closing: boolean;
  /** Tool calls running on this connection; a released connection closes when this reaches 0. */
  inflight: number;
  closeWhenIdle: boolean;
  connectedAt: number;
}

export interface PoolOptions {
  connectTimeoutMs: number;
  /** The server sent `notifications/tools/list_changed`. */
  onListChanged?: (conn: Connection) => void;
  /** A connection closed without the broker closing it (process exit, stream end). */
  onLost?: (conn: Connection) => void;
}

/** tools/list page, parsed loosely: each tool is checked on its own afterwards, so one bad tool cannot fail the list. */
const LoosePageSchema = z.object({ tools: z.array(z.unknown()), nextCursor: z.string().optional() }).passthrough();

/** How long a released connection stays open after its last tool call ended (for a cancellation still in flight). */
const CLOSE_AFTER_CANCEL_MS = 250;

/** One validator for every SDK client (the SDK would build an Ajv instance per client otherwise). */
const sharedValidator = new AjvJsonSchemaValidator();

/**
 * Pooled MCP connections: one per (server, resolved credentials) shared by every call, or one per
 * call when the server's URL or headers name call context. Concurrent users of a connection that is
 * still connecting share that one attempt.
 */
export class ConnectionPool {
  private readonly conns = new Map<string, Connection>();
  private readonly connecting = new Map<string, Promise<Connection>>();

  constructor(
    private readonly log: Logger,
    private readonly opts: PoolOptions,
  ) {}

  get size(): number {
    return this.conns.size;
  }

  /** The live connection for this identity, if there is one (no I/O). */
  peek(rs: ResolvedServer): Connection | undefined {
    const c = this.conns.get(rs.identity);
    return c && !c.dead ? c : undefined;
  }

  /** Whether a connection for this identity is being opened. */
  isConnecting(rs: ResolvedServer): boolean {
    return this.connecting.has(rs.identity);
  }

  /** The connection for this server, connecting if needed; `callId` holds a call-scoped connection open until that call ends. */
  async get(rs: ResolvedServer, callId?: string): Promise<Connection> {
    const existing = this.peek(rs);
    if (existing) {
      if (callId !== undefined) existing.callIds.add(callId);
      return existing;
    }
    let p = this.connecting.get(rs.identity);
    if (!p) {
      p = this.connect(rs).finally(() => this.connecting.delete(rs.identity));
      this.connecting.set(rs.identity, p);
    }
    const conn = await p;
    if (callId !== undefined) conn.callIds.add(callId);
    return conn;
  }

  private async connect(rs: ResolvedServer): Promise<Connection> {
    const name = rs.server.name;
    const client = new Client({ name: 'switchboard-mcp-broker', version: '0.1.0' }, { capabilities: {}, jsonSchemaValidator: sharedValidator });
    let transport: Transport;
    try {
      transport = transportFor(rs, this.log);
    } catch (err) {
      throw classify(err, `connect to MCP server '${name}'`);
    }
    const conn: Connection = { rs, client, transport, callIds: new Set(), dead: false, closing: false, inflight: 0, closeWhenIdle: false, connectedAt: 0 };
    client.onclose = () => {
      const unexpected = !conn.dead && !conn.closing && conn.connectedAt > 0;
      conn.dead = true;
      if (this.conns.get(rs.identity) === conn) this.conns.delete(rs.identity);
      if (unexpected) {
        this.log.warn({ server: name }, `MCP server '${name}' closed the connection`);
        this.opts.onLost?.(conn);
      }
    };
    client.onerror = (err) => this.log.debug({ server: name, err: err.message }, 'MCP transport error');
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      this.log.info({ server: name }, `MCP server '${name}' says its tool list changed`);
      this.opts.onListChanged?.(conn);
    });
    const t0 = performance.now();
    try {
      await client.connect(transport, { timeout: this.opts.connectTimeoutMs });
    } catch (err) {
      conn.closing = true;
      await client.close().catch(() => undefined);
      const f = classify(err, `connect to MCP server '${name}'`, { timeoutMs: this.opts.connectTimeoutMs });
      const detail = f.message.replace(/^connect to MCP server '[^']*'(:| failed:)? ?/, '');
      // Whatever failed (a JSON-RPC error to initialize included), the server is unusable: it counts against it.
      throw new McpFailure(f.kind === 'rpc' ? 'malformed' : f.kind, ErrorCodes.MCP_SERVER_UNAVAILABLE, `cannot connect to MCP server '${name}': ${detail}`, err);
    }
    conn.connectedAt = Date.now();
    this.log.debug({ server: name, ms: Math.round(performance.now() - t0) }, 'MCP connected');
    this.conns.set(rs.identity, conn);
    return conn;
  }

  /**
   * Every tool the server lists: pagination (`nextCursor`) followed, stopped at `max` tools or 100
   * pages or a cursor seen before (a server that loops). Tools are returned raw, checked by the caller.
   */
  async listAll(conn: Connection, max: number, timeoutMs: number): Promise<{ tools: unknown[]; capped: boolean }> {
    const tools: unknown[] = [];
    const cursors = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    const deadline = Date.now() + timeoutMs;
    try {
      do {
        const page = await conn.client.request({ method: 'tools/list', params: cursor ? { cursor } : {} }, LoosePageSchema, { timeout: Math.max(1, deadline - Date.now()) });
        tools.push(...page.tools);
        cursor = page.nextCursor;
        pages++;
        if (cursor !== undefined) {
          if (cursors.has(cursor)) {
            this.log.warn({ server: conn.rs.server.name, cursor }, 'MCP server repeated a tools/list cursor; stopped paging');
            break;
          }
          cursors.add(cursor);
        }
      } while (cursor && tools.length < max && pages < 100);
    } catch (err) {
      const f = classify(err, `tools/list on '${conn.rs.server.name}'`, { timeoutMs, hadSession: hasSession(conn) });
      if (f.countsAgainstServer) this.markDead(conn);
      throw f;
    }
    const capped = tools.length > max || cursor !== undefined;
    return { tools: tools.slice(0, max), capped };
  }

  /** Calls a tool. Failures are classified; a transport-level failure marks the connection dead so the next use reconnects. */
  async call(conn: Connection, name: string, args: Record<string, unknown>, opts: { timeoutMs: number; signal: AbortSignal; onprogress?: (p: Progress) => void }): Promise<CallToolResult> {
    conn.inflight++;
    try {
      return (await conn.client.request({ method: 'tools/call', params: { name, arguments: args } }, CallToolResultSchema, {
        timeout: opts.timeoutMs,
        signal: opts.signal,
        ...(opts.onprogress ? { onprogress: opts.onprogress } : {}),
      })) as CallToolResult;
    } catch (err) {
      const f = classify(err, `tool ${name} on '${conn.rs.server.name}'`, { signal: opts.signal, timeoutMs: opts.timeoutMs, hadSession: hasSession(conn) });
      if (['undelivered', 'transport', 'malformed', 'auth'].includes(f.kind)) this.markDead(conn);
      throw f;
    } finally {
      conn.inflight--;
      // A short delay lets a cancellation notification the SDK just queued reach the server before the transport closes.
      if (conn.closeWhenIdle && conn.inflight === 0) setTimeout(() => this.close(conn), CLOSE_AFTER_CANCEL_MS).unref();
    }
  }

  /** MCP `ping`: the half-open probe of a connection that already exists. */
  async ping(conn: Connection, timeoutMs: number): Promise<void> {
    try {
      await conn.client.ping({ timeout: timeoutMs });
    } catch (err) {
      this.markDead(conn);
      throw classify(err, `ping '${conn.rs.server.name}'`, { timeoutMs, hadSession: hasSession(conn) });
    }
  }

  /** Drops a connection that failed; the next user reconnects. Closing is best effort. */
  markDead(conn: Connection): void {
    if (conn.dead) return;
    conn.dead = true;
    this.close(conn);
  }

  private close(conn: Connection): void {
    conn.closing = true;
    if (this.conns.get(conn.rs.identity) === conn) this.conns.delete(conn.rs.identity);
    // Best effort, never awaited by a call's teardown; a failure is logged at debug (Patter's rule).
    conn.client.close().catch((err: unknown) => this.log.debug({ err: (err as Error)?.message, server: conn.rs.server.name }, 'MCP close failed (ignored)'));
  }

  /** A call ended: close the call-scoped connections only it used. */
  release(callId: string): void {
    for (const conn of [...this.conns.values()]) {
      if (!conn.callIds.delete(callId)) continue;
      if (conn.rs.callScoped && conn.callIds.size === 0) {
        if (conn.inflight > 0) conn.closeWhenIdle = true;
        else this.close(conn);
      }
    }
  }

  /** Every live connection of one cache key (all identities of a server template). */
  byCacheKey(cacheKey: string): Connection[] {
    return [...this.conns.values()].filter((c) => c.rs.cacheKey === cacheKey && !c.dead);
  }

  async closeAll(): Promise<void> {
    const all = [...this.conns.values()];
    this.conns.clear();
    for (const c of all) c.closing = true;
    await Promise.allSettled(all.map((c) => c.client.close()));
  }
}

function hasSession(conn: Connection): boolean {
  return typeof (conn.transport as { sessionId?: string }).sessionId === 'string';
}
