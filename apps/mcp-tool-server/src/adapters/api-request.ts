import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';

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

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * Outbound HTTP for the per-persona API request tools, safe against SSRF: every hop (the first request
 * and each redirect) connects through agents that check the address actually connected to, after DNS
 * resolution, so private, loopback, link-local and unspecified targets are refused however they are
 * spelt (`localhost`, `[::ffff:127.0.0.1]`, a name that resolves to 10.x). Only http and https;
 * response size and total time are capped.
 */
export class ApiRequester {
  private readonly httpAgent: RequestFilteringHttpAgent;
  private readonly httpsAgent: RequestFilteringHttpsAgent;

  constructor(private readonly opts: ApiRequesterOptions) {
    const filter = { allowPrivateIPAddress: false, allowMetaIPAddress: false, allowIPAddressList: [...opts.allowIps], keepAlive: false };
    this.httpAgent = new RequestFilteringHttpAgent(filter);
    this.httpsAgent = new RequestFilteringHttpsAgent(filter);
  }

  async request(req: ApiRequest): Promise<ApiResponse> {
    const timeoutMs = Math.min(req.timeoutMs ?? this.opts.timeoutMs, this.opts.timeoutMs);
    const maxBytes = Math.min(req.maxBytes ?? this.opts.maxBytes, this.opts.maxBytes);
    const signal = AbortSignal.timeout(timeoutMs);
    let url = parseTarget(req.url);
    let method = req.method.toUpperCase();
    let body = req.body;
    let headers = { ...req.headers };
    const origin = url.origin;
    for (let hop = 0; hop <= (this.opts.maxRedirects ?? 5); hop++) {
      const res = await this.send(url, method, headers, body, signal, timeoutMs);
      const location = res.headers.location;
      if (REDIRECTS.has(res.statusCode ?? 0) && location) {
        res.resume();
        url = parseTarget(new URL(location, url).toString());
        if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
        }
        // Credentials configured for one origin never travel to another.
        if (url.origin !== origin) headers = {};
        continue;
      }
      const { text, truncated } = await readCapped(res, maxBytes, signal);
      return { status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: text, truncated, url: url.toString() };
    }
    throw new SwitchboardError(ErrorCodes.TOOL_FAILED, `Too many redirects (more than ${this.opts.maxRedirects ?? 5})`);
  }

  private send(url: URL, method: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal, timeoutMs: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const https = url.protocol === 'https:';
      const fn = https ? httpsRequest : httpRequest;
      const req = fn(url, { method, headers: body !== undefined ? { ...headers, 'content-length': String(Buffer.byteLength(body)) } : headers, agent: https ? this.httpsAgent : this.httpAgent, signal }, resolve);
      req.on('error', (err) => reject(mapError(err, url, signal, timeoutMs)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function parseTarget(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new SwitchboardError(ErrorCodes.URL_NOT_ALLOWED, `Not a valid URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SwitchboardError(ErrorCodes.URL_NOT_ALLOWED, `Only http and https URLs are allowed, not ${url.protocol}`);
  return url;
}

function mapError(err: Error, url: URL, signal: AbortSignal, timeoutMs: number): SwitchboardError {
  if (/is not allowed/.test(err.message)) {
    return new SwitchboardError(ErrorCodes.URL_NOT_ALLOWED, `Requests to ${url.host} are not allowed: it is a private, loopback or link-local address`);
  }
  if (signal.aborted || err.name === 'AbortError') return new SwitchboardError(ErrorCodes.TOOL_TIMEOUT, `The API did not answer within ${timeoutMs} ms`);
  return new SwitchboardError(ErrorCodes.TOOL_FAILED, `The API could not be reached (${(err as NodeJS.ErrnoException).code ?? err.message})`);
}

/** Reads at most `maxBytes` of the body, then stops reading and drops the connection. */
async function readCapped(res: IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<{ text: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      if (size + chunk.length > maxBytes) {
        chunks.push(chunk.subarray(0, maxBytes - size));
        size = maxBytes;
        truncated = true;
        break;
      }
      chunks.push(chunk);
      size += chunk.length;
    }
  } catch (err) {
    if (signal.aborted) throw new SwitchboardError(ErrorCodes.TOOL_TIMEOUT, 'The API did not finish its answer in time');
    throw new SwitchboardError(ErrorCodes.TOOL_FAILED, `The API answer broke off (${(err as Error).message})`);
  } finally {
    if (truncated) res.destroy();
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated };
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
