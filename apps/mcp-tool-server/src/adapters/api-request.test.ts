import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRequester, fillTemplate, placeholders } from './api-request.ts';

/** Two local HTTP servers (two origins) that record what reached them. */
let a: Server;
let b: Server;
let aUrl: string;
let bUrl: string;
const hits: Array<{ server: 'a' | 'b'; url: string; headers: IncomingHttpHeaders }> = [];

function serve(name: 'a' | 'b'): Server {
  return createServer((req, res) => {
    hits.push({ server: name, url: req.url ?? '', headers: req.headers });
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname === '/redirect') return res.writeHead(Number(u.searchParams.get('status') ?? 302), { location: u.searchParams.get('to') ?? '/' }).end();
    if (u.pathname === '/loop') return res.writeHead(302, { location: '/loop' }).end();
    if (u.pathname === '/big') return res.writeHead(200).end('y'.repeat(5000));
    if (u.pathname === '/slow') return void setTimeout(() => res.writeHead(200).end('late'), 2000);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${name}`);
  });
}

const listen = (s: Server) => new Promise<string>((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));

beforeAll(async () => {
  a = serve('a');
  b = serve('b');
  aUrl = await listen(a);
  bUrl = await listen(b);
});

afterAll(async () => {
  a.closeAllConnections();
  b.closeAllConnections();
  await Promise.all([new Promise((r) => a.close(r)), new Promise((r) => b.close(r))]);
});

const strict = () => new ApiRequester({ timeoutMs: 1000, maxBytes: 1000, allowIps: [] });
const local = () => new ApiRequester({ timeoutMs: 1000, maxBytes: 1000, allowIps: ['127.0.0.1'] });

describe('ApiRequester: SSRF guard', () => {
  it.each([
    ['loopback IPv4', () => `${aUrl}/`],
    ['loopback by name, after DNS resolution', () => `http://localhost:${new URL(aUrl).port}/`],
    ['IPv4-mapped IPv6 loopback', () => `http://[::ffff:127.0.0.1]:${new URL(aUrl).port}/`],
    ['IPv6 loopback', () => `http://[::1]:${new URL(aUrl).port}/`],
    ['the unspecified address', () => `http://0.0.0.0:${new URL(aUrl).port}/`],
    ['a private address', () => 'http://10.1.2.3/'],
    ['another private range', () => 'http://192.168.0.1/'],
    ['link-local cloud metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a decimal-encoded loopback', () => `http://2130706433:${new URL(aUrl).port}/`],
  ])('refuses %s by default', async (_n, url) => {
    hits.length = 0;
    await expect(strict().request({ url: url(), method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'URL_NOT_ALLOWED', message: expect.stringMatching(/are not allowed: it is a private, loopback or link-local address$/) });
    expect(hits).toEqual([]);
  });

  it.each(['ftp://example.com/x', 'file:///etc/passwd', 'not a url', 'gopher://127.0.0.1:70/'])('refuses %s as a URL', async (url) => {
    await expect(strict().request({ url, method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'URL_NOT_ALLOWED' });
  });

  it('allows an address of the allow list', async () => {
    const r = await local().request({ url: `${aUrl}/x`, method: 'GET', headers: {} });
    expect(r).toMatchObject({ status: 200, body: 'hello from a', truncated: false, contentType: 'text/plain' });
  });

  it.each([
    ['link-local', 'http://169.254.169.254/'],
    ['IPv6 loopback', 'http://[::1]:9/'],
    ['a private address', 'http://172.16.0.1/'],
  ])('re-checks a redirect hop to %s', async (_n, target) => {
    hits.length = 0;
    await expect(local().request({ url: `${aUrl}/redirect?to=${encodeURIComponent(target)}`, method: 'GET', headers: {} })).rejects.toMatchObject({ code: 'URL_NOT_ALLOWED' });
    expect(hits.map((h) => h.url)).toEqual([`/redirect?to=${encodeURIComponent(target)}`]);
  });

  it('follows redirects, dropping configured headers when the origin changes', async () => {
    hits.length = 0;
    const r = await local().request({ url: `${aUrl}/redirect?to=${encodeURIComponent(`${bUrl}/landing`)}`, method: 'GET', headers: { authorization: 'Bearer secret' } });
    expect(r).toMatchObject({ status: 200, body: 'hello from b', url: `${bUrl}/landing` });
    expect(hits[0]?.headers.authorization).toBe('Bearer secret');
    expect(hits[1]).toMatchObject({ server: 'b' });
    expect(hits[1]?.headers.authorization).toBeUndefined();
  });

  it('stops after five redirects', async () => {
    await expect(local().request({ url: `${aUrl}/loop`, method: 'GET', headers: {} })).rejects.toThrow(/Too many redirects/);
  });
});

describe('ApiRequester: caps', () => {
  it('cuts the body at the byte cap and says so', async () => {
    const r = await local().request({ url: `${aUrl}/big`, method: 'GET', headers: {}, maxBytes: 100 });
    expect(r.body).toBe('y'.repeat(100));
    expect(r.truncated).toBe(true);
  });

  it('a tool cap above the server ceiling is held to the ceiling', async () => {
    const r = await local().request({ url: `${aUrl}/big`, method: 'GET', headers: {}, maxBytes: 1_000_000 });
    expect(r.body).toHaveLength(1000);
  });

  it('gives up at the time cap', async () => {
    await expect(local().request({ url: `${aUrl}/slow`, method: 'GET', headers: {}, timeoutMs: 200 })).rejects.toMatchObject({ code: 'TOOL_TIMEOUT', message: 'The API did not answer within 200 ms' });
  });
});

describe('fillTemplate', () => {
  it.each([
    ['{{q}}', { q: 'a/b?c=d#e f' }, 'a%2Fb%3Fc%3Dd%23e%20f'],
    ['{{ q }}-{{n}}', { q: 'x', n: 3 }, 'x-3'],
    ['{{missing}}', {}, ''],
    ['https://{{host}}.example.com', { host: 'evil.com/' }, 'https://evil.com%2F.example.com'],
  ])('URL-encodes %s', (t, v, out) => {
    expect(fillTemplate(t, v, 'url')).toBe(out);
  });

  it('keeps header values raw but refuses line breaks', () => {
    expect(fillTemplate('Bearer {{t}}', { t: 'a b/c' }, 'header')).toBe('Bearer a b/c');
    expect(() => fillTemplate('{{t}}', { t: 'x\r\nX-Evil: 1' }, 'header')).toThrow(/line breaks/);
  });

  it('lists placeholders', () => {
    expect(placeholders('https://x/{{a}}/{{ b }}?c={{c_1}}')).toEqual(['a', 'b', 'c_1']);
  });
});
