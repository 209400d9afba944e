import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SafeFetchError, safeFetch } from './index.ts';

/** A local HTTP server whose routes the tests define; records what reached it. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}
let server: Server;
let base: string;
const seen: Seen[] = [];
const routes = new Map<string, (req: IncomingMessage, res: ServerResponse, body: string) => void>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      const route = routes.get((req.url ?? '').split('?')[0]!);
      if (route) route(req, res, body);
      else res.writeHead(404).end('no route');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('/ok', (_q, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
  routes.set('/echo', (req, res, body) => res.writeHead(200).end(JSON.stringify({ method: req.method, body, auth: req.headers.authorization ?? null })));
  routes.set('/big', (_q, res) => {
    res.writeHead(200);
    res.end(Buffer.alloc(2 * 1024 * 1024, 120));
  });
  routes.set('/big-chunked', (_q, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    for (let i = 0; i < 40; i++) res.write(Buffer.alloc(64 * 1024, 121));
    res.end();
  });
  routes.set('/hang', () => undefined);
  routes.set('/loop', (_q, res) => res.writeHead(302, { location: '/loop' }).end());
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function failure(p: Promise<unknown>): Promise<SafeFetchError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SafeFetchError);
  return err as SafeFetchError;
}

const LOCAL = { allowList: ['127.0.0.1'] };

describe('safeFetch: the address guard (default deny)', () => {
  it.each([
    ['loopback literal', () => `${base}/ok`],
    ['loopback by name (checked after DNS)', () => `${base.replace('127.0.0.1', 'localhost')}/ok`],
    ['IPv6 loopback', () => 'http://[::1]:9/ok'],
    ['cloud metadata (link-local)', () => 'http://169.254.169.254/latest/meta-data/'],
    ['RFC 1918 10/8', () => 'http://10.1.2.3/'],
    ['RFC 1918 192.168/16', () => 'http://192.168.1.1/'],
    ['RFC 1918 172.16/12', () => 'http://172.20.0.1/'],
    ['carrier-grade NAT', () => 'http://100.64.0.1/'],
    ['unspecified 0.0.0.0', () => 'http://0.0.0.0:9/'],
    ['IPv4-mapped IPv6 loopback', () => 'http://[::ffff:127.0.0.1]:9/'],
    ['IPv6 unique local', () => 'http://[fd00::1]/'],
  ])('refuses %s', async (_name, url) => {
    const before = seen.length;
    const err = await failure(safeFetch(url(), { timeoutMs: 2000 }));
    expect(err.kind).toBe('blocked');
    expect(err.retryable).toBe(false);
    expect(seen.length).toBe(before);
  });

  it('reaches a private address once allowed by the allow-list', async () => {
    const res = await safeFetch(`${base}/ok`, LOCAL);
    expect([res.status, res.body.toString()]).toEqual([200, '{"ok":true}']);
  });

  it('reaches any private address with allowPrivate (development and tests)', async () => {
    const res = await safeFetch(`${base.replace('127.0.0.1', 'localhost')}/ok`, { allowPrivate: true });
    expect(res.status).toBe(200);
  });

  it.each([
    ['another loopback address', 'http://127.0.0.2:9/'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
  ])('refuses a redirect from an allowed server to %s', async (_name, target) => {
    routes.set('/to-private', (_q, res) => res.writeHead(302, { location: target }).end());
    const err = await failure(safeFetch(`${base}/to-private`, LOCAL));
    expect(err.kind).toBe('blocked');
  });

  it.each([['file:///etc/passwd'], ['ftp://example.com/x'], ['not a url'], ['http://user:pass@example.com/']])('refuses %s as an invalid URL', async (url) => {
    expect((await failure(safeFetch(url))).kind).toBe('invalid-url');
  });
});

describe('safeFetch: limits and redirects', () => {
  it('sends method, headers and body', async () => {
    const res = await safeFetch(`${base}/echo`, { ...LOCAL, method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer t' }, body: '{"a":1}' });
    expect(JSON.parse(res.body.toString())).toEqual({ method: 'POST', body: '{"a":1}', auth: 'Bearer t' });
  });

  it.each([
    ['a declared length over the cap', '/big'],
    ['a chunked body that grows over the cap', '/big-chunked'],
  ])('refuses %s', async (_name, path) => {
    const err = await failure(safeFetch(`${base}${path}`, { ...LOCAL, maxBytes: 1024 * 1024 }));
    expect(err.kind).toBe('too-large');
  });

  it.each([
    ['a declared length over the cap', '/big'],
    ['a chunked body over the cap', '/big-chunked'],
  ])('with truncate, cuts %s to the cap and says so', async (_name, path) => {
    const res = await safeFetch(`${base}${path}`, { ...LOCAL, maxBytes: 1000, truncate: true });
    expect([res.status, res.body.length, res.truncated]).toEqual([200, 1000, true]);
  });

  it('a body within the cap is not truncated', async () => {
    expect((await safeFetch(`${base}/ok`, { ...LOCAL, truncate: true })).truncated).toBe(false);
  });

  it('gives up after its deadline', async () => {
    const t0 = Date.now();
    const err = await failure(safeFetch(`${base}/hang`, { ...LOCAL, timeoutMs: 200 }));
    expect([err.kind, err.retryable]).toEqual(['timeout', true]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('an unreachable port is a retryable network failure', async () => {
    const err = await failure(safeFetch('http://127.0.0.1:9/', LOCAL));
    expect([err.kind, err.retryable]).toEqual(['network', true]);
  });

  it.each([
    [303, 'POST', 'GET', ''],
    [302, 'POST', 'GET', ''],
    [307, 'POST', 'POST', '{"keep":1}'],
    [308, 'PUT', 'PUT', '{"keep":1}'],
  ])('a %i after %s continues as %s', async (status, method, expectedMethod, expectedBody) => {
    routes.set('/redirect', (_q, res) => res.writeHead(status, { location: '/echo' }).end());
    const res = await safeFetch(`${base}/redirect`, { ...LOCAL, method, body: '{"keep":1}', headers: { 'content-type': 'application/json' } });
    expect(res.redirects).toBe(1);
    expect(res.url).toBe(`${base}/echo`);
    expect(JSON.parse(res.body.toString())).toMatchObject({ method: expectedMethod, body: expectedBody });
  });

  it('drops credentials when a redirect leaves the origin, keeps them on the same origin', async () => {
    const other = base.replace('127.0.0.1', 'localhost');
    routes.set('/cross', (_q, res) => res.writeHead(302, { location: `${other}/echo` }).end());
    routes.set('/same', (_q, res) => res.writeHead(302, { location: '/echo' }).end());
    const opts = { allowPrivate: true, headers: { authorization: 'Bearer secret', 'x-api-key': 'k' } };
    const cross = JSON.parse((await safeFetch(`${base}/cross`, opts)).body.toString()) as { auth: string | null };
    const same = JSON.parse((await safeFetch(`${base}/same`, opts)).body.toString()) as { auth: string | null };
    expect([cross.auth, same.auth]).toEqual([null, 'Bearer secret']);
    expect(seen.at(-1)!.headers['x-api-key']).toBe('k');
    expect(seen.findLast((s) => s.url === '/echo' && s.headers.host?.startsWith('localhost'))!.headers['x-api-key']).toBeUndefined();
  });

  it('stops after too many redirects', async () => {
    const err = await failure(safeFetch(`${base}/loop`, { ...LOCAL, maxRedirects: 3 }));
    expect(err.kind).toBe('too-many-redirects');
  });

  it('returns 4xx and 5xx responses as they are', async () => {
    const res = await safeFetch(`${base}/nothing-here`, LOCAL);
    expect([res.status, res.body.toString()]).toEqual([404, 'no route']);
  });

  it('an aborted signal stops the request', async () => {
    const ac = new AbortController();
    const p = safeFetch(`${base}/hang`, { ...LOCAL, signal: ac.signal, timeoutMs: 5000 });
    setTimeout(() => ac.abort(), 50);
    expect((await failure(p)).kind).toBe('aborted');
  });
});

describe('trace context', () => {
  it('sends the active W3C trace context as a traceparent header (webhook tools join the call trace)', async () => {
    const { context, propagation, trace, ROOT_CONTEXT, TraceFlags } = await import('@opentelemetry/api');
    const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const manager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      const active = trace.setSpanContext(ROOT_CONTEXT, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: TraceFlags.SAMPLED });
      seen.length = 0;
      await context.with(active, () => safeFetch(`${base}/ok`, LOCAL));
      expect(seen[0]?.headers.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
      seen.length = 0;
      await safeFetch(`${base}/ok`, LOCAL);
      expect(seen[0]?.headers.traceparent).toBeUndefined();
    } finally {
      propagation.disable();
      context.disable();
    }
  });
});
