import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
import { z, type ZodTypeAny } from 'zod';
import { ErrorCodes, SwitchboardError, TOOL_SCOPES, type AgentDefinition } from '@switchboard/contracts';
import { hasScope } from '@switchboard/session-store';
import { fillTemplate, placeholders } from '../adapters/api-request.ts';
import { isAvailable } from '../adapters/directory.ts';
import { transferCall } from './call-control.ts';
import { requireCall, type ToolContext, type ToolServices } from './context.ts';
import { asResult, data, text } from './result.ts';

type CustomTool = NonNullable<AgentDefinition['customTools']>[number];
type ApiRequestTool = Extract<CustomTool, { type: 'api_request' }>;
type Variable = NonNullable<ApiRequestTool['variables']>[number];

/**
 * Boot-time checks of every persona's custom tools that the agent schema cannot express: names that
 * clash with a global tool or with each other, placeholders naming undeclared variables, `options`
 * variables without options. Returns one line per problem.
 */
export function checkPersonaTools(agents: readonly AgentDefinition[], globalNames: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  for (const a of agents) {
    const seen = new Set<string>();
    (a.customTools ?? []).forEach((t, i) => {
      const where = `agent ${a.id}: /customTools/${i}`;
      if (globalNames.has(t.name)) problems.push(`${where}/name: "${t.name}" is the name of a global tool`);
      if (seen.has(t.name)) problems.push(`${where}/name: duplicate custom tool name "${t.name}"`);
      seen.add(t.name);
      if (t.type !== 'api_request') return;
      const declared = new Set((t.variables ?? []).map((v) => v.name));
      const used = [...placeholders(t.url), ...Object.values(t.headers ?? {}).flatMap(placeholders)];
      for (const p of used) if (!declared.has(p)) problems.push(`${where}: placeholder {{${p}}} names no variable`);
      (t.variables ?? []).forEach((v, j) => {
        if (v.type === 'options' && !v.options?.length) problems.push(`${where}/variables/${j}: an options variable needs options`);
      });
    });
  }
  return problems;
}

function variableSchema(v: Variable): ZodTypeAny {
  let s: ZodTypeAny = v.type === 'number' ? z.number() : v.type === 'options' ? z.enum(v.options as [string, ...string[]]) : z.string().max(2000);
  if (v.description) s = s.describe(v.description);
  return v.required === false ? s.optional() : s;
}

/** Honest hints by method: GET reads; PUT and DELETE repeat safely; POST and PATCH may not. */
function apiAnnotations(method: string): ToolAnnotations {
  if (method === 'GET') return { readOnlyHint: true, openWorldHint: true };
  return { readOnlyHint: false, destructiveHint: true, idempotentHint: method === 'PUT' || method === 'DELETE', openWorldHint: true };
}

const apiOutput = {
  status: z.number().int().describe('HTTP status of the answer'),
  contentType: z.string().optional(),
  body: z.string().describe('The answer body (text), cut at the size cap'),
  truncated: z.boolean(),
};

/** Per-persona tools (seed 001 "Custom Tools"): transfer to a user, transfer to a queue, API request. */
export function registerPersonaTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  for (const tool of ctx.persona.customTools ?? []) {
    if (tool.type === 'transfer_to_user' && hasScope(ctx.key, TOOL_SCOPES.calls)) {
      server.registerTool(
        tool.name,
        { description: tool.description, inputSchema: {}, annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } },
        () =>
          asResult(svc.log, tool.name, async () => {
            const { callId } = await requireCall(ctx, svc.calls);
            const user = await svc.directory.user(ctx.accountId, tool.userId);
            if (!user) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `User ${tool.userId} is not in this account's directory`);
            if (!isAvailable(user)) return text(`${user.name} is not available right now (${user.dnd ? 'Do Not Disturb is on' : 'offline'})`, true);
            await transferCall(svc, callId, user.phoneNumber);
            return text(`Transferring the call to ${user.name}`);
          }),
      );
    } else if (tool.type === 'transfer_to_queue' && hasScope(ctx.key, TOOL_SCOPES.calls)) {
      server.registerTool(
        tool.name,
        { description: tool.description, inputSchema: {}, annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true } },
        () =>
          asResult(svc.log, tool.name, async () => {
            const { callId } = await requireCall(ctx, svc.calls);
            const queue = await svc.directory.queue(ctx.accountId, tool.queueId);
            if (!queue) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `Queue ${tool.queueId} is not in this account's directory`);
            let destination = queue.phoneNumber;
            if (!destination) {
              for (const id of queue.members ?? []) {
                const member = await svc.directory.user(ctx.accountId, id);
                if (member && isAvailable(member)) {
                  destination = member.phoneNumber;
                  break;
                }
              }
            }
            if (!destination) return text(`No one in queue ${queue.name} is available right now`, true);
            await transferCall(svc, callId, destination);
            return text(`Transferring the call to queue ${queue.name}`);
          }),
      );
    } else if (tool.type === 'api_request' && hasScope(ctx.key, TOOL_SCOPES.api)) {
      registerApiRequestTool(server, tool, svc);
    }
  }
}

/** Input shapes by tool definition: agents load once, so each is built once, not per request. */
const shapes = new WeakMap<ApiRequestTool, Record<string, ZodTypeAny>>();

function registerApiRequestTool(server: McpServer, tool: ApiRequestTool, svc: ToolServices): void {
  const method = tool.method ?? 'GET';
  let shape = shapes.get(tool);
  if (!shape) {
    shape = Object.fromEntries((tool.variables ?? []).map((v) => [v.name, variableSchema(v)]));
    shapes.set(tool, shape);
  }
  server.registerTool(
    tool.name,
    { description: tool.description, inputSchema: shape, outputSchema: apiOutput, annotations: apiAnnotations(method) },
    (args: Record<string, unknown>) =>
      asResult(svc.log, tool.name, async () => {
        const url = fillTemplate(tool.url, args, 'url');
        const headers = Object.fromEntries(Object.entries(tool.headers ?? {}).map(([k, v]) => [k, fillTemplate(v, args, 'header')]));
        const withBody = method === 'POST' || method === 'PUT' || method === 'PATCH';
        const res = await svc.api.request({
          url,
          method,
          headers: withBody ? { 'content-type': 'application/json', ...headers } : headers,
          ...(withBody ? { body: JSON.stringify(args) } : {}),
          ...(tool.timeoutMs !== undefined ? { timeoutMs: tool.timeoutMs } : {}),
          ...(tool.maxResponseBytes !== undefined ? { maxBytes: tool.maxResponseBytes } : {}),
        });
        const structured = { status: res.status, ...(res.contentType ? { contentType: res.contentType } : {}), body: res.body, truncated: res.truncated };
        const notice = res.truncated ? '\n[response truncated at the size limit]' : '';
        if (res.status >= 400) return { ...data(`The API answered ${res.status}: ${res.body.slice(0, 2000)}${notice}`, structured), isError: true };
        return data(`${res.body}${notice}`, structured);
      }),
  );
}
