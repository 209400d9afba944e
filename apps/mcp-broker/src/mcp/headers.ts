import { createHash } from 'node:crypto';
import type { CallContext, McpServerConfig } from '@switchboard/contracts';

const CONTEXT_REF = /\{\{\s*(call\.id|call\.from|call\.to|agent\.id|account\.id)\s*\}\}/g;
const CALL_REF = /\{\{\s*call\.(id|from|to)\s*\}\}/;

/**
 * Whether the server's URL or headers name per-call context (`{{call.id}}`, `{{call.from}}`,
 * `{{call.to}}`), so each call needs its own connection. `{{agent.id}}` and `{{account.id}}` do not
 * make a server call-scoped: they are constant per agent, so one pooled connection per resolved
 * credentials serves every call of that agent.
 */
export function isCallScoped(server: McpServerConfig): boolean {
  return CALL_REF.test(server.url ?? '') || Object.values(server.headers ?? {}).some((v) => CALL_REF.test(v));
}

function fill(template: string, values: Record<string, string>): string {
  return template.replace(CONTEXT_REF, (m, key: string) => values[key] ?? m);
}

function contextValues(ctx: CallContext, withCall: boolean): Record<string, string> {
  const values: Record<string, string> = { 'agent.id': ctx.agentId, 'account.id': ctx.accountId };
  if (withCall) {
    values['call.id'] = ctx.callId;
    values['call.from'] = ctx.from ?? '';
    values['call.to'] = ctx.to ?? '';
  }
  return values;
}

/** Fills `{{call.id}}`, `{{call.from}}`, `{{call.to}}`, `{{agent.id}}`, `{{account.id}}` from the call. */
export function resolveHeaders(server: McpServerConfig, ctx: CallContext): Record<string, string> {
  const values = contextValues(ctx, true);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(server.headers ?? {})) out[k] = fill(v, values);
  return out;
}

/** A server config made concrete for one call: what to connect to, and the keys it is pooled and cached under. */
export interface ResolvedServer {
  server: McpServerConfig;
  /** URL with call context filled (undefined for stdio). */
  url: string | undefined;
  /** Headers with call context filled: what goes on the wire. */
  headers: Record<string, string>;
  /** Connection pool key: transport, endpoint and a hash of the resolved credentials. Internal only (the URL may carry a token). */
  identity: string;
  /**
   * Tool-list cache and circuit-breaker key: a hash of transport, endpoint and credentials with the
   * per-call values (`{{call.*}}`) left unfilled, so every call of a call-scoped server shares one
   * cached list and one breaker while each still gets its own connection. Safe to log and publish.
   */
  cacheKey: string;
  callScoped: boolean;
}

const sha = (s: string, n: number) => createHash('sha256').update(s).digest('hex').slice(0, n);

function sortedJson(obj: Record<string, string> | undefined): string {
  return JSON.stringify(Object.entries(obj ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Resolves a server config for one call: headers and URL filled, pool identity and cache key computed. */
export function resolveServer(server: McpServerConfig, ctx: CallContext): ResolvedServer {
  const all = contextValues(ctx, true);
  const perAgent = contextValues(ctx, false);
  const headers: Record<string, string> = {};
  const templated: Record<string, string> = {};
  for (const [k, v] of Object.entries(server.headers ?? {})) {
    headers[k] = fill(v, all);
    templated[k] = fill(v, perAgent);
  }
  const url = server.url === undefined ? undefined : fill(server.url, all);
  const urlTemplate = server.url === undefined ? '' : fill(server.url, perAgent);
  const stdio = server.transport === 'stdio' ? JSON.stringify([server.command ?? '', server.args ?? [], sortedJson(server.env), server.cwd ?? '']) : '';
  const identity = `${server.transport}|${url ?? stdio}|${sha(sortedJson(headers), 16)}`;
  const cacheKey = sha(JSON.stringify([server.transport, urlTemplate, stdio, sortedJson(templated)]), 32);
  return { server, url, headers, identity, cacheKey, callScoped: isCallScoped(server) };
}
