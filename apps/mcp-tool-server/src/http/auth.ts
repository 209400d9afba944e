import type { FastifyRequest } from 'fastify';
import type { AgentRegistry } from '@switchboard/agents';
import type { ApiKeyStore } from '@switchboard/session-store';
import type { RateLimiter } from '../adapters/rate-limiter.ts';
import type { ToolContext } from '../tools/context.ts';

/** A refused request: the HTTP status and the JSON-RPC error that goes with it. */
export interface Refusal {
  status: number;
  code: number;
  message: string;
  headers?: Record<string, string>;
}

export interface AuthDeps {
  keys: ApiKeyStore;
  agents: AgentRegistry;
  limiter: RateLimiter;
  /** Requests per minute of a key that sets none. */
  defaultRatePerMin: number;
}

/** JSON-RPC error codes of refusals (the implementation-defined server range). */
export const RpcCodes = {
  unauthorized: -32001,
  forbidden: -32003,
  rateLimited: -32029,
  invalidParams: -32602,
} as const;

export function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v.length ? v : undefined;
}

/** The presented key: `X-API-Key` (seed 001) or `Authorization: Bearer`. */
function presentedKey(req: FastifyRequest): string | undefined {
  const auth = header(req, 'authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim() || undefined;
  return header(req, 'x-api-key');
}

/**
 * Who is asking: the key (hashed lookup), its rate budget, then the seed's context headers. The
 * account must be the key's, the persona an agent of that account. Order matters: nothing about an
 * account is revealed before the key is known good.
 */
export async function authenticate(req: FastifyRequest, deps: AuthDeps): Promise<{ ctx: ToolContext } | { refusal: Refusal }> {
  const key = presentedKey(req);
  if (!key) return { refusal: { status: 401, code: RpcCodes.unauthorized, message: 'Missing API key: send X-API-Key or Authorization: Bearer' } };
  const record = await deps.keys.verify(key);
  if (!record) return { refusal: { status: 401, code: RpcCodes.unauthorized, message: 'Invalid API key' } };
  const perMin = record.ratePerMin ?? deps.defaultRatePerMin;
  const rate = await deps.limiter.take(record.id, perMin);
  if (!rate.allowed) {
    const retryS = Math.max(1, Math.ceil(rate.retryAfterMs / 1000));
    return { refusal: { status: 429, code: RpcCodes.rateLimited, message: `Rate limit exceeded: ${perMin} requests per minute for this key; retry in ${retryS} s`, headers: { 'retry-after': String(retryS) } } };
  }
  const accountId = header(req, 'account_id');
  const personaId = header(req, 'persona_id');
  if (!accountId || !personaId) return { refusal: { status: 400, code: RpcCodes.invalidParams, message: 'Headers account_id and persona_id are required' } };
  if (accountId !== record.accountId) return { refusal: { status: 403, code: RpcCodes.forbidden, message: 'This key does not belong to that account' } };
  const persona = deps.agents.get(personaId);
  if (!persona || (persona.accountId ?? 'default') !== accountId) return { refusal: { status: 403, code: RpcCodes.forbidden, message: `persona_id ${personaId} is not an agent of this account` } };
  return { ctx: { key: record, accountId, personaId, persona, callId: header(req, 'call_id'), callerIdNumber: header(req, 'caller_id_number') } };
}
