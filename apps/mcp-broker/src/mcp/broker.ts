import { Ajv, type ValidateFunction } from 'ajv';
import type { Tool, CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import {
  ErrorCodes,
  SwitchboardError,
  type CallToolReply,
  type CallToolRequest,
  type ListToolsReply,
  type ListToolsRequest,
  type McpServerConfig,
  type ToolDescriptor,
} from '@switchboard/contracts';
import { describeErrors } from '@switchboard/bus';
import { providerSafeName } from './naming.ts';
import type { ConnectionPool } from './pool.ts';

const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });

export interface BrokerOptions {
  discoveryBudgetMs: number;
  toolTimeoutMs: number;
  maxResultBytes: number;
}

/** Patter's envelope: what the model sees when a tool failed, so it can recover and apologise. */
export function fallbackEnvelope(error: string): string {
  return JSON.stringify({ error, fallback: true });
}

/** The MCP client side of Switchboard: discovery within a budget and safe invocation. */
export class Broker {
  private readonly validators = new Map<string, ValidateFunction | null>();
  stats = { calls: 0, errors: 0, timeouts: 0 };

  constructor(
    private readonly pool: ConnectionPool,
    private readonly log: Logger,
    private readonly opts: BrokerOptions,
  ) {}

  /** Connects and lists every server in parallel; replies when all are done or the budget runs out. */
  async listTools(req: ListToolsRequest): Promise<ListToolsReply> {
    const budget = req.budgetMs ?? this.opts.discoveryBudgetMs;
    const failed: ListToolsReply['failed'] = [];
    const settled = new Map<string, Tool[]>();
    const work = req.servers.map(async (server) => {
      try {
        const conn = await this.pool.get(server as McpServerConfig, req.context);
        settled.set(server.name, await this.pool.tools(conn));
      } catch (err) {
        const e = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, (err as Error).message);
        this.log.error({ server: server.name, code: e.code }, `MCP server '${server.name}' skipped: ${e.message}`);
        failed.push({ server: server.name, code: e.code, message: e.message });
      }
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(work), new Promise((r) => (timer = setTimeout(r, budget)))]);
    clearTimeout(timer);

    const tools: ToolDescriptor[] = [];
    const taken = new Map<string, string>();
    const pending: string[] = [];
    for (const server of req.servers) {
      const list = settled.get(server.name);
      if (!list) {
        if (!failed.some((f) => f.server === server.name)) pending.push(server.name);
        continue;
      }
      for (const t of list) {
        if (server.allowedTools && !server.allowedTools.includes(t.name)) continue;
        const name = providerSafeName(t.name, server.prefix);
        const owner = taken.get(name);
        if (owner) {
          this.log.warn({ tool: name, server: server.name, owner }, `tool '${name}' from '${server.name}' collides with '${owner}'; excluded`);
          continue;
        }
        taken.set(name, server.name);
        tools.push({
          name,
          originalName: t.name,
          server: server.name,
          description: t.description ?? t.title ?? t.name,
          inputSchema: t.inputSchema as Record<string, unknown>,
          ...(t.annotations ? { annotations: t.annotations as ToolDescriptor['annotations'] } : {}),
        });
      }
    }
    return { tools, pending, failed };
  }

  /** Validates arguments, calls the tool with its timeout, retries only safe tools on transport failure. */
  async callTool(req: CallToolRequest, signal?: AbortSignal): Promise<CallToolReply> {
    const t0 = performance.now();
    const server = req.server as McpServerConfig;
    this.stats.calls++;
    const done = (text: string, isError: boolean, extra: Partial<CallToolReply> = {}): CallToolReply => {
      if (isError) this.stats.errors++;
      return { text, isError, latencyMs: performance.now() - t0, ...extra };
    };
    let attempt = 0;
    for (;;) {
      attempt++;
      try {
        const conn = await this.pool.get(server, req.context);
        const tools = await this.pool.tools(conn);
        const tool = tools.find((t) => t.name === req.tool);
        if (!tool) return done(fallbackEnvelope(`Tool ${req.tool} is not offered by '${server.name}'`), true, { code: ErrorCodes.TOOL_NOT_FOUND });
        const problems = this.validate(conn.identity, tool, req.arguments);
        if (problems) return done(fallbackEnvelope(`Invalid arguments for ${req.tool}: ${problems.join('; ')}`), true, { code: ErrorCodes.TOOL_INVALID_ARGUMENTS });
        const result = await this.pool.call(conn, req.tool, req.arguments, req.timeoutMs ?? server.tools?.[req.tool]?.timeoutMs ?? server.timeoutMs ?? this.opts.toolTimeoutMs, signal);
        return this.mapResult(result, done);
      } catch (err) {
        const e = err instanceof SwitchboardError ? err : new SwitchboardError(ErrorCodes.INTERNAL_ERROR, (err as Error).message);
        if (e.code === ErrorCodes.TOOL_TIMEOUT) this.stats.timeouts++;
        const transport = e.code === ErrorCodes.MCP_SERVER_UNAVAILABLE;
        if (transport && attempt < 3 && (await this.safeToRepeat(server, req))) {
          this.log.warn({ server: server.name, tool: req.tool, attempt }, 'transport failure on a safe tool; retrying');
          await new Promise((r) => setTimeout(r, 100 * attempt));
          continue;
        }
        return done(fallbackEnvelope(e.message), true, { code: e.code });
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
    if (!text && result.structuredContent) text = JSON.stringify(result.structuredContent);
    if (Buffer.byteLength(text) > this.opts.maxResultBytes) {
      text = `${Buffer.from(text).subarray(0, this.opts.maxResultBytes).toString('utf8')}\n[result truncated at ${this.opts.maxResultBytes} bytes]`;
    }
    if (result.isError) return done(fallbackEnvelope(text || 'The tool reported an error'), true, { code: ErrorCodes.TOOL_FAILED });
    return done(text, false, result.structuredContent ? { structuredContent: result.structuredContent as Record<string, unknown> } : {});
  }

  /** Only read-only or idempotent tools may be repeated; the hints come from the server's own list. */
  private async safeToRepeat(server: McpServerConfig, req: CallToolRequest): Promise<boolean> {
    try {
      // A transport failure replaced the connection: the new one has no cached list yet, so list it.
      const conn = await this.pool.get(server, req.context);
      const tool = (await this.pool.tools(conn)).find((t) => t.name === req.tool);
      return tool?.annotations?.readOnlyHint === true || tool?.annotations?.idempotentHint === true;
    } catch {
      return false;
    }
  }

  private validate(identity: string, tool: Tool, args: Record<string, unknown>): string[] | undefined {
    const key = `${identity}#${tool.name}`;
    let v = this.validators.get(key);
    if (v === undefined) {
      try {
        v = ajv.compile(tool.inputSchema as object);
      } catch (err) {
        this.log.warn({ tool: tool.name, err: (err as Error).message }, 'tool inputSchema does not compile; arguments pass unchecked');
        v = null;
      }
      this.validators.set(key, v);
    }
    if (!v || v(args)) return undefined;
    return describeErrors(v.errors);
  }
}
