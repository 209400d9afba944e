import { ErrorCode as RpcCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCodes, SwitchboardError, type ErrorCode } from '@switchboard/contracts';

/**
 * What went wrong talking to an MCP server, in the terms that decide what happens next:
 *
 * - `undelivered`: provably never reached the tool (connection refused, the server no longer knows
 *   the session, not connected). Reconnecting and sending again cannot run the tool twice.
 * - `transport`: the exchange broke somewhere (reset, 5xx, closed mid-answer): the tool may have run.
 * - `timeout`: no answer within the tool's timeout; a cancellation was sent.
 * - `cancelled`: we cancelled it (call ended, barge-in).
 * - `malformed`: the server answered with something that is not valid JSON-RPC / MCP.
 * - `auth`: 401/403: the credentials are refused.
 * - `rpc`: the server answered with a JSON-RPC error: it is alive, the request was refused.
 */
export type FailureKind = 'undelivered' | 'transport' | 'timeout' | 'cancelled' | 'malformed' | 'auth' | 'rpc';

/** A classified failure; `code` is what crosses the wire. */
export class McpFailure extends SwitchboardError {
  readonly kind: FailureKind;
  constructor(kind: FailureKind, code: ErrorCode, message: string, cause?: unknown) {
    super(code, message, { cause, retryable: kind !== 'rpc' && kind !== 'auth' && kind !== 'malformed' });
    this.kind = kind;
  }

  /** Whether this failure says something about the server's health (counts against its circuit breaker). */
  get countsAgainstServer(): boolean {
    return this.kind !== 'rpc' && this.kind !== 'cancelled';
  }
}

/** The reason a broker abort carries, so an abort is told apart from the SDK's own timeout (both surface as -32001). */
export class CancelReason extends Error {
  constructor(readonly why: string) {
    super(`cancelled: ${why}`);
    this.name = 'CancelReason';
  }
}

/** A short, log-safe description of an error (never a stack, never more than 300 characters). */
export function describe(err: unknown): string {
  const e = err as { message?: string; code?: unknown; cause?: { code?: string; message?: string } };
  // fetch puts the system error in `cause`; undici's request API throws it directly.
  const code = e?.cause?.code ?? (typeof e?.code === 'string' ? e.code : undefined);
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND') return 'host not found';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection reset';
  if (typeof code === 'string' && /^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_VERIFY|DEPTH_ZERO|SELF_SIGNED)/.test(code)) return `TLS error (${code})`;
  // fetch says only "fetch failed"; the reason is in its cause.
  const cause = e?.cause && (e.cause.code || e.cause.message) ? ` (${e.cause.code ?? e.cause.message})` : '';
  return `${e?.message ?? String(err)}${cause}`.replace(/\s+/g, ' ').slice(0, 300);
}

function httpStatus(err: unknown): number | undefined {
  // StreamableHTTPError / SseError / HttpFunctionsError carry the HTTP status as a positive `code`.
  const e = err as { name?: string; code?: unknown };
  if (typeof e?.code === 'number' && e.code >= 100 && e.code < 600) return e.code;
  return undefined;
}

/**
 * Classifies anything a transport or the SDK threw. `what` names the operation for the message
 * (`tools/call check_order_status on 'orders'`); `signal` is the broker's own abort signal, whose
 * reason tells a cancellation from a timeout.
 */
export function classify(err: unknown, what: string, opts: { signal?: AbortSignal; hadSession?: boolean; timeoutMs?: number } = {}): McpFailure {
  if (err instanceof McpFailure) return err;
  const reason = opts.signal?.aborted ? (opts.signal.reason as unknown) : undefined;
  if (reason instanceof CancelReason) return new McpFailure('cancelled', ErrorCodes.TOOL_CANCELLED, `${what} was cancelled (${reason.why})`, err);
  const name = (err as { name?: string })?.name;
  if (err instanceof McpError) {
    if (err.code === RpcCode.RequestTimeout) {
      return new McpFailure('timeout', ErrorCodes.TOOL_TIMEOUT, `${what} did not answer within ${opts.timeoutMs ?? '?'} ms`, err);
    }
    if (err.code === RpcCode.ConnectionClosed) return new McpFailure('transport', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what} failed: the connection closed`, err);
    if (err.code === RpcCode.ParseError) return new McpFailure('malformed', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what}: the server's answer is not valid JSON-RPC (${describe(err)})`, err);
    return new McpFailure('rpc', ErrorCodes.TOOL_FAILED, `${what} failed: ${describe(err)}`, err);
  }
  if (name === 'ZodError' || name === 'SyntaxError' || (err as { code?: unknown })?.code === -1) {
    return new McpFailure('malformed', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what}: the server's answer is not valid JSON-RPC/MCP (${describe(err).slice(0, 160)})`, err);
  }
  const status = httpStatus(err);
  if (status === 401 || status === 403) return new McpFailure('auth', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what}: the server refused the credentials (HTTP ${status})`, err);
  // A session the server no longer knows (it restarted or expired it): the request was refused before any tool ran.
  if (status === 404 && opts.hadSession) return new McpFailure('undelivered', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what}: the server no longer knows this session (HTTP 404)`, err);
  if (status !== undefined) return new McpFailure('transport', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what} failed: HTTP ${status}`, err);
  const causeCode = (err as { cause?: { code?: string } })?.cause?.code ?? (err as { code?: unknown })?.code;
  if (causeCode === 'ECONNREFUSED' || (err as Error)?.message === 'Not connected') {
    return new McpFailure('undelivered', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what} failed: ${describe(err)}`, err);
  }
  return new McpFailure('transport', ErrorCodes.MCP_SERVER_UNAVAILABLE, `${what} failed: ${describe(err)}`, err);
}
