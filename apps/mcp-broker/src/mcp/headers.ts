import { createHash } from 'node:crypto';
import type { CallContext, McpServerConfig } from '@switchboard/contracts';

const CONTEXT_REF = /\{\{\s*(call\.id|call\.from|call\.to|agent\.id|account\.id)\s*\}\}/g;

/** Whether any header of the server names call context, so its connections must be per call. */
export function isCallScoped(server: McpServerConfig): boolean {
  return Object.values(server.headers ?? {}).some((v) => /\{\{\s*(call|agent|account)\./.test(v));
}

/** Fills `{{call.id}}`, `{{call.from}}`, `{{call.to}}`, `{{agent.id}}`, `{{account.id}}` from the call. */
export function resolveHeaders(server: McpServerConfig, ctx: CallContext): Record<string, string> {
  const values: Record<string, string> = {
    'call.id': ctx.callId,
    'call.from': ctx.from ?? '',
    'call.to': ctx.to ?? '',
    'agent.id': ctx.agentId,
    'account.id': ctx.accountId,
  };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(server.headers ?? {})) out[k] = v.replace(CONTEXT_REF, (_m, key: string) => values[key] ?? '');
  return out;
}

/** Server identity: transport, endpoint and a hash of the credentials (never the credentials themselves). */
export function serverIdentity(server: McpServerConfig, headers: Record<string, string>): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(Object.entries(headers).sort(([a], [b]) => a.localeCompare(b))));
  const endpoint = server.transport === 'stdio' ? `${server.command ?? ''} ${(server.args ?? []).join(' ')}` : (server.url ?? '');
  return `${server.transport}|${endpoint}|${h.digest('hex').slice(0, 16)}`;
}
