import type { Logger } from 'pino';
import {
  contracts,
  ErrorCodes,
  normalizeMcpServers,
  type AgentDefinition,
  type CallContext,
  type ListToolsReply,
  type ListToolsRequest,
  type McpServerConfig,
  type SwitchboardError,
  type ToolDescriptor,
  type WebhookTool,
} from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { LlmTool, ToolCallRequest } from '@switchboard/providers';
import { callWebhookTool, type WebhookOptions } from '../adapters/webhook-tool.ts';

/** Names of the tools that end or move the call: they run only after the agent's words have been sent. */
export const CALL_CONTROL_TOOLS = new Set(['hangup_call', 'transfer_call']);
/** The broker's meta-tool of dynamic selection. */
export const DISCOVER_TOOL = 'discover_tools';

export type ToolKind = 'mcp' | 'webhook' | 'builtin' | 'discover';

/** A tool as this call offers it. */
export interface OfferedTool {
  /** The name the model sees (provider-safe, prefixed). */
  name: string;
  /** The name its server knows. */
  originalName: string;
  kind: ToolKind;
  /** MCP server name, `webhook` or `builtin`. */
  server: string;
  description: string;
  parameters: Record<string, unknown>;
  mcpServer?: McpServerConfig | undefined;
  /** A broker-registered server's id (call-tool `serverRef`). */
  serverRef?: string | undefined;
  webhook?: WebhookTool;
  timeoutMs: number;
  cancelOnBargeIn: boolean;
  fillerAfterMs: number;
  /** Hang-up or transfer: the conversation stops once it succeeds. */
  endsCall: boolean;
  /** Its MCP annotations say read-only, or idempotent and not destructive: a lost request may be sent again. */
  safeToRetry?: boolean;
}

/** What a tool call produced, as recorded in the transcript and returned to the model. */
export interface ToolOutcome {
  callId: string;
  server: string;
  name: string;
  arguments: Record<string, unknown>;
  /** Text for the model: the result, or the `{"error": …, "fallback": true}` envelope. */
  text: string;
  isError: boolean;
  latencyMs: number;
  endsCall: boolean;
}

/** Call control when the agent has no MCP server offering it: the gateway's commands, or a simulation in the chat channel. */
export interface CallControl {
  hangup(reason: string | undefined): Promise<string>;
  transfer(destination: string): Promise<string>;
}

export interface ToolSetDeps {
  bus: Bus;
  log: Logger;
  agent: AgentDefinition;
  context: CallContext;
  discoveryBudgetMs: number;
  /** Default filler delay (FILLER_AFTER_MS). */
  fillerAfterMs: number;
  webhook: WebhookOptions;
  control: CallControl;
  /** Chat channel: hang-up and transfer are simulated through `control` even when an MCP server offers them. */
  simulateCallControl?: boolean;
}

const envelope = (error: string) => JSON.stringify({ error, fallback: true });

/**
 * Failures where the request may never have reached a broker or its answer was lost (a broker instance
 * stopped or died mid-call): only a tool that is safe to repeat is sent again, once more per code.
 */
const RESEND_CODES: ReadonlySet<string> = new Set([ErrorCodes.BUS_TIMEOUT, ErrorCodes.BUS_NO_RESPONDERS, ErrorCodes.MCP_SERVER_UNAVAILABLE]);
/** Attempts of a safe MCP tool call (the first included). */
export const SAFE_TOOL_ATTEMPTS = 3;

/** Read-only, or idempotent and not destructive (the broker's own rule for repeating a failed call). */
export function safeToRetry(annotations: ToolDescriptor['annotations']): boolean {
  if (!annotations) return false;
  return annotations.readOnlyHint === true || (annotations.idempotentHint === true && annotations.destructiveHint !== true);
}

const BUILTINS: Array<Pick<OfferedTool, 'name' | 'description' | 'parameters'>> = [
  {
    name: 'hangup_call',
    description: 'End the call. Say goodbye first; use it only when the caller is done or asks to end the call.',
    parameters: { type: 'object', properties: { reason: { type: 'string', description: 'Why the call ends' } }, additionalProperties: false },
  },
  {
    name: 'transfer_call',
    description: 'Transfer the caller to a phone number. Tell the caller first.',
    parameters: {
      type: 'object',
      properties: { destination: { type: 'string', description: 'E.164 number, e.g. +15551234567', pattern: '^\\+[1-9][0-9]{6,14}$' } },
      required: ['destination'],
      additionalProperties: false,
    },
  },
];

/**
 * The tools of one call or chat session: the agent's webhook tools, the broker's MCP tools for this
 * call (with per-turn dynamic selection when there are more than `toolSelection.maxTools`) and call
 * control. Every execution returns an outcome; failures are the fallback envelope, never a throw.
 */
export class ToolSet {
  private readonly mcp = new Map<string, OfferedTool>();
  private readonly webhooks = new Map<string, OfferedTool>();
  private readonly builtins = new Map<string, OfferedTool>();
  /** Tools found through `discover_tools`: offered for the rest of the conversation. */
  private readonly discovered = new Set<string>();
  /** This turn's selection (names), when selection applies. */
  private selected: Set<string> | undefined;
  private discoverTool: OfferedTool | undefined;
  readonly servers: McpServerConfig[];
  private closed = false;
  private repoll: NodeJS.Timeout | undefined;
  /** Called when the offered set changed (discovery finished), e.g. to re-render `{{function.x}}` mentions. */
  onChange: (() => void) | undefined;

  constructor(private readonly deps: ToolSetDeps) {
    this.servers = normalizeMcpServers(deps.agent.mcpServers ?? []);
    for (const t of deps.agent.tools ?? []) {
      this.webhooks.set(t.name, {
        name: t.name,
        originalName: t.name,
        kind: 'webhook',
        server: 'webhook',
        description: t.description,
        parameters: t.parameters ?? { type: 'object', properties: {} },
        webhook: t,
        timeoutMs: (t.timeoutMs ?? deps.webhook.timeoutMs) * 3 + 1000,
        cancelOnBargeIn: false,
        fillerAfterMs: deps.fillerAfterMs,
        endsCall: false,
      });
    }
    for (const b of BUILTINS) {
      this.builtins.set(b.name, { ...b, originalName: b.name, kind: 'builtin', server: 'builtin', timeoutMs: 10_000, cancelOnBargeIn: false, fillerAfterMs: deps.fillerAfterMs, endsCall: true });
    }
  }

  private get selection(): ListToolsRequest['selection'] | undefined {
    const ts = this.deps.agent.toolSelection;
    if (ts?.enabled === false) return undefined;
    return {
      ...(ts?.maxTools !== undefined ? { maxTools: ts.maxTools } : {}),
      ...(ts?.pinned ? { pinned: ts.pinned } : {}),
      ...(ts?.categories ? { categories: ts.categories } : {}),
      ...(ts?.strategy ? { strategy: ts.strategy } : {}),
    };
  }

  /** Whether per-turn selection applies: more MCP tools than the agent's `maxTools` (default 8). */
  get selecting(): boolean {
    return this.selection !== undefined && this.mcp.size > (this.deps.agent.toolSelection?.maxTools ?? 8);
  }

  private listRequest(extra: Partial<ListToolsRequest> = {}): ListToolsRequest {
    return { context: this.deps.context, servers: this.servers, budgetMs: this.deps.discoveryBudgetMs, reservedNames: [...this.webhooks.keys()], attached: true, ...extra };
  }

  /** Asks the broker for this call's MCP tools; servers still pending are asked again every second while the session lives. */
  async discover(): Promise<void> {
    if (this.closed) return;
    try {
      const reply = await this.deps.bus.request(contracts.listTools, this.listRequest(), { callId: this.deps.context.callId, timeoutMs: this.deps.discoveryBudgetMs + 2000 });
      this.merge(reply);
      for (const f of reply.failed) this.deps.log.error({ server: f.server, code: f.code }, `MCP server '${f.server}' skipped: ${f.message}`);
      for (const c of reply.collisions ?? []) this.deps.log.warn({ tool: c.tool, server: c.server }, c.message);
      this.deps.log.info({ tools: reply.tools.length, pending: reply.pending }, `MCP: merged ${reply.tools.length} tool(s) into agent`);
      if (reply.pending.length && !this.closed) this.repoll = setTimeout(() => void this.discover(), 1000).unref();
    } catch (err) {
      // An agent without MCP servers asks only for broker-registered ones: no broker is not an error then.
      const level = this.servers.length ? 'error' : 'debug';
      this.deps.log[level]({ code: (err as SwitchboardError).code }, `tool discovery failed: ${(err as Error).message}; the conversation goes on without MCP tools`);
    }
  }

  private fromDescriptor(d: ToolDescriptor): OfferedTool {
    const server = this.servers.find((s) => s.name === d.server);
    const opts = server?.tools?.[d.originalName];
    return {
      name: d.name,
      originalName: d.originalName,
      kind: 'mcp',
      server: d.server,
      description: d.description,
      parameters: d.inputSchema,
      mcpServer: server,
      serverRef: d.serverRef,
      timeoutMs: opts?.timeoutMs ?? server?.timeoutMs ?? 10_000,
      cancelOnBargeIn: opts?.cancelOnBargeIn === true,
      fillerAfterMs: opts?.fillerAfterMs ?? this.deps.fillerAfterMs,
      endsCall: CALL_CONTROL_TOOLS.has(d.originalName),
      safeToRetry: safeToRetry(d.annotations),
    };
  }

  private merge(reply: ListToolsReply): void {
    for (const d of reply.tools) {
      if (d.name === DISCOVER_TOOL && !this.servers.some((s) => s.name === d.server)) {
        this.discoverTool = { ...this.fromDescriptor(d), kind: 'discover', endsCall: false };
        continue;
      }
      if (!this.servers.some((s) => s.name === d.server) && !d.serverRef) continue;
      this.mcp.set(d.name, this.fromDescriptor(d));
    }
    // The MCP server's own call control replaces the built-in one.
    for (const t of this.mcp.values()) if (CALL_CONTROL_TOOLS.has(t.originalName)) this.builtins.delete(t.originalName);
    this.onChange?.();
  }

  /** Original name → the name the model sees, for prompt mentions. */
  names(): Map<string, string> {
    const out = new Map<string, string>();
    for (const t of [...this.builtins.values(), ...this.webhooks.values(), ...this.mcp.values()]) {
      out.set(t.originalName, t.name);
      out.set(t.name, t.name);
    }
    return out;
  }

  /**
   * Starts a turn: with many MCP tools, asks the broker for the ones relevant to the conversation
   * (`turns`, oldest first). On any failure every tool is offered.
   */
  async beginTurn(turns: string[]): Promise<void> {
    this.selected = undefined;
    if (!this.selecting) return;
    try {
      const reply = await this.deps.bus.request(contracts.listTools, this.listRequest({ budgetMs: 0, selection: { ...this.selection, turns: turns.slice(-12).map((t) => t.slice(0, 4000)) } }), { callId: this.deps.context.callId, timeoutMs: 2000 });
      this.merge(reply);
      if (reply.selection?.applied) this.selected = new Set(reply.tools.map((t) => t.name));
    } catch (err) {
      this.deps.log.warn({ code: (err as SwitchboardError).code }, `tool selection failed (${(err as Error).message}); offering every tool`);
    }
  }

  /** What the model is offered this round. */
  llmTools(): LlmTool[] {
    const mcp = [...this.mcp.values()].filter((t) => !this.selected || this.selected.has(t.name) || this.discovered.has(t.name));
    const extra = this.selected && this.discoverTool ? [this.discoverTool] : [];
    return [...this.webhooks.values(), ...mcp, ...extra, ...this.builtins.values()].map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
  }

  get(name: string): OfferedTool | undefined {
    return this.webhooks.get(name) ?? this.mcp.get(name) ?? this.builtins.get(name) ?? (this.discoverTool?.name === name ? this.discoverTool : undefined);
  }

  /** Every tool currently known (for checks and tests). */
  all(): OfferedTool[] {
    return [...this.webhooks.values(), ...this.mcp.values(), ...this.builtins.values()];
  }

  /** Runs one tool call. Never throws. */
  async execute(call: ToolCallRequest, invocationId: string, signal?: AbortSignal): Promise<ToolOutcome> {
    const t0 = performance.now();
    const tool = this.get(call.function.name);
    const done = (o: Omit<ToolOutcome, 'callId' | 'latencyMs'>): ToolOutcome => ({ ...o, callId: call.id, latencyMs: Math.round(performance.now() - t0) });
    let args: Record<string, unknown> = {};
    if (!tool) return done({ server: 'unknown', name: call.function.name, arguments: args, text: envelope(`Unknown tool ${call.function.name}`), isError: true, endsCall: false });
    try {
      const parsed: unknown = call.function.arguments ? JSON.parse(call.function.arguments) : {};
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      args = parsed as Record<string, unknown>;
    } catch {
      return done({ server: tool.server, name: tool.originalName, arguments: args, text: envelope(`Arguments for ${call.function.name} are not a JSON object`), isError: true, endsCall: false });
    }
    const base = { server: tool.server, name: tool.originalName, arguments: args };
    const kind = this.deps.simulateCallControl && CALL_CONTROL_TOOLS.has(tool.originalName) ? 'builtin' : tool.kind;
    switch (kind) {
      case 'webhook': {
        const r = await callWebhookTool(tool.webhook!, args, this.deps.context, invocationId, this.deps.webhook, signal);
        return done({ ...base, text: r.text, isError: r.isError, endsCall: false });
      }
      case 'builtin': {
        try {
          const text = tool.originalName === 'hangup_call' ? await this.deps.control.hangup(typeof args.reason === 'string' ? args.reason : undefined) : await this.deps.control.transfer(String(args.destination ?? ''));
          return done({ ...base, text, isError: false, endsCall: true });
        } catch (err) {
          return done({ ...base, text: envelope((err as Error).message), isError: true, endsCall: false });
        }
      }
      case 'discover':
        return done({ ...base, ...(await this.discoverMore(args)), endsCall: false });
      case 'mcp': {
        const request = {
          context: this.deps.context,
          ...(tool.serverRef ? { serverRef: tool.serverRef } : { server: tool.mcpServer! }),
          tool: tool.originalName,
          arguments: args,
          timeoutMs: tool.timeoutMs,
          invocationId,
        };
        const attempts = tool.safeToRetry ? SAFE_TOOL_ATTEMPTS : 1;
        for (let attempt = 1; ; attempt++) {
          try {
            const reply = await this.deps.bus.request(contracts.callTool, request, { callId: this.deps.context.callId, timeoutMs: tool.timeoutMs + 2000 });
            return done({ ...base, text: reply.text, isError: reply.isError, endsCall: tool.endsCall && !reply.isError });
          } catch (err) {
            const code = (err as SwitchboardError).code;
            if (attempt < attempts && RESEND_CODES.has(code) && !signal?.aborted && !this.closed) {
              this.deps.log.warn({ code, tool: tool.originalName, attempt }, `tool ${tool.originalName} failed (${(err as Error).message}); it is safe to repeat, sending it again`);
              await new Promise((r) => setTimeout(r, 50 * attempt));
              continue;
            }
            return done({ ...base, text: envelope((err as Error).message), isError: true, endsCall: false });
          }
        }
      }
    }
  }

  /** `discover_tools(query, category)`: asks the broker's ranking for more tools and offers them from now on. */
  private async discoverMore(args: Record<string, unknown>): Promise<{ text: string; isError: boolean }> {
    try {
      const query = typeof args.query === 'string' ? args.query : '';
      const category = typeof args.category === 'string' ? args.category : undefined;
      const reply = await this.deps.bus.request(
        contracts.listTools,
        this.listRequest({ budgetMs: 0, selection: { ...this.selection, query, ...(category ? { category } : {}), omitDiscoverTool: true } }),
        { callId: this.deps.context.callId, timeoutMs: 2000 },
      );
      this.merge(reply);
      const found = reply.tools.filter((t) => t.name !== DISCOVER_TOOL);
      for (const t of found) this.discovered.add(t.name);
      return { text: JSON.stringify({ tools: found.map((t) => ({ name: t.name, description: t.description })) }), isError: false };
    } catch (err) {
      return { text: envelope((err as Error).message), isError: true };
    }
  }

  close(): void {
    this.closed = true;
    if (this.repoll) clearTimeout(this.repoll);
  }
}
