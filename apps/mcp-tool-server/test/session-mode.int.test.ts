import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { contracts } from '@switchboard/contracts';
import { infraUrls } from '@switchboard/testing';
import { liveCall, rpc, startFixture, type Fixture } from './fixture.ts';

/**
 * Session mode: sessions and resumable SSE streams kept in Redis, so two instances behind a load
 * balancer serve one session, and a client whose stream broke resumes it on the other instance.
 */

let a: Fixture;
let b: Fixture;
const subs: Array<{ unsubscribe(): void }> = [];
const opened: Client[] = [];

const h = (extra: Record<string, string> = {}) => ({ 'X-API-Key': a.key, account_id: a.account, persona_id: 'front-desk', ...extra });
const PROTOCOL = '2025-11-25';

async function openSession(url: string, headers: Record<string, string> = h()): Promise<{ client: Client; sessionId: string }> {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'session-test', version: '0.0.1' });
  await client.connect(transport);
  opened.push(client);
  return { client, sessionId: transport.sessionId! };
}

/** A raw request in the session, as a client behind a load balancer would send it to either instance. */
function raw(url: string, method: string, sessionId: string | undefined, body?: string, extra: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(url, {
    method,
    headers: { ...h(), accept: 'application/json, text/event-stream', ...(body ? { 'content-type': 'application/json' } : {}), 'mcp-protocol-version': PROTOCOL, ...(sessionId ? { 'mcp-session-id': sessionId } : {}), ...extra },
    ...(body ? { body } : {}),
    ...(signal ? { signal } : {}),
  });
}

interface SseEvent {
  id?: string;
  data: string;
}

/** Reads SSE events until `until` says stop or the stream ends; bounded by a deadline. */
async function readEvents(res: Response, until: (e: SseEvent) => boolean, timeoutMs = 10_000): Promise<SseEvent[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buf = '';
  const deadline = Date.now() + timeoutMs;
  try {
    while (Date.now() < deadline) {
      const timer = new Promise<{ done: true; value: undefined }>((r) => setTimeout(() => r({ done: true, value: undefined }), Math.max(1, deadline - Date.now())));
      const { done, value } = await Promise.race([reader.read(), timer]);
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const e: SseEvent = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id:')) e.id = line.slice(3).trim();
          else if (line.startsWith('data:')) e.data += line.slice(5).trim();
        }
        if (e.id === undefined && !e.data) continue;
        events.push(e);
        if (until(e)) return events;
      }
    }
    return events;
  } finally {
    void reader.cancel().catch(() => undefined);
  }
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`session-mode.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  const env = { MCP_SESSION_MODE: 'session', MCP_REPLAY_WAIT_MS: '10000' };
  a = await startFixture({ env });
  b = await startFixture({ env, sharing: a });
});

afterEach(async () => {
  for (const s of subs.splice(0)) s.unsubscribe();
  await Promise.all(opened.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await b?.close();
  await a?.close();
});

describe('session mode', () => {
  it('opens a session on one instance and serves it on the other', async () => {
    const { client, sessionId } = await openSession(a.url);
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect((await client.listTools()).tools.map((t) => t.name)).toContain('is_office_open');
    const res = await raw(b.url, 'POST', sessionId, rpc('tools/call', { name: 'system.health', arguments: {} }, 7));
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBe(sessionId);
    const events = await readEvents(res, (e) => e.data.includes('"id":7'));
    const answer = JSON.parse(events.find((e) => e.data.includes('"id":7'))!.data) as { result: CallToolResult };
    expect(answer.result.isError).toBeUndefined();
    expect(answer.result.structuredContent).toMatchObject({ services: expect.any(Array) });
  });

  // Regression: a DELETE that says `content-type: application/json` with no body was a parse error.
  it.each([
    ['without a body', {}],
    ['with content-type application/json and an empty body', { 'content-type': 'application/json' }],
  ])('ends a session on DELETE %s at either instance; the session is then unknown everywhere', async (_n, extra) => {
    const { sessionId } = await openSession(a.url);
    expect((await raw(b.url, 'DELETE', sessionId, undefined, extra)).status).toBe(200);
    for (const url of [a.url, b.url]) {
      const res = await raw(url, 'POST', sessionId, rpc('tools/list'));
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    }
  });

  it("treats another account's session like a missing one, and another persona's as forbidden", async () => {
    const { sessionId } = await openSession(a.url);
    const other = await raw(b.url, 'POST', sessionId, rpc('tools/list'), { 'X-API-Key': a.otherKey, account_id: a.other, persona_id: 'other-desk' });
    expect(other.status).toBe(404);
    const persona = await raw(b.url, 'POST', sessionId, rpc('tools/list'), { persona_id: 'other-desk' });
    expect(persona.status).toBe(403);
  });

  it.each([
    ['a request without a session that is not initialize', 'POST', undefined, rpc('tools/list'), 400],
    ['an unknown session id', 'POST', 'f0f0f0f0-0000-4000-8000-000000000000', rpc('tools/list'), 404],
    ['a GET without a session', 'GET', undefined, undefined, 400],
  ])('refuses %s', async (_n, method, sessionId, body, status) => {
    const res = await raw(a.url, method, sessionId, body);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { jsonrpc: string }).jsonrpc).toBe('2.0');
  });

  it('resumes a broken stream on the other instance while the request still runs, and gets its answer', async () => {
    const { sessionId } = await openSession(a.url);
    const callId = await liveCall(a, a.account);
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let listening!: () => void;
    const started = new Promise<void>((r) => (listening = r));
    subs.push(a.probe.handle(contracts.listen, async () => (listening(), await released, { text: 'I am still here', timedOut: false }), { param: callId }));
    await a.probe.nc.flush();

    // 1. The call starts on instance A; the client reads the priming event's id, then its connection breaks.
    const abort = new AbortController();
    const post = await raw(a.url, 'POST', sessionId, rpc('tools/call', { name: 'voice.listen', arguments: { timeout_ms: 20000 } }, 42), { call_id: callId }, abort.signal);
    expect(post.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const [priming] = await readEvents(post, (e) => e.id !== undefined);
    expect(priming?.id).toMatch(/:\d+-\d+$/);
    abort.abort();
    await started;

    // 2. It resumes on instance B with Last-Event-ID while A still waits for the caller.
    const resumed = raw(b.url, 'GET', sessionId, undefined, { 'last-event-id': priming!.id!, call_id: callId });
    await new Promise((r) => setTimeout(r, 200));
    release();
    const res = await resumed;
    expect(res.status).toBe(200);
    const events = await readEvents(res, (e) => e.data.includes('"id":42'));
    const answer = JSON.parse(events.at(-1)!.data) as { id: number; result: CallToolResult };
    expect(answer.id).toBe(42);
    expect(answer.result.structuredContent).toEqual({ text: 'I am still here', timedOut: false });
  });

  it('replays a finished answer to a client that comes back after it was sent', async () => {
    const { sessionId } = await openSession(a.url);
    const callId = await liveCall(a, a.account);
    subs.push(a.probe.handle(contracts.speak, async () => (await new Promise((r) => setTimeout(r, 300)), { ok: true, durationMs: 900 }), { param: callId }));
    await a.probe.nc.flush();
    const abort = new AbortController();
    const post = await raw(a.url, 'POST', sessionId, rpc('tools/call', { name: 'voice.speak', arguments: { text: 'Hello' } }, 9), { call_id: callId }, abort.signal);
    const [priming] = await readEvents(post, (e) => e.id !== undefined);
    abort.abort();
    await new Promise((r) => setTimeout(r, 800));
    const res = await raw(b.url, 'GET', sessionId, undefined, { 'last-event-id': priming!.id! });
    const events = await readEvents(res, () => false, 5000);
    // The stream ends on its own once the stored answer is replayed.
    expect(events.map((e) => JSON.parse(e.data) as { id?: number })).toEqual([expect.objectContaining({ id: 9, result: expect.objectContaining({ structuredContent: { ok: true, durationMs: 900 } }) })]);
  });

  it("cannot replay another session's stream", async () => {
    const first = await openSession(a.url);
    const second = await openSession(a.url);
    const post = await raw(a.url, 'POST', first.sessionId, rpc('tools/call', { name: 'workflow.list', arguments: {} }, 3));
    const [priming] = await readEvents(post, (e) => e.id !== undefined);
    const res = await raw(b.url, 'GET', second.sessionId, undefined, { 'last-event-id': priming!.id! });
    expect(res.status).toBe(400);
  });
});
