import type { FastifyRequest } from 'fastify';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { ApiKeyRecord, ApiKeyStore } from '@switchboard/session-store';

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key that authenticated the request (set by the `/v1` auth hook). */
    apiKey?: ApiKeyRecord;
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v.length ? v : undefined;
}

/** The presented key: `X-API-Key` or `Authorization: Bearer`, as the tool server accepts them. */
export function presentedKey(req: FastifyRequest): string | undefined {
  const auth = header(req, 'authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim() || undefined;
  return header(req, 'x-api-key');
}

/** A fastify `onRequest` hook: the same hashed API keys as the mcp-tool-server (Redis), 401 without a valid one. */
export function requireApiKey(keys: ApiKeyStore) {
  return async (req: FastifyRequest): Promise<void> => {
    const key = presentedKey(req);
    if (!key) throw new SwitchboardError(ErrorCodes.AUTH_MISSING_KEY, 'Missing API key: send X-API-Key or Authorization: Bearer');
    const record = await keys.verify(key);
    if (!record) throw new SwitchboardError(ErrorCodes.AUTH_INVALID_KEY, 'Invalid API key');
    req.apiKey = record;
  };
}

/** The authenticated account of a `/v1` request. */
export function accountOf(req: FastifyRequest): string {
  if (!req.apiKey) throw new SwitchboardError(ErrorCodes.AUTH_MISSING_KEY, 'Missing API key');
  return req.apiKey.accountId;
}
