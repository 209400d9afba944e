import { randomUUID } from 'node:crypto';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  ErrorCodes,
  SwitchboardError,
  type CallContext,
  type CallToolReply,
  type CallToolRequest,
  type ListToolsReply,
  type ListToolsRequest,
  type McpServerConfig,
  type ToolCancelRequested,
  type ToolCollision,
  type ToolDescriptor,
  type ToolProgressed,
  type ToolSelectionReport,
  type ToolSelectionRequest,
  type ToolsChanged,
} from '@switchboard/contracts';
import { instruments, observeBreakers, tracer } from '../telemetry.ts';
import { CircuitBreaker, type BreakerState } from './breaker.ts';
import { CancelReason, McpFailure, classify } from './failures.ts';
import { resolveServer, type ResolvedServer } from './headers.ts';
import { providerSafeName } from './naming.ts';
import type { Connection, ConnectionPool } from './pool.ts';
import { SchemaRegistry, safeToRepeat, sanitizeTools, type CachedTool } from './tool-schema.ts';
import type { ToolList, ToolsCache } from './tools-cache.ts';

export interface BrokerOptions {
  instanceId: string;
  /** Default longest wait on cold servers at call start (ms). */
  discoveryBudgetMs: number;
  /** Default per-tool timeout (ms). */
  toolTimeoutMs: number;
  maxResultBytes: number;
  maxToolsPerServer: number;
  /** Longest one server's `tools/list` (all pages) may take in the background (ms). */
  listTimeoutMs: number;
  breaker: { failureThreshold: number; cooldownMs: number; maxCooldownMs: number };
  /** In-flight tool calls of an ended call are cancelled after this grace (the hang-up tool itself finishes within it). */
  cancelGraceMs: number;
  /** How often hot tool lists are refreshed ahead of their TTL (ms); 0 turns the sweep off. */
  sweepIntervalMs: number;
  toolsTtlMs: number;
  /** A cached list older than this is not served without asking the server first (within the budget). */
  maxStaleMs: number;
}

/** Where the broker's events go (the bus, in the app). */
export interface BrokerEvents {
  progressed(callId: string, evt: ToolProgressed): void;
  toolsChanged(evt: ToolsChanged): void;
  /** Start hearing `evt.tool.cancel-requested.<callId>` on this instance. */
  watchCall(callId: string): void;
  unwatchCall(callId: string): void;
}

/** A server registered through the API, resolved with its decrypted headers (never leaves the broker). */
export interface RegisteredEntry {
  ref: string;
  server: McpServerConfig;
}

/** Registered servers, as the broker resolves `serverRefs`, `serverRef` and `attached`. */
export interface ServerSource {
  byRefs(accountId: string, refs: readonly string[]): Promise<RegisteredEntry[]>;
  attached(accountId: string, agentId: string): Promise<RegisteredEntry[]>;
}

export interface ToolSelector {
  select(tools: ToolDescriptor[], selection: ToolSelectionRequest): Promise<{ tools: ToolDescriptor[]; report: ToolSelectionReport }>;
}

/** Patter's envelope: what the model sees when a tool failed, so it can recover and apologise. */
export function fallbackEnvelope(error: string): string {
  return JSON.stringify({ error, fallback: true });
}

interface Entry {
  server: McpServerConfig;
  ref?: string;
  rs: ResolvedServer;
}

interface Invocation {
  callId: string;
  ac: AbortController;
  server: string;
  tool: string;
  cancelOnBargeIn: boolean;
}

/** What the broker remembers about a live call (bounded; dropped when the call ends). */
interface CallState {
  /** Provider-safe name → the server that offered it first in this call (the newcomer loses a collision). */
  owners: Map<string, string>;
  /** Collisions already logged for this call (logged once, counted once). */
  logged: Set<string>;
}

const MAX_TRACKED_CALLS = 10_000;

/**
 * The MCP client side of Switchboard: tool lists from a process-wide and Redis cache within a
 * discovery budget, provider-safe names, collision rules, dynamic selection; validated, timed,
 * cancellable invocations behind a circuit breaker per server, with retries only where they cannot
 * run a tool twice.
 */
export class Broker {
  readonly schemas = new SchemaRegistry();
  private readonly breakers = new Map<string, { breaker: CircuitBreaker; name: string }>();
  private readonly discovering = new Map<string, Promise<ToolList>>();
  /** Per cache key: the last server config and call context that used it (for background refreshes and probes). */
  private readonly lastUse = new Map<string, { rs: ResolvedServer; ctx: CallContext; at: number }>();
  private readonly invocations = new Map<string, Invocation>();
  private readonly calls = new Map<string, CallState>();
  private readonly endedCalls = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly unobserve: () => void;
  private closed = false;
  stats = { calls: 0, errors: 0, timeouts: 0, retries: 0, cancelled: 0, cacheHits: 0, cacheMisses: 0, collisions: 0, rejectedTools: 0, discoveries: 0 };

  constructor(
    private readonly pool: ConnectionPool,
    private readonly cache: ToolsCache,
    private readonly log: Logger,
    private readonly opts: BrokerOptions,
    private readonly events: BrokerEvents,
    private readonly source?: ServerSource,
    private readonly selector?: ToolSelector,
  ) {
    this.unobserve = observeBreakers(() => [...this.breakers.values()].map((b) => [b.name, b.breaker.state] as [string, BreakerState]));
    if (opts.sweepIntervalMs > 0) {
      this.sweepTimer = setInterval(() => this.sweep(), opts.sweepIntervalMs);
      this.sweepTimer.unref();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Servers and breakers

  private async entries(req: { context: CallContext; servers?: McpServerConfig[]; serverRefs?: string[]; attached?: boolean }): Promise<{ entries: Entry[]; failed: ListToolsReply['failed'] }> {
    const ctx = req.context;
    const out: Entry[] = (req.servers ?? []).map((server) => ({ server, rs: resolveServer(server, ctx) }));
    const failed: ListToolsReply['failed'] = [];
    if ((req.serverRefs?.length || req.attached) && !this.source) {
      failed.push({ server: 'registered servers', code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: 'this broker has no server registry' });
    } else if (this.source) {
      const seen = new Set<string>();
      const add = (list: RegisteredEntry[]) => {
        for (const e of list) {
          if (seen.has(e.ref)) continue;
          seen.add(e.ref);
          out.push({ server: e.server, ref: e.ref, rs: resolveServer(e.server, ctx) });
        }
      };
      try {
        if (req.serverRefs?.length) add(await this.source.byRefs(ctx.accountId, req.serverRefs));
        if (req.attached) add(await this.source.attached(ctx.accountId, ctx.agentId));
      } catch (err) {
        const e = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `registered servers unavailable: ${(err as Error).message}`);
        this.log.error({ code: e.code }, e.message);
        failed.push({ server: 'registered servers', code: e.code, message: e.message });
      }
    }
    return { entries: out, failed };
  }

  private breakerFor(rs: ResolvedServer): CircuitBreaker {
    let b = this.breakers.get(rs.cacheKey);
    if (!b) {
      const breaker = new CircuitBreaker(this.opts.breaker);
      const name = rs.server.name;
      breaker.onTransition = (from, to) => {
        instruments.breakerTransitions.add(1, { server: name, to });
        const line = `MCP server '${name}' circuit ${from} → ${to}`;
        if (to === 'open') {
          this.log.error({ server: name, retryInMs: breaker.retryInMs }, `${line}: calls fail fast for ${breaker.retryInMs} ms, then one probe goes through`);
          this.scheduleProbe(rs.cacheKey, breaker.retryInMs);
        } else this.log.info({ server: name }, line);
      };
      b = { breaker, name };
      this.breakers.set(rs.cacheKey, b);
    }
    return b.breaker;
  }

  /** Circuit state per server name (health details, tests). */
  breakerStates(): Record<string, BreakerState> {
    return Object.fromEntries([...this.breakers.values()].map((b) => [b.name, b.breaker.state]));
  }

  private touch(rs: ResolvedServer, ctx: CallContext): void {
    this.lastUse.set(rs.cacheKey, { rs, ctx, at: Date.now() });
  }

  private callState(callId: string): CallState {
    let s = this.calls.get(callId);
    if (!s) {
      if (this.calls.size >= MAX_TRACKED_CALLS) {
        const oldest = this.calls.keys().next().value;
        if (oldest !== undefined) this.calls.delete(oldest);
      }
      s = { owners: new Map(), logged: new Set() };
      this.calls.set(callId, s);
    }
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // Discovery

  /**
   * Connects (if needed) and lists one server, updating the cache; concurrent callers share one
   * attempt per cache key. The attempt goes on after a caller's budget runs out, so a slow server's
   * tools land in the cache and join the call on its next list-tools.
   */
  private discover(rs: ResolvedServer, ctx: CallContext, admitted = false): Promise<ToolList> {
    const running = this.discovering.get(rs.cacheKey);
    if (running) return running;
    const p = this.runDiscovery(rs, ctx, admitted).finally(() => this.discovering.delete(rs.cacheKey));
    this.discovering.set(rs.cacheKey, p);
    return p;
  }

  /** `admitted`: the caller already holds the breaker's admission (a tool call that is the half-open probe). */
  private async runDiscovery(rs: ResolvedServer, ctx: CallContext, admitted: boolean): Promise<ToolList> {
    const name = rs.server.name;
    // The call whose list-tools started the discovery: its lines carry the call id (as its spans do).
    const log = ctx.callId ? this.log.child({ call_id: ctx.callId }) : this.log;
    const breaker = this.breakerFor(rs);
    const admission = admitted ? 'pass' : breaker.admit();
    if (admission === 'reject') {
      throw new McpFailure('undelivered', ErrorCodes.MCP_SERVER_UNAVAILABLE, `MCP server '${name}' is unavailable (circuit open after repeated failures; next probe in ${Math.ceil(breaker.retryInMs / 1000)} s)`);
    }
    this.stats.discoveries++;
    const t0 = performance.now();
    const span = tracer.startSpan('mcp tools/list', { kind: SpanKind.CLIENT, attributes: { 'mcp.server': name, 'mcp.transport': rs.server.transport, 'mcp.probe': admission === 'probe', 'switchboard.call_id': ctx.callId } });
    try {
      const conn = await context.with(trace.setSpan(context.active(), span), () => this.pool.get(rs, rs.callScoped ? ctx.callId : undefined));
      const { tools: raw, capped } = await context.with(trace.setSpan(context.active(), span), () => this.pool.listAll(conn, this.opts.maxToolsPerServer, this.opts.listTimeoutMs));
      const { tools, rejected } = sanitizeTools(raw, this.schemas);
      for (const r of rejected) log.warn({ server: name, tool: r.name }, `MCP server '${name}': tool '${r.name}' left out: ${r.reason}`);
      if (rejected.length) {
        this.stats.rejectedTools += rejected.length;
        instruments.rejectedTools.add(rejected.length, { server: name });
      }
      if (capped) log.warn({ server: name, cap: this.opts.maxToolsPerServer }, `MCP server '${name}' lists more than ${this.opts.maxToolsPerServer} tools; capped`);
      const list: ToolList = { tools, fetchedAt: Date.now(), rejected: rejected.length, capped };
      await this.cache.set(rs.cacheKey, list);
      this.events.toolsChanged({ cacheKey: rs.cacheKey, fetchedAt: list.fetchedAt, count: tools.length, instanceId: this.opts.instanceId });
      breaker.success();
      span.setAttribute('mcp.tools', tools.length);
      instruments.discoveryDuration.record(performance.now() - t0, { server: name, outcome: 'ok' });
      log.info({ server: name, tools: tools.length, ms: Math.round(performance.now() - t0) }, `MCP server '${name}' registered ${tools.length} tool(s)`);
      return list;
    } catch (err) {
      const f = classify(err, `tools/list on '${name}'`);
      if (f.countsAgainstServer) breaker.failure();
      else breaker.neutral();
      span.setStatus({ code: SpanStatusCode.ERROR, message: f.code });
      instruments.discoveryDuration.record(performance.now() - t0, { server: name, outcome: 'error' });
      instruments.errors.add(1, { server: name, tool: '', code: f.code });
      throw f.code === ErrorCodes.MCP_SERVER_UNAVAILABLE ? f : new McpFailure(f.kind, ErrorCodes.MCP_SERVER_UNAVAILABLE, f.message, err);
    } finally {
      span.end();
    }
  }

  /** A background discovery: failures are logged, never thrown. */
  private refreshInBackground(rs: ResolvedServer, ctx: CallContext, why: string): void {
    if (this.closed || this.discovering.has(rs.cacheKey)) return;
    this.log.debug({ server: rs.server.name, why }, 'refreshing tool list in the background');
    this.discover(rs, ctx).catch((err: unknown) => this.log.warn({ server: rs.server.name, code: (err as SwitchboardError).code }, `background refresh of '${rs.server.name}' failed: ${(err as Error).message}`));
  }

  /** Opens the connection a warm-cache call start skipped, so the first tool call does not wait for it. */
  private warm(rs: ResolvedServer, ctx: CallContext): void {
    if (this.closed || this.pool.peek(rs) || this.pool.isConnecting(rs)) return;
    const breaker = this.breakerFor(rs);
    if (breaker.state !== 'closed') return;
    this.pool.get(rs, rs.callScoped ? ctx.callId : undefined).catch((err: unknown) => {
      const f = classify(err, `connect to '${rs.server.name}'`);
      if (f.countsAgainstServer) breaker.failure();
      this.log.warn({ server: rs.server.name }, `background connect failed: ${f.message}`);
    });
  }

  /** Whether a background operation for this key may run on its last call context. */
  private usable(key: string, maxAgeMs: number): { rs: ResolvedServer; ctx: CallContext } | undefined {
    const use = this.lastUse.get(key);
    if (!use || Date.now() - use.at > maxAgeMs) return undefined;
    // A call-scoped server is only reachable with a live call's context.
    if (use.rs.callScoped && this.endedCalls.has(use.ctx.callId)) return undefined;
    return use;
  }

  private scheduleProbe(key: string, delayMs: number): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      const use = this.usable(key, 10 * 60_000);
      if (use) this.refreshInBackground(use.rs, use.ctx, 'half-open probe');
    }, delayMs + 10);
    t.unref();
    this.timers.add(t);
  }

  /** Keeps lists that calls use fresh before they expire, so a call start rarely meets a stale one. */
  private sweep(): void {
    const now = Date.now();
    for (const [key, use] of this.lastUse) {
      if (now - use.at > this.opts.toolsTtlMs * 2) {
        this.lastUse.delete(key);
        // A closed breaker of a server nobody uses any more holds nothing worth keeping.
        if (this.breakers.get(key)?.breaker.state === 'closed') this.breakers.delete(key);
        continue;
      }
      const list = this.cache.peek(key);
      if (list && now - list.fetchedAt < this.opts.toolsTtlMs * 0.8) continue;
      if (this.breakers.get(key)?.breaker.state !== 'closed') continue;
      const usable = this.usable(key, this.opts.toolsTtlMs * 2);
      if (usable) this.refreshInBackground(usable.rs, usable.ctx, 'ttl sweep');
    }
  }

  /** `notifications/tools/list_changed` from a server: refresh at once, everywhere. */
  onListChanged(conn: Connection): void {
    const key = conn.rs.cacheKey;
    void this.cache.invalidate(key).then(() => {
      const use = this.lastUse.get(key);
      const ctx = use?.ctx ?? { callId: [...conn.callIds][0] ?? 'list-changed', agentId: '', accountId: '' };
      this.refreshInBackground(conn.rs, ctx, 'list_changed');
    });
  }

  /** A connection died on its own (stdio process exit, stream end): reconnect and relist (agtOS autoReconnect), behind the breaker's backoff. */
  onLost(conn: Connection): void {
    const breaker = this.breakers.get(conn.rs.cacheKey)?.breaker;
    breaker?.failure();
    const use = this.usable(conn.rs.cacheKey, 10 * 60_000);
    if (use && (!conn.rs.callScoped || conn.callIds.size > 0)) this.refreshInBackground(use.rs, use.ctx, 'reconnect after the connection was lost');
  }

  /** Another instance refreshed a list: drop ours, the next read takes the new one from Redis. */
  onToolsChanged(evt: ToolsChanged): void {
    if (evt.instanceId === this.opts.instanceId) return;
    this.cache.dropLocal(evt.cacheKey, evt.fetchedAt);
  }

  /** Every server's tools within the budget: cached lists at once, cold servers as long as the budget allows. */
  async listTools(req: ListToolsRequest): Promise<ListToolsReply> {
    const t0 = performance.now();
    const ctx = req.context;
    const { entries, failed } = await this.entries(req as Parameters<Broker['entries']>[0]);
    const gathered = await this.gather(entries, ctx, req.budgetMs ?? this.opts.discoveryBudgetMs);
    failed.push(...gathered.failed);
    const { tools, collisions } = this.describe(entries, gathered.lists, this.callState(ctx.callId), req.reservedNames ?? []);
    let offered = tools;
    let selection: ToolSelectionReport | undefined;
    if (req.selection && this.selector) {
      const picked = await this.selector.select(tools, req.selection);
      offered = picked.tools;
      selection = picked.report;
      if (selection.applied) instruments.tokensSaved.record(Math.max(0, selection.tokensAll - selection.tokensOffered));
    }
    instruments.listToolsDuration.record(performance.now() - t0, { outcome: failed.length ? 'partial' : 'ok' });
    return { tools: offered, pending: gathered.pending, failed, collisions, ...(selection ? { selection } : {}) };
  }

  /**
   * The attach-time collision check: lists `servers` and the registered `refs` (the newcomer last, so
   * it is the one refused on a clash) without touching any call's state.
   */
  async checkTools(ctx: CallContext, servers: McpServerConfig[], refs: string[], reservedNames: string[], budgetMs: number): Promise<{ tools: ToolDescriptor[]; collisions: ToolCollision[]; failed: ListToolsReply['failed']; pending: string[]; byRef: Map<string, string> }> {
    const { entries, failed } = await this.entries({ context: ctx, servers, serverRefs: refs });
    const gathered = await this.gather(entries, ctx, budgetMs);
    const { tools, collisions } = this.describe(entries, gathered.lists, { owners: new Map(), logged: new Set() }, reservedNames);
    const byRef = new Map(entries.flatMap((e) => (e.ref ? [[e.ref, e.server.name] as [string, string]] : [])));
    return { tools, collisions, failed: [...failed, ...gathered.failed], pending: gathered.pending, byRef };
  }

  private async gather(entries: Entry[], ctx: CallContext, budget: number): Promise<{ lists: Map<Entry, ToolList>; pending: string[]; failed: ListToolsReply['failed'] }> {
    const cached = await this.cache.getMany(entries.map((e) => e.rs.cacheKey));
    const lists = new Map<Entry, ToolList>();
    const failed: ListToolsReply['failed'] = [];
    const waiting: Array<Promise<void>> = [];
    const pending = new Set<Entry>();
    const expired = new Map<Entry, ToolList>();
    for (const e of entries) {
      this.touch(e.rs, ctx);
      const breaker = this.breakerFor(e.rs);
      const hit = cached.get(e.rs.cacheKey);
      if (breaker.state === 'open' && breaker.retryInMs > 0) {
        failed.push({ server: e.server.name, code: ErrorCodes.MCP_SERVER_UNAVAILABLE, message: `MCP server '${e.server.name}' skipped: circuit open after repeated failures (next probe in ${Math.ceil(breaker.retryInMs / 1000)} s)` });
        continue;
      }
      if (hit && Date.now() - hit.list.fetchedAt < this.opts.maxStaleMs) {
        this.stats.cacheHits++;
        instruments.cacheHits.add(1, { layer: hit.layer });
        lists.set(e, hit.list);
        if (this.cache.isStale(hit.list) || breaker.state !== 'closed') this.refreshInBackground(e.rs, ctx, breaker.state === 'closed' ? 'stale' : 'probe');
        else this.warm(e.rs, ctx);
        continue;
      }
      // A miss, or a list too old to trust without asking: ask within the budget; the old list is the fallback.
      if (hit) expired.set(e, hit.list);
      this.stats.cacheMisses++;
      instruments.cacheMisses.add(1, { layer: hit ? 'expired' : 'none' });
      pending.add(e);
      waiting.push(
        this.discover(e.rs, ctx).then(
          (list) => {
            pending.delete(e);
            lists.set(e, list);
          },
          (err: unknown) => {
            pending.delete(e);
            const f = err instanceof SwitchboardError ? err : classify(err, e.server.name);
            this.log.error({ server: e.server.name, code: f.code }, `MCP server '${e.server.name}' skipped: ${f.message}`);
            failed.push({ server: e.server.name, code: f.code, message: f.message });
          },
        ),
      );
    }
    if (waiting.length) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(waiting), new Promise((r) => (timer = setTimeout(r, budget)))]);
      clearTimeout(timer);
    }
    // Still asking after the budget: an old list is better than none meanwhile (the server stays pending).
    for (const e of pending) {
      const old = expired.get(e);
      if (old) lists.set(e, old);
    }
    return { lists, pending: entries.filter((e) => pending.has(e)).map((e) => e.server.name), failed };
  }

  /**
   * Tool descriptors in server order: allowedTools applied, provider-safe names, and collisions
   * resolved. A name reserved by the agent (webhook or custom tool) is refused and reported; between
   * two MCP servers the one that offered the name first in this call keeps it (the newcomer is left
   * out, logged and counted), and on a first listing the earlier server in the config wins.
   */
  private describe(entries: Entry[], lists: Map<Entry, ToolList>, state: CallState, reservedNames: readonly string[]): { tools: ToolDescriptor[]; collisions: ToolCollision[] } {
    const reserved = new Set(reservedNames);
    const candidates: Array<{ e: Entry; t: CachedTool; name: string }> = [];
    const offeredBy = new Map<string, Set<string>>();
    for (const e of entries) {
      const list = lists.get(e);
      if (!list) continue;
      const allowed = e.server.allowedTools ? new Set(e.server.allowedTools) : undefined;
      for (const t of list.tools) {
        if (allowed && !allowed.has(t.name)) continue;
        const name = providerSafeName(t.name, e.server.prefix);
        candidates.push({ e, t, name });
        let set = offeredBy.get(name);
        if (!set) offeredBy.set(name, (set = new Set()));
        set.add(e.server.name);
      }
    }
    const tools: ToolDescriptor[] = [];
    const collisions: ToolCollision[] = [];
    const taken = new Map<string, string>();
    const refuse = (c: ToolCollision) => {
      collisions.push(c);
      const key = `${c.server}|${c.tool}|${c.collidesWith}`;
      if (state.logged.has(key)) return;
      state.logged.add(key);
      this.stats.collisions++;
      instruments.collisions.add(1, { server: c.server, with: c.collidesWith === 'agent' ? 'agent' : 'mcp' });
      if (c.collidesWith === 'agent') this.log.error({ server: c.server, tool: c.tool }, c.message);
      else this.log.warn({ server: c.server, tool: c.tool, owner: c.collidesWith }, c.message);
    };
    for (const { e, t, name } of candidates) {
      const server = e.server.name;
      if (reserved.has(name)) {
        refuse({ tool: name, server, collidesWith: 'agent', message: `MCP tool '${name}' of server '${server}' collides with the agent-defined tool of the same name; rename one of them, give the server a prefix, or remove the duplicate` });
        continue;
      }
      // The owner: whoever held the name earlier in this call and still offers it, else the first in config order.
      let owner = taken.get(name);
      if (!owner) {
        const previous = state.owners.get(name);
        owner = previous && offeredBy.get(name)?.has(previous) ? previous : server;
      }
      if (owner !== server) {
        refuse({ tool: name, server, collidesWith: owner, message: `MCP tool '${name}' of server '${server}' collides with the tool of the same name from server '${owner}'; the newcomer is left out (give one server a prefix)` });
        continue;
      }
      if (taken.has(name)) continue; // the same server listing a name twice after mapping (a.b and a_b)
      taken.set(name, server);
      state.owners.set(name, server);
      tools.push({
        name,
        originalName: t.name,
        server,
        ...(e.ref ? { serverRef: e.ref } : {}),
        description: t.description ?? t.title ?? t.name,
        inputSchema: t.inputSchema,
        ...(t.annotations ? { annotations: t.annotations as ToolDescriptor['annotations'] } : {}),
      });
    }
    return { tools, collisions };
  }

  // ---------------------------------------------------------------------------------------------
  // Invocation

  /** The tool's cached definition (listing the server when there is none, or when the tool is not in a list older than 5 s). */
  private async findTool(rs: ResolvedServer, ctx: CallContext, name: string, admitted: boolean): Promise<CachedTool | undefined> {
    const byName = (list: ToolList | undefined) => {
      if (!list) return undefined;
      const exact = list.tools.find((t) => t.name === name);
      if (exact) return exact;
      // A provider-safe name mapped back (the model saw `shop_orders_lookup`).
      return list.tools.find((t) => providerSafeName(t.name, rs.server.prefix) === name);
    };
    let list = this.cache.peek(rs.cacheKey) ?? (await this.cache.getMany([rs.cacheKey])).get(rs.cacheKey)?.list;
    const found = byName(list);
    if (found) return found;
    if (!list || Date.now() - list.fetchedAt > 5_000) list = await this.discover(rs, ctx, admitted);
    return byName(list);
  }

  /** Validates arguments, calls the tool with its timeout and cancellation, retries only where that cannot run it twice. */
  async callTool(req: CallToolRequest, signal?: AbortSignal): Promise<CallToolReply> {
    const t0 = performance.now();
    const ctx = req.context;
    this.stats.calls++;
    let server: McpServerConfig;
    let ref: string | undefined;
    try {
      if (req.server) server = req.server as McpServerConfig;
      else if (req.serverRef && this.source) {
        const [entry] = await this.source.byRefs(ctx.accountId, [req.serverRef]);
        if (!entry) throw new SwitchboardError(ErrorCodes.MCP_SERVER_NOT_FOUND, `no registered MCP server ${req.serverRef}`);
        server = entry.server;
        ref = entry.ref;
      } else throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'call-tool needs `server` or `serverRef`');
    } catch (err) {
      const e = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCodes.INTERNAL_ERROR, (err as Error).message);
      this.stats.errors++;
      return { text: fallbackEnvelope(e.message), isError: true, code: e.code, latencyMs: performance.now() - t0 };
    }
    const rs = resolveServer(server, ctx);
    this.touch(rs, ctx);
    const name = server.name;
    const invocationId = req.invocationId ?? randomUUID();
    const inv: Invocation = { callId: ctx.callId, ac: new AbortController(), server: name, tool: req.tool, cancelOnBargeIn: server.tools?.[req.tool]?.cancelOnBargeIn === true };
    // The bus's drain signal is shared by every handler: a listener per call on it would pile up
    // under load. A signal already aborted (draining) cancels at once; later, close() cancels what runs.
    if (signal?.aborted) inv.ac.abort(new CancelReason('broker shutting down'));
    this.invocations.set(invocationId, inv);
    this.events.watchCall(ctx.callId);
    const span = tracer.startSpan('mcp tools/call', { kind: SpanKind.CLIENT, attributes: { 'mcp.server': name, 'mcp.tool': req.tool, 'mcp.transport': server.transport, 'switchboard.call_id': ctx.callId, ...(ref ? { 'mcp.server_ref': ref } : {}) } });
    const done = (text: string, isError: boolean, extra: Partial<CallToolReply> = {}): CallToolReply => {
      const latencyMs = performance.now() - t0;
      if (isError) {
        this.stats.errors++;
        span.setStatus({ code: SpanStatusCode.ERROR, message: extra.code ?? 'error' });
        instruments.errors.add(1, { server: name, tool: req.tool, code: extra.code ?? 'error' });
      }
      instruments.callDuration.record(latencyMs, { server: name, tool: req.tool, outcome: isError ? (extra.code ?? 'error') : 'ok' });
      return { text, isError, latencyMs, ...extra };
    };
    try {
      return await context.with(trace.setSpan(context.active(), span), () => this.invoke(req, rs, inv, invocationId, done));
    } finally {
      this.invocations.delete(invocationId);
      span.end();
    }
  }

  private async invoke(req: CallToolRequest, rs: ResolvedServer, inv: Invocation, invocationId: string, done: (text: string, isError: boolean, extra?: Partial<CallToolReply>) => CallToolReply): Promise<CallToolReply> {
    const ctx = req.context;
    const server = rs.server;
    const breaker = this.breakerFor(rs);
    const fail = (f: SwitchboardError) => done(fallbackEnvelope(f.message), true, { code: f.code });
    const admission = breaker.admit();
    if (admission === 'reject') {
      return fail(new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `MCP server '${server.name}' is unavailable right now (circuit open after repeated failures)`));
    }
    let tool: CachedTool | undefined;
    try {
      tool = await this.findTool(rs, ctx, req.tool, true);
    } catch (err) {
      // The discovery recorded its own outcome on the breaker.
      return fail(classify(err, `tools/list on '${server.name}'`));
    }
    if (!tool) {
      breaker.neutral();
      return fail(new SwitchboardError(ErrorCodes.TOOL_NOT_FOUND, `Tool ${req.tool} is not offered by '${server.name}'`));
    }
    const problems = this.schemas.check(tool, req.arguments);
    if (problems) {
      breaker.neutral();
      return fail(new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `Invalid arguments for ${req.tool}: ${problems.join('; ')}`));
    }
    const timeoutMs = req.timeoutMs ?? server.tools?.[tool.name]?.timeoutMs ?? server.timeoutMs ?? this.opts.toolTimeoutMs;
    const deadline = performance.now() + timeoutMs;
    const onprogress = req.invocationId
      ? (p: { progress: number; total?: number; message?: string }) =>
          this.events.progressed(ctx.callId, { invocationId, server: server.name, tool: tool.name, progress: p.progress, ...(p.total !== undefined ? { total: p.total } : {}), ...(p.message ? { message: p.message } : {}) })
      : undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = Math.max(1, Math.round(deadline - performance.now()));
      try {
        const conn = await this.pool.get(rs, rs.callScoped ? ctx.callId : undefined);
        const result = await this.pool.call(conn, tool.name, req.arguments, { timeoutMs: remaining, signal: inv.ac.signal, ...(onprogress ? { onprogress } : {}) });
        breaker.success();
        return this.mapResult(result, done);
      } catch (err) {
        const f = classify(err, `tool ${tool.name} on '${server.name}'`, { signal: inv.ac.signal, timeoutMs });
        if (f.kind === 'timeout') {
          this.stats.timeouts++;
          instruments.timeouts.add(1, { server: server.name, tool: tool.name });
          // The connection-level message carries the per-attempt remainder: state the tool's timeout.
          f.message = `tool ${tool.name} on '${server.name}' did not answer within ${timeoutMs} ms`;
        }
        if (f.kind === 'cancelled') {
          this.stats.cancelled++;
          instruments.cancellations.add(1, { server: server.name, tool: tool.name, reason: (inv.ac.signal.reason as CancelReason | undefined)?.why ?? 'cancelled' });
        }
        // An undelivered request never reached the tool; a transport failure may have run it, so only a safe tool goes again.
        const retryable = (f.kind === 'undelivered' || (f.kind === 'transport' && safeToRepeat(tool))) && attempt < 3 && deadline - performance.now() > 150 && !inv.ac.signal.aborted;
        if (retryable && breaker.state === 'closed') {
          this.stats.retries++;
          instruments.retries.add(1, { server: server.name, tool: tool.name, reason: f.kind });
          this.log.warn({ server: server.name, tool: tool.name, attempt, kind: f.kind }, `${f.message}; sending again (${f.kind === 'undelivered' ? 'it never reached the tool' : 'the tool is safe to repeat'})`);
          await new Promise((r) => setTimeout(r, Math.min(100 * attempt, Math.max(0, deadline - performance.now() - 100))));
          continue;
        }
        if (f.countsAgainstServer) breaker.failure();
        else if (f.kind === 'rpc') breaker.success();
        else breaker.neutral();
        return fail(f);
      }
    }
  }

  private mapResult(result: CallToolResult, done: (text: string, isError: boolean, extra?: Partial<CallToolReply>) => CallToolReply): CallToolReply {
    const parts: string[] = [];
    for (const c of result.content ?? []) {
      if (c.type === 'text') parts.push(c.text);
      else if (c.type === 'resource' && 'text' in c.resource) parts.push(String(c.resource.text));
      else parts.push(`[${c.type} content omitted]`);
    }
    let text = parts.join('\n');
    const structured = result.structuredContent && typeof result.structuredContent === 'object' && !Array.isArray(result.structuredContent) ? (result.structuredContent as Record<string, unknown>) : undefined;
    if (!text && structured) text = JSON.stringify(structured);
    const max = this.opts.maxResultBytes;
    if (Buffer.byteLength(text) > max) {
      // Cut on a character boundary; the notice tells the model the result is partial.
      text = `${Buffer.from(text).subarray(0, max).toString('utf8').replace(/\uFFFD$/, '')}\n[result truncated at ${max} bytes]`;
    }
    if (result.isError) return done(fallbackEnvelope(text || 'The tool reported an error'), true, { code: ErrorCodes.TOOL_FAILED });
    const keepStructured = structured && Buffer.byteLength(JSON.stringify(structured)) <= max;
    return done(text, false, keepStructured ? { structuredContent: structured } : {});
  }

  // ---------------------------------------------------------------------------------------------
  // Cancellation and call end

  /** `evt.tool.cancel-requested.<callId>`: aborts the invocation if this instance runs it (MCP `notifications/cancelled`). */
  cancel(callId: string, evt: ToolCancelRequested): boolean {
    const inv = this.invocations.get(evt.invocationId);
    if (!inv || inv.callId !== callId) return false;
    if (evt.reason === 'barge-in' && !inv.cancelOnBargeIn) {
      this.log.debug({ tool: inv.tool, server: inv.server }, 'barge-in cancel ignored: the tool is not marked cancelOnBargeIn');
      return false;
    }
    inv.ac.abort(new CancelReason(evt.reason ?? 'requested'));
    return true;
  }

  /** The call ended: its call-scoped connections close when idle, and what still runs after the grace is cancelled. */
  callEnded(callId: string): void {
    this.pool.release(callId);
    this.endedCalls.add(callId);
    if (this.endedCalls.size > MAX_TRACKED_CALLS) this.endedCalls.delete(this.endedCalls.values().next().value as string);
    this.calls.delete(callId);
    const t = setTimeout(() => {
      this.timers.delete(t);
      for (const inv of this.invocations.values()) if (inv.callId === callId) inv.ac.abort(new CancelReason('call ended'));
      this.events.unwatchCall(callId);
    }, this.opts.cancelGraceMs);
    t.unref();
    this.timers.add(t);
  }

  /** Stops timers and cancels what runs (shutdown, after the bus drained). */
  close(): void {
    this.closed = true;
    this.unobserve();
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const inv of this.invocations.values()) inv.ac.abort(new CancelReason('broker shutting down'));
  }

  get inflight(): number {
    return this.invocations.size;
  }
}
