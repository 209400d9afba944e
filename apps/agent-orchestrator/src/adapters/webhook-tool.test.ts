import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CallContext, WebhookTool } from '@switchboard/contracts';
import { callWebhookTool } from './webhook-tool.ts';

interface Hit {
  at: number;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}
const hits = new Map<string, Hit[]>();
const routes = new Map<string, (res: ServerResponse, attempt: number) => void>();
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const list = hits.get(req.url!) ?? [];
      list.push({ at: performance.now(), headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> });
      hits.set(req.url!, list);
      routes.get(req.url!)?.(res, list.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  routes.set('/ok', (res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"points":1200}'));
  routes.set('/empty', (res) => res.writeHead(204).end());
  routes.set('/flaky', (res, n) => (n < 3 ? res.writeHead(503).end('busy') : res.writeHead(200).end('{"ok":true}')));
  routes.set('/down', (res) => res.writeHead(502).end('bad gateway'));
  routes.set('/bad-request', (res) => res.writeHead(400).end('{"message":"order_id missing"}'));
  routes.set('/huge', (res) => res.writeHead(200).end(Buffer.alloc(1024 * 1024 + 10, 97)));
  routes.set('/slow', () => undefined);
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const context: CallContext = { callId: 'call_wh1', agentId: 'demo', accountId: 'default', from: '+15557654321', to: '+15550001234' };
const tool = (path: string, extra: Partial<WebhookTool> = {}): WebhookTool => ({ name: 'lookup_loyalty', description: 'points', url: `${base}${path}`, ...extra });
const opts = { timeoutMs: 2000, allowPrivate: true, retryDelayMs: 20 };
const envelope = (text: string) => JSON.parse(text) as { error: string; fallback: boolean };

describe('webhook tools (Patter model)', () => {
  it('POSTs the arguments and the call context, and returns the body', async () => {
    const r = await callWebhookTool(tool('/ok', { headers: { authorization: 'Bearer t' } }), { member: 'A1' }, context, 'call_wh1:tc1', opts);
    expect(r).toEqual({ text: '{"points":1200}', isError: false, attempts: 1 });
    const hit = hits.get('/ok')!.at(-1)!;
    expect(hit.body).toEqual({ tool: 'lookup_loyalty', arguments: { member: 'A1' }, call: context, invocationId: 'call_wh1:tc1', attempt: 1 });
    expect(hit.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': 'call_wh1:tc1', authorization: 'Bearer t' });
  });

  it('an empty 2xx answer is a success', async () => {
    expect(await callWebhookTool(tool('/empty'), {}, context, 'i2', opts)).toMatchObject({ text: '{"ok":true}', isError: false });
  });

  it('retries a 5xx up to 3 attempts with the same idempotency key', async () => {
    const r = await callWebhookTool(tool('/flaky'), {}, context, 'i3', opts);
    expect(r).toEqual({ text: '{"ok":true}', isError: false, attempts: 3 });
    const list = hits.get('/flaky')!;
    expect(list.map((h) => [h.body.attempt, h.headers['idempotency-key']])).toEqual([
      [1, 'i3'],
      [2, 'i3'],
      [3, 'i3'],
    ]);
  });

  it('waits 500 ms between attempts by default and gives up after the third with the fallback envelope', async () => {
    const r = await callWebhookTool(tool('/down'), {}, context, 'i4', { timeoutMs: 2000, allowPrivate: true });
    expect([r.isError, r.attempts]).toEqual([true, 3]);
    expect(envelope(r.text)).toEqual({ error: 'lookup_loyalty answered HTTP 502: bad gateway (after 3 attempts)', fallback: true });
    const at = hits.get('/down')!.map((h) => h.at);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(490);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(490);
  });

  it('does not retry a 4xx', async () => {
    const r = await callWebhookTool(tool('/bad-request'), {}, context, 'i5', opts);
    expect([r.attempts, envelope(r.text)]).toEqual([1, { error: 'lookup_loyalty answered HTTP 400: {"message":"order_id missing"}', fallback: true }]);
  });

  it('refuses an answer over 1 MB without retrying', async () => {
    const r = await callWebhookTool(tool('/huge'), {}, context, 'i6', opts);
    expect([r.attempts, envelope(r.text).error]).toEqual([1, 'lookup_loyalty answered more than 1048576 bytes']);
  });

  it('times out each attempt and retries', async () => {
    const r = await callWebhookTool(tool('/slow', { timeoutMs: 100 }), {}, context, 'i7', opts);
    expect([r.isError, r.attempts]).toEqual([true, 3]);
    expect(envelope(r.text).error).toMatch(/did not answer in time/);
  });

  it.each([
    ['loopback', () => `${base}/ok`],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['a private network', () => 'http://10.0.0.8/hook'],
  ])('refuses %s unless private targets are allowed, without retrying', async (_name, url) => {
    const before = hits.get('/ok')?.length ?? 0;
    const r = await callWebhookTool({ ...tool('/ok'), url: url() }, {}, context, 'i8', { ...opts, allowPrivate: false });
    expect([r.isError, r.attempts]).toEqual([true, 1]);
    expect(envelope(r.text)).toMatchObject({ fallback: true, error: expect.stringContaining('is not reachable from here') });
    expect(hits.get('/ok')?.length ?? 0).toBe(before);
  });
});
