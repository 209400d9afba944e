import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { TOOL_SCOPES } from '@switchboard/contracts';
import { hasScope } from '@switchboard/session-store';
import { registerCallControlTools } from './call-control.ts';
import type { ToolContext, ToolServices } from './context.ts';
import { registerDirectoryTools } from './directory.ts';
import { registerLeadTools } from './leads.ts';
import { registerOutboundTools } from './outbound.ts';
import { registerPersonaTools } from './persona-tools.ts';
import { registerScheduleTools } from './schedules.ts';
import { registerSystemTools } from './system.ts';
import { registerVoiceTools } from './voice.ts';
import { registerWorkflowTools } from './workflows.ts';

/** Names of the global tools (per-persona custom tools may not reuse them). */
export const GLOBAL_TOOL_NAMES: ReadonlySet<string> = new Set([
  'hangup_call',
  'transfer_call',
  'is_office_open',
  'lookup_contact',
  'check_user_availability',
  'create_lead',
  'make_phone_call',
  'get_call',
  'get_transcript',
  'voice.speak',
  'voice.listen',
  'system.health',
  'session.status',
  'workflow.run',
  'workflow.list',
  'schedule.create',
  'schedule.list',
  'schedule.cancel',
]);

/** One JSON Schema validator for every server: the SDK otherwise builds an Ajv instance per server (per request). */
const validator = new AjvJsonSchemaValidator();

export interface ToolServerOptions {
  /** Register the workflow tools (off for the in-process server that runs workflow steps). */
  workflows?: boolean;
  /**
   * Register only this tool: a stateless `tools/call` needs nothing else, and building twenty tool
   * definitions it will not use is most of a request's CPU. The answer is the same: a tool the key
   * may not use is still "not found".
   */
  only?: string;
}

/**
 * Switchboard's MCP server for one caller: the tools its key's scopes allow, bound to its context
 * (account, persona, call). Cheap to build, so stateless mode builds one per request.
 */
export function createToolServer(ctx: ToolContext, svc: ToolServices, opts: ToolServerOptions = {}): McpServer {
  const server = new McpServer({ name: 'switchboard', version: '0.1.0' }, { capabilities: { tools: {} }, jsonSchemaValidator: validator });
  if (opts.only !== undefined) {
    const only = opts.only;
    const register = server.registerTool.bind(server);
    server.registerTool = ((name: string, ...rest: unknown[]) => (name === only ? (register as (...a: unknown[]) => unknown)(name, ...rest) : undefined)) as typeof server.registerTool;
  }
  const can = (scope: string) => hasScope(ctx.key, scope);
  if (can(TOOL_SCOPES.calls)) {
    registerCallControlTools(server, ctx, svc);
    registerVoiceTools(server, ctx, svc);
  }
  if (can(TOOL_SCOPES.directory)) registerDirectoryTools(server, ctx, svc);
  if (can(TOOL_SCOPES.leads)) registerLeadTools(server, ctx, svc);
  registerOutboundTools(server, ctx, svc);
  registerSystemTools(server, ctx, svc);
  if (can(TOOL_SCOPES.schedules)) registerScheduleTools(server, ctx, svc);
  if (can(TOOL_SCOPES.workflows) && opts.workflows !== false) registerWorkflowTools(server, ctx, svc, () => createToolServer(ctx, svc, { workflows: false }));
  registerPersonaTools(server, ctx, svc);
  return server;
}
