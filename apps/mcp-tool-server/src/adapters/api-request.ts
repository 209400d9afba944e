import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { SafeFetchError, safeFetch } from '@switchboard/safe-fetch';

export interface ApiRequesterOptions {
  /** Ceiling on one request's time, redirects included. */
  timeoutMs: number;
  /** Ceiling on the response body read. */
  maxBytes: number;
  /** IPs or CIDRs allowed although private, loopback or link-local. */
  allowIps: readonly string[];
  /** Redirects followed at most. */
  maxRedirects?: number;
}

export interface ApiRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  /** Lower than the requester's ceilings only. */
  timeoutMs?: number;
  maxBytes?: number;
}

export interface ApiResponse {
  status: number;
  contentType: string | undefined;
  body: string;
  /** The body was longer than the cap and was cut. */
  truncated: boolean;
  /** Where the last hop went (after redirects). */
  url: string;
}

/**
 * Outbound HTTP for the per-persona API request tools, through the platform's one SSRF-safe client
 * (libs/safe-fetch, shared with the orchestrator's webhook tools): every hop is checked against the
 * address actually connected to, after DNS and redirects; response size and total time are capped.
 * This class only applies the tool server's ceilings and maps failures to tool error codes.
 */
export class ApiRequester {
  constructor(private readonly opts: ApiRequesterOptions) {}

  async request(req: ApiRequest): Promise<ApiResponse> {
    const timeoutMs = Math.min(req.timeoutMs ?? this.opts.timeoutMs, this.opts.timeoutMs);
    const maxBytes = Math.min(req.maxBytes ?? this.opts.maxBytes, this.opts.maxBytes);
    const maxRedirects = this.opts.maxRedirects ?? 5;
    let host = req.url;
    try {
      host = new URL(req.url).host;
    } catch {
      /* reported by safeFetch as invalid-url */
    }
    try {
      const res = await safeFetch(req.url, {
        method: req.method,
        headers: req.headers,
        ...(req.body !== undefined ? { body: req.body } : {}),
        timeoutMs,
        maxBytes,
        truncate: true,
        maxRedirects,
        allowList: this.opts.allowIps,
      });
      const contentType = res.headers['content-type'];
      return { status: res.status, contentType: typeof contentType === 'string' ? contentType : undefined, body: res.body.toString('utf8'), truncated: res.truncated, url: res.url };
    } catch (err) {
      if (!(err instanceof SafeFetchError)) throw err;
      switch (err.kind) {
        case 'invalid-url':
          throw new SwitchboardError(ErrorCodes.URL_NOT_ALLOWED, err.message.charAt(0).toUpperCase() + err.message.slice(1));
        case 'blocked':
          throw new SwitchboardError(ErrorCodes.URL_NOT_ALLOWED, `Requests to ${err.host ?? host} are not allowed: it is a private, loopback or link-local address`);
        case 'timeout':
          throw new SwitchboardError(ErrorCodes.TOOL_TIMEOUT, `The API did not answer within ${timeoutMs} ms`);
        case 'too-many-redirects':
          throw new SwitchboardError(ErrorCodes.TOOL_FAILED, `Too many redirects (more than ${maxRedirects})`);
        default:
          throw new SwitchboardError(ErrorCodes.TOOL_FAILED, `The API could not be reached (${err.message})`, { retryable: err.retryable });
      }
    }
  }
}

/**
 * Fills `{{name}}` placeholders: URL-encoded in URLs (a value can never add a path, query or host
 * part), raw in header values (CR and LF refused). Missing values become empty.
 */
export function fillTemplate(template: string, values: Record<string, unknown>, mode: 'url' | 'header'): string {
  return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_m, name: string) => {
    const v = values[name];
    const s = v === undefined || v === null ? '' : String(v);
    if (mode === 'url') return encodeURIComponent(s);
    if (/[\r\n]/.test(s)) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `${name} must not contain line breaks`);
    return s;
  });
}

/** Placeholder names a template uses. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g)].map((m) => m[1]!);
}
