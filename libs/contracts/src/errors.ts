/**
 * The one catalogue of error codes that cross a service boundary (NATS reply, HTTP body, tool result).
 * Each code says when it is raised. Local code throws `SwitchboardError`; the wire carries `ErrorEnvelope`.
 */
export const ErrorCodes = {
  /** A bus request got no reply before its deadline. */
  BUS_TIMEOUT: 'BUS_TIMEOUT',
  /** A bus request found no subscriber for its subject (the service is not running). */
  BUS_NO_RESPONDERS: 'BUS_NO_RESPONDERS',
  /** A bus message or reply failed its contract schema; `details` lists the schema errors. */
  BUS_INVALID_MESSAGE: 'BUS_INVALID_MESSAGE',
  /** Anything unexpected. Never carries the raw internal message over HTTP 5xx. */
  INTERNAL_ERROR: 'INTERNAL_ERROR',
  /** Environment or file configuration failed validation at boot. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /** NATS or Redis could not be reached at boot or by a readiness probe. */
  DEPENDENCY_UNREACHABLE: 'DEPENDENCY_UNREACHABLE',
  /** An HTTP or MCP request was not valid (bad JSON, missing field). */
  REQUEST_INVALID: 'REQUEST_INVALID',
  /** No agent with that id, or no agent routes the dialled number. */
  AGENT_NOT_FOUND: 'AGENT_NOT_FOUND',
  /** An agent definition failed its schema or a cross-field rule (tool name collision, unknown function reference). */
  AGENT_INVALID: 'AGENT_INVALID',
  /** No live call with that id (never started, or already cleaned up). */
  CALL_NOT_FOUND: 'CALL_NOT_FOUND',
  /** The call ended before the command reached it; hang-up treats this as success. */
  CALL_ALREADY_ENDED: 'CALL_ALREADY_ENDED',
  /** The media stream of a call closed while audio or a command was in flight. */
  MEDIA_STREAM_CLOSED: 'MEDIA_STREAM_CLOSED',
  /** A carrier (Twilio REST, SIP trunk) refused or failed a call-control request. */
  CARRIER_FAILED: 'CARRIER_FAILED',
  /** The model asked for a tool that the call's tool set does not have. */
  TOOL_NOT_FOUND: 'TOOL_NOT_FOUND',
  /** Tool arguments failed the tool's inputSchema; `details` lists what is wrong. */
  TOOL_INVALID_ARGUMENTS: 'TOOL_INVALID_ARGUMENTS',
  /** A tool did not answer within its timeout; a cancellation was sent. */
  TOOL_TIMEOUT: 'TOOL_TIMEOUT',
  /** A tool ran and reported failure (`isError`), or its server answered with a JSON-RPC error. */
  TOOL_FAILED: 'TOOL_FAILED',
  /** A tool call was cancelled (call ended, barge-in on a cancellable tool). */
  TOOL_CANCELLED: 'TOOL_CANCELLED',
  /** An MCP server could not be connected, listed or reached (down, TLS, 401, circuit open). */
  MCP_SERVER_UNAVAILABLE: 'MCP_SERVER_UNAVAILABLE',
  /** No registered MCP server with that id in the caller's account (registration API, `serverRef`). */
  MCP_SERVER_NOT_FOUND: 'MCP_SERVER_NOT_FOUND',
  /** A speech or model provider failed (HTTP error, broken stream). */
  PROVIDER_FAILED: 'PROVIDER_FAILED',
  /** A speech or model provider did not answer in time. */
  PROVIDER_TIMEOUT: 'PROVIDER_TIMEOUT',
  /** No API key was presented. */
  AUTH_MISSING_KEY: 'AUTH_MISSING_KEY',
  /** The API key is unknown or revoked. */
  AUTH_INVALID_KEY: 'AUTH_INVALID_KEY',
  /** The key is valid but may not act on that account, call or scope. */
  AUTH_FORBIDDEN: 'AUTH_FORBIDDEN',
  /** The key exceeded its request budget. */
  RATE_LIMITED: 'RATE_LIMITED',
  /** A webhook signature (Twilio) did not verify. */
  SIGNATURE_INVALID: 'SIGNATURE_INVALID',
  /** A transfer or outbound call named a number outside the account's allowed destinations (toll-fraud guard). */
  DESTINATION_NOT_ALLOWED: 'DESTINATION_NOT_ALLOWED',
  /** An outbound HTTP request (API request tool) was refused: private, loopback or link-local target, or a bad URL. */
  URL_NOT_ALLOWED: 'URL_NOT_ALLOWED',
  /** No schedule with that id in that account (never created, or another account's). */
  SCHEDULE_NOT_FOUND: 'SCHEDULE_NOT_FOUND',
  /** The schedule's status does not allow the operation (pausing a cancelled schedule, resuming a completed one). */
  SCHEDULE_CONFLICT: 'SCHEDULE_CONFLICT',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** What crosses the wire when something fails. */
export interface ErrorEnvelope {
  /** A code from `ErrorCodes`. */
  code: ErrorCode;
  /** A sentence for a human; never a stack trace. */
  message: string;
  /** Whether repeating the same request may succeed. */
  retryable: boolean;
  /** Structured extra facts (schema errors, server name). */
  details?: Record<string, unknown>;
}

/** Codes whose failure is transient by nature. */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  ErrorCodes.BUS_TIMEOUT,
  ErrorCodes.BUS_NO_RESPONDERS,
  ErrorCodes.DEPENDENCY_UNREACHABLE,
  ErrorCodes.MCP_SERVER_UNAVAILABLE,
  ErrorCodes.PROVIDER_FAILED,
  ErrorCodes.PROVIDER_TIMEOUT,
  ErrorCodes.TOOL_TIMEOUT,
  ErrorCodes.RATE_LIMITED,
]);

export function isRetryableCode(code: ErrorCode): boolean {
  return RETRYABLE.has(code);
}

/**
 * Retry rule for HTTP statuses (the rule livekit/agents-js uses): 4xx is the caller's fault and not
 * retryable, except 408 (timeout) and 429 (rate limit); 5xx and network failures are retryable.
 */
export function isRetryableStatus(status: number): boolean {
  if (status === 408 || status === 429) return true;
  if (status >= 400 && status < 500) return false;
  return status >= 500;
}

/** A local error that knows its wire code. */
export class SwitchboardError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwitchboardError';
    this.code = code;
    this.retryable = opts.retryable ?? isRetryableCode(code);
    this.details = opts.details;
  }

  toEnvelope(): ErrorEnvelope {
    return {
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      ...(this.details ? { details: this.details } : {}),
    };
  }

  static fromEnvelope(env: ErrorEnvelope): SwitchboardError {
    return new SwitchboardError(env.code, env.message, { retryable: env.retryable, ...(env.details ? { details: env.details } : {}) });
  }
}

/**
 * Maps anything thrown to an envelope. Unknown errors become INTERNAL_ERROR with a generic message:
 * a catch-all never claims the client was at fault and never leaks the internal text.
 */
export function toEnvelope(err: unknown): ErrorEnvelope {
  if (err instanceof SwitchboardError) return err.toEnvelope();
  return { code: ErrorCodes.INTERNAL_ERROR, message: 'Internal error', retryable: false };
}

/** The envelope a tool result carries back to the model when a tool failed (Patter's shape). */
export interface ToolFallbackEnvelope {
  error: string;
  fallback: true;
  code?: ErrorCode;
}
