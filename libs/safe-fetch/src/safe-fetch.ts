import { context, propagation } from '@opentelemetry/api';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';

/**
 * Outbound HTTP to addresses chosen by tenants (webhook tools, API-request tools) without letting them
 * reach the platform's own network. Every connection's address is checked when the socket connects,
 * after DNS resolution and on every redirect hop (request-filtering-agent), so a name that resolves to
 * a private, loopback, link-local (cloud metadata), carrier-grade-NAT, multicast or reserved address is
 * refused, including through a redirect or DNS rebinding. Responses are capped in size and the whole
 * exchange, redirects included, in time.
 */

/** Why a request did not produce a response. */
export type SafeFetchFailure = 'invalid-url' | 'blocked' | 'timeout' | 'too-large' | 'too-many-redirects' | 'network' | 'aborted';

export class SafeFetchError extends Error {
  override name = 'SafeFetchError';
  constructor(
    /** What went wrong. */
    readonly kind: SafeFetchFailure,
    message: string,
    /** Whether the same request may succeed later (network failures and timeouts). */
    readonly retryable: boolean,
    /** The host of the hop that failed (after redirects, it may differ from the first URL's). */
    readonly host?: string,
  ) {
    super(message);
  }
}

export interface SafeFetchOptions {
  /** Default `GET`. */
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Deadline for the whole exchange, redirects included (ms). Default 10000. */
  timeoutMs?: number;
  /** Largest response body accepted (bytes); a larger one fails with `too-large`, or is cut (`truncate`). Default 1 MiB. */
  maxBytes?: number;
  /** Cut a body over `maxBytes` to its first `maxBytes` (and say so in `truncated`) instead of failing. */
  truncate?: boolean;
  /** Redirects followed before failing with `too-many-redirects`. Default 5; 0 returns the 3xx as is. */
  maxRedirects?: number;
  /**
   * Development and tests only: allow every private, loopback and link-local address. Default false.
   * Prefer `allowList` to open single addresses.
   */
  allowPrivate?: boolean;
  /** IP addresses or CIDR ranges allowed even though they are private (e.g. `127.0.0.1`, `10.0.5.0/24`). */
  allowList?: readonly string[];
  signal?: AbortSignal;
}

export interface SafeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The URL that answered, after redirects. */
  url: string;
  /** Redirects followed. */
  redirects: number;
  /** The body was cut at `maxBytes` (only with `truncate`). */
  truncated: boolean;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_REDIRECTS = 5;
/** Headers that carry credentials: not sent on to another origin after a redirect. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret/i;

interface AgentPair {
  http: RequestFilteringHttpAgent;
  https: RequestFilteringHttpsAgent;
}
const agents = new Map<string, AgentPair>();

function agentsFor(allowPrivate: boolean, allowList: readonly string[]): AgentPair {
  const key = `${allowPrivate}|${allowList.join(',')}`;
  let pair = agents.get(key);
  if (!pair) {
    const opts = { allowPrivateIPAddress: allowPrivate, allowMetaIPAddress: false, allowIPAddressList: [...allowList], keepAlive: true, maxSockets: 64 };
    pair = { http: new RequestFilteringHttpAgent(opts), https: new RequestFilteringHttpsAgent(opts) };
    agents.set(key, pair);
  }
  return pair;
}

function parseUrl(raw: string | URL): URL {
  let url: URL;
  try {
    url = typeof raw === 'string' ? new URL(raw) : raw;
  } catch {
    throw new SafeFetchError('invalid-url', `not a URL: ${String(raw).slice(0, 200)}`, false);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SafeFetchError('invalid-url', `only http and https URLs are allowed, not ${url.protocol}`, false);
  if (url.username || url.password) throw new SafeFetchError('invalid-url', 'URLs with credentials are not allowed', false);
  return url;
}

/** The request-filtering agent refuses with "... is not allowed. Because, It is private IP address." */
function classify(err: unknown, url: URL, signal: AbortSignal, timedOut: () => boolean): SafeFetchError {
  if (err instanceof SafeFetchError) return err;
  const message = (err as Error)?.message ?? String(err);
  if (/is not allowed/.test(message)) return new SafeFetchError('blocked', `${url.host} is not reachable from here (private, loopback, link-local or reserved address)`, false, url.host);
  if (timedOut()) return new SafeFetchError('timeout', `${url.host} did not answer in time`, true);
  if (signal.aborted) return new SafeFetchError('aborted', 'request aborted', false);
  const code = (err as NodeJS.ErrnoException)?.code;
  return new SafeFetchError('network', `${url.host} unreachable (${code ?? message})`, true);
}

interface Hop {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  truncated: boolean;
}

function hop(url: URL, method: string, headers: OutgoingHttpHeaders, body: Uint8Array | undefined, pair: AgentPair, signal: AbortSignal, maxBytes: number, readBody: boolean, truncate: boolean): Promise<Hop> {
  return new Promise<Hop>((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, { method, headers, agent: url.protocol === 'https:' ? pair.https : pair.http, signal }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (!readBody) {
        res.resume();
        resolve({ status, headers: res.headers, body: Buffer.alloc(0), truncated: false });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (!truncate && Number.isFinite(declared) && declared > maxBytes) {
        reject(new SafeFetchError('too-large', `response of ${declared} bytes exceeds the ${maxBytes}-byte limit`, false));
        res.destroy();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        if (size + chunk.length > maxBytes) {
          if (truncate) {
            chunks.push(chunk.subarray(0, maxBytes - size));
            size = maxBytes;
            resolve({ status, headers: res.headers, body: Buffer.concat(chunks, size), truncated: true });
          } else reject(new SafeFetchError('too-large', `response exceeds the ${maxBytes}-byte limit`, false));
          res.destroy();
          return;
        }
        size += chunk.length;
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks, size), truncated: false }));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One HTTP exchange with the SSRF guard, a response size cap, a deadline and manual redirects (each
 * hop checked again; 303, and 301/302 after a POST, continue as GET without the body; credential
 * headers are dropped when a redirect leaves the origin). Resolves with any status, 4xx and 5xx
 * included; rejects with {@link SafeFetchError} when there is no response to give.
 */
export async function safeFetch(input: string | URL, opts: SafeFetchOptions = {}): Promise<SafeResponse> {
  let url = parseUrl(input);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const pair = agentsFor(opts.allowPrivate ?? false, opts.allowList ?? []);
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const onAbort = () => controller.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) controller.abort();

  let method = (opts.method ?? 'GET').toUpperCase();
  let body: Uint8Array | undefined = typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body;
  let headers: Record<string, string> = { ...(opts.headers ?? {}) };
  // The active W3C trace context (traceparent) goes to the external server, so its work joins the call's trace.
  propagation.inject(context.active(), headers);
  try {
    for (let redirects = 0; ; redirects++) {
      const outgoing: OutgoingHttpHeaders = { ...headers, ...(body ? { 'content-length': String(body.length) } : {}) };
      let res: Hop;
      try {
        res = await hop(url, method, outgoing, body, pair, controller.signal, maxBytes, true, opts.truncate === true);
      } catch (err) {
        throw classify(err, url, controller.signal, () => timedOut);
      }
      const location = res.headers.location;
      if (res.status < 300 || res.status > 308 || res.status === 304 || !location || maxRedirects === 0) {
        return { status: res.status, headers: res.headers, body: res.body, url: url.href, redirects, truncated: res.truncated };
      }
      if (redirects >= maxRedirects) throw new SafeFetchError('too-many-redirects', `more than ${maxRedirects} redirects`, false);
      const next = parseUrl(new URL(location, url));
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method !== 'GET' && method !== 'HEAD')) {
        method = 'GET';
        body = undefined;
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-(type|length|encoding)$/i.test(k)));
      }
      if (next.origin !== url.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADER.test(k)));
      url = next;
    }
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}
