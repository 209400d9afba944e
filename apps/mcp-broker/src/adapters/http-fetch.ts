import { Readable } from 'node:stream';
import { setMaxListeners } from 'node:events';
import { context, propagation } from '@opentelemetry/api';
import { Agent, request } from 'undici';

/**
 * One keep-alive connection pool for every MCP server the broker talks to over HTTP: sockets are
 * reused across calls (and across calls of different agents that share a server).
 */
const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 120_000, connections: 128 });

const headerSetter = { set: (c: Record<string, string>, k: string, v: string) => (c[k] = v) };

/** Statuses whose Response must not have a body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/** Signals already allowed to carry one listener per in-flight request without a warning. */
const widened = new WeakSet<AbortSignal>();

function headerRecord(h: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  if (h instanceof Headers) h.forEach((v, k) => (out[k] = v));
  else if (Array.isArray(h)) for (const [k, v] of h as Array<[string, string]>) out[k.toLowerCase()] = v;
  else for (const [k, v] of Object.entries(h as Record<string, string>)) out[k.toLowerCase()] = v;
  return out;
}

/**
 * The fetch the MCP HTTP transports use: undici's `request` on the shared keep-alive pool, answering
 * with a WHATWG Response as the SDK expects. Two reasons over the global fetch:
 *
 * - CPU: fetch turns a string body into a stream and writes it in pieces (a syscall for the head, one
 *   per chunk); `request` writes head and body together, and skips fetch's Request/Response machinery.
 *   Profiled on the tool-call benchmark, the global fetch's path was the largest single cost in the broker.
 * - Listeners: the SDK gives every request the transport's one AbortSignal; undici's fetch keeps a
 *   listener on it until the request is garbage-collected, so the signal collected thousands
 *   (MaxListenersExceededWarning floods). `request` removes its listener when the request completes.
 *
 * It also adds the active W3C trace context. JSON answers are read whole; an SSE answer (or any other
 * stream) is handed over as a stream. Bodies that are not strings fall back to the global fetch.
 */
export const httpFetch: typeof fetch = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const body = init?.body;
  if (body !== undefined && body !== null && typeof body !== 'string') return fetch(input, init);
  const headers = headerRecord(init?.headers);
  propagation.inject(context.active(), headers, headerSetter);
  const signal = init?.signal ?? undefined;
  if (signal && !widened.has(signal)) {
    // Listeners on it are bounded by the requests in flight (each removed when its request ends).
    setMaxListeners(0, signal);
    widened.add(signal);
  }
  const res = await request(url, {
    method: (init?.method ?? 'GET') as 'GET',
    headers,
    ...(typeof body === 'string' ? { body } : {}),
    ...(signal ? { signal } : {}),
    dispatcher: agent,
  });
  const out = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const one of v) out.append(k, one);
    else if (v !== undefined) out.set(k, v);
  }
  if (NULL_BODY.has(res.statusCode)) {
    await res.body.dump();
    return new Response(null, { status: res.statusCode, headers: out });
  }
  const type = out.get('content-type') ?? '';
  if (type.includes('text/event-stream')) {
    return new Response(Readable.toWeb(res.body) as ReadableStream<Uint8Array>, { status: res.statusCode, headers: out });
  }
  return new Response(await res.body.text(), { status: res.statusCode, headers: out });
};
