import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { contracts } from '@switchboard/contracts';
import type { HangupRequest, TransferRequest } from '@switchboard/contracts';
import { AccountStore, ApiKeyStore } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import { agent, Clients, liveCall, post, rpc, startFixture, type Fixture } from './fixture.ts';

const MAX_BODY = 4096;

let fx: Fixture;
const clients = new Clients(() => fx.url);
const subs: Array<{ unsubscribe(): void }> = [];

const ctxHeaders = (extra: Record<string, string> = {}) => ({ 'X-API-Key': fx.key, account_id: fx.account, persona_id: 'front-desk', ...extra });

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`tool-server.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  fx = await startFixture({ env: { MCP_MAX_BODY_BYTES: String(MAX_BODY) }, agents: (a, o) => [agent('front-desk', a), agent('other-desk', o)] });
  await new AccountStore(fx.redis).put({ accountId: fx.account, timeZone: 'UTC', allowedDestinations: ['+1555987*', '+442079460958'] });
});

afterEach(async () => {
  for (const s of subs.splice(0)) s.unsubscribe();
  await clients.closeAll();
});

afterAll(async () => {
  await fx?.close();
});

/** Every global tool with its honest hints (the broker retries read-only and idempotent tools only). */
const EXPECTED_TOOLS: Array<[string, Record<string, boolean>, boolean]> = [
  ['check_user_availability', { readOnlyHint: true, openWorldHint: false }, true],
  ['create_lead', { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false }, true],
  ['get_call', { readOnlyHint: true, openWorldHint: false }, true],
  ['get_transcript', { readOnlyHint: true, openWorldHint: false }, true],
  ['hangup_call', { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false }, false],
  ['is_office_open', { readOnlyHint: true, openWorldHint: false }, true],
  ['lookup_contact', { readOnlyHint: true, openWorldHint: false }, true],
  ['make_phone_call', { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true }, true],
  ['schedule.cancel', { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false }, true],
  ['schedule.create', { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true }, true],
  ['schedule.list', { readOnlyHint: true, openWorldHint: false }, true],
  ['session.status', { readOnlyHint: true, openWorldHint: false }, true],
  ['system.health', { readOnlyHint: true, openWorldHint: false }, true],
  ['transfer_call', { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true }, false],
  ['voice.listen', { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true }, true],
  ['voice.speak', { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true }, true],
  ['workflow.list', { readOnlyHint: true, openWorldHint: false }, true],
  ['workflow.run', { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true }, true],
];

describe('POST /mcp: authentication and tenancy', () => {
  it.each<[string, () => Record<string, string>, number, number, RegExp]>([
    ['no key', () => ({ account_id: fx.account, persona_id: 'front-desk' }), 401, -32001, /^Missing API key/],
    ['an unknown key', () => ({ 'X-API-Key': 'sk_not_a_real_key_000000000000', account_id: fx.account, persona_id: 'front-desk' }), 401, -32001, /^Invalid API key$/],
    ['an unknown Bearer key', () => ({ authorization: 'Bearer sk_not_a_real_key_000000000000', account_id: fx.account, persona_id: 'front-desk' }), 401, -32001, /^Invalid API key$/],
    ['an empty Bearer key', () => ({ authorization: 'Bearer ', account_id: fx.account, persona_id: 'front-desk' }), 401, -32001, /^Missing API key/],
    ['a valid key for another account', () => ({ 'X-API-Key': fx.otherKey, account_id: fx.account, persona_id: 'front-desk' }), 403, -32003, /does not belong to that account/],
    ['no persona_id', () => ({ 'X-API-Key': fx.key, account_id: fx.account }), 400, -32602, /account_id and persona_id are required/],
    ['no account_id', () => ({ 'X-API-Key': fx.key, persona_id: 'front-desk' }), 400, -32602, /account_id and persona_id are required/],
    ["another account's persona", () => ({ 'X-API-Key': fx.key, account_id: fx.account, persona_id: 'other-desk' }), 403, -32003, /persona_id other-desk is not an agent of this account/],
    ['a browser page of a foreign Origin (DNS rebinding), even with a good key', () => ({ 'X-API-Key': fx.key, account_id: fx.account, persona_id: 'front-desk', origin: 'http://evil.example.com' }), 403, -32003, /^Origin not allowed$/],
    ['a persona that is no agent', () => ({ 'X-API-Key': fx.key, account_id: fx.account, persona_id: 'nobody' }), 403, -32003, /persona_id nobody is not an agent/],
  ])('refuses %s with a JSON-RPC error', async (_name, headers, status, code, message) => {
    const res = await post(fx.url, headers());
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code, message: expect.stringMatching(message) }, id: null });
  });

  it('refuses a revoked key', async () => {
    const keys = new ApiKeyStore(fx.redis);
    const { key: revoked, record } = await keys.create(fx.account);
    expect((await post(fx.url, { 'X-API-Key': revoked, account_id: fx.account, persona_id: 'front-desk' })).status).toBe(200);
    expect(await keys.revoke(record.id)).toBe(true);
    expect((await post(fx.url, { 'X-API-Key': revoked, account_id: fx.account, persona_id: 'front-desk' })).status).toBe(401);
  });

  it('answers 429 with Retry-After once a key spends its per-minute budget, and only for that key', async () => {
    const keys = new ApiKeyStore(fx.redis);
    const { key: limited, record } = await keys.create(fx.account, ['*'], { ratePerMin: 3 });
    fx.keyIds.push(record.id);
    const h = { 'X-API-Key': limited, account_id: fx.account, persona_id: 'front-desk' };
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(fx.url, h)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const res = await post(fx.url, h);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32029, message: expect.stringMatching(/^Rate limit exceeded: 3 requests per minute/) }, id: null });
    // Another key of the same account has its own bucket.
    expect((await post(fx.url, ctxHeaders())).status).toBe(200);
  });

  it('offers only the tools of the key scopes', async () => {
    const keys = new ApiKeyStore(fx.redis);
    const { key: scoped, record } = await keys.create(fx.account, ['directory']);
    fx.keyIds.push(record.id);
    const h = { 'X-API-Key': scoped, account_id: fx.account, persona_id: 'front-desk' };
    const client = await clients.connect(h);
    expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(['check_user_availability', 'is_office_open', 'lookup_contact']);
    const r = await clients.call(h, 'hangup_call');
    expect(r).toMatchObject({ isError: true, text: expect.stringMatching(/Tool hangup_call not found/) });
  });
});

describe('POST /mcp: bad requests', () => {
  it('answers malformed JSON with 400 and -32700, and goes on serving', async () => {
    const res = await post(fx.url, ctxHeaders(), '{"jsonrpc":"2.0","id":1,"method":');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32700, message: expect.stringMatching(/^Parse error/) }, id: null });
    const ok = await post(fx.url, ctxHeaders());
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { result: { tools: Array<{ name: string }> } };
    expect(body.result.tools.map((t) => t.name)).toContain('hangup_call');
  });

  it('refuses a body over MCP_MAX_BODY_BYTES with 413 and a JSON-RPC error', async () => {
    const big = rpc('tools/call', { name: 'hangup_call', arguments: { pad: 'x'.repeat(MAX_BODY) } });
    const res = await post(fx.url, ctxHeaders(), big);
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32600, message: `Request body larger than ${MAX_BODY} bytes` }, id: null });
    // Just under the limit is fine.
    const fits = rpc('tools/list', { pad: 'x'.repeat(MAX_BODY - 200) });
    expect(Buffer.byteLength(fits)).toBeLessThan(MAX_BODY);
    expect((await post(fx.url, ctxHeaders(), fits)).status).toBe(200);
  });

  it('refuses a non-JSON content type with 415 and a JSON-RPC error', async () => {
    const res = await fetch(fx.url, { method: 'POST', headers: { ...ctxHeaders(), 'content-type': 'text/plain', accept: 'application/json, text/event-stream' }, body: rpc('tools/list') });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: expect.any(Number), message: expect.stringMatching(/Content-Type/) }, id: null });
  });

  it.each([
    ['a JSON array of garbage', '[1,2,3]'],
    ['a JSON string', '"hello"'],
    ['an unknown method', rpc('tools/frobnicate')],
    ['tools/call without a name', rpc('tools/call', {})],
  ])('answers %s with a JSON-RPC error, not a crash', async (_name, body) => {
    const res = await post(fx.url, ctxHeaders(), body);
    expect(res.status).toBeLessThan(500);
    const json = (await res.json()) as { error?: { code: number } } | Array<{ error?: { code: number } }>;
    const first = Array.isArray(json) ? json[0] : json;
    expect(first?.error?.code).toEqual(expect.any(Number));
    expect((await post(fx.url, ctxHeaders())).status).toBe(200);
  });

  it.each(['GET', 'DELETE'])('%s /mcp is 405: the server is stateless', async (method) => {
    const res = await fetch(fx.url, { method, headers: ctxHeaders({ accept: 'application/json, text/event-stream' }) });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringMatching(/Method not allowed/) }, id: null });
  });
});

describe('MCP over streamable HTTP', () => {
  it.each<[string, () => Record<string, string>]>([
    ['X-API-Key', () => ctxHeaders()],
    ['Authorization: Bearer', () => ({ Authorization: `Bearer ${fx.key}`, account_id: fx.account, persona_id: 'front-desk' })],
  ])('lists every global tool (key via %s)', async (_name, headers) => {
    const client = await clients.connect(headers());
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(EXPECTED_TOOLS.map(([n]) => n));
  });

  it.each(EXPECTED_TOOLS)('%s has honest annotations and an outputSchema when it returns data', async (name, annotations, hasOutput) => {
    const client = await clients.connect(ctxHeaders());
    const tool = (await client.listTools()).tools.find((t) => t.name === name)!;
    expect(tool.annotations).toEqual(annotations);
    expect(tool.inputSchema.type).toBe('object');
    expect(tool.description?.length).toBeGreaterThan(10);
    if (hasOutput) expect(tool.outputSchema).toMatchObject({ type: 'object' });
    else expect(tool.outputSchema).toBeUndefined();
  });

  it('describes transfer_call input as JSON Schema', async () => {
    const client = await clients.connect(ctxHeaders());
    const tool = (await client.listTools()).tools.find((t) => t.name === 'transfer_call')!;
    expect(tool.inputSchema).toMatchObject({ type: 'object', required: ['destination_number'], properties: { destination_number: { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' } } });
  });
});

describe('hangup_call', () => {
  it('without a call_id header is an isError result naming call_id', async () => {
    const r = await clients.call(ctxHeaders(), 'hangup_call');
    expect(r).toMatchObject({ isError: true, text: expect.stringMatching(/call_id header is required/) });
  });

  it('for a call of another account is "No call …" and never reaches the gateway', async () => {
    const callId = await liveCall(fx, fx.other);
    let asked = 0;
    subs.push(fx.probe.handle(contracts.hangup, () => (asked++, { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    const r = await clients.call(ctxHeaders({ call_id: callId }), 'hangup_call');
    expect(r).toMatchObject({ isError: true, text: `No call ${callId} in this account` });
    expect(asked).toBe(0);
  });

  it('for a call that does not exist is "No call …"', async () => {
    const r = await clients.call(ctxHeaders({ call_id: 'call_ts_never_existed' }), 'hangup_call');
    expect(r).toMatchObject({ isError: true, text: 'No call call_ts_never_existed in this account' });
  });

  it('asks the gateway holding the call to hang up: "Call ended"', async () => {
    const callId = await liveCall(fx, fx.account);
    const got: HangupRequest[] = [];
    subs.push(fx.probe.handle(contracts.hangup, (req) => (got.push(req), { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    const r = await clients.call(ctxHeaders({ call_id: callId }), 'hangup_call');
    expect(r).toMatchObject({ isError: false, text: 'Call ended' });
    expect(got).toEqual([{ reason: 'hangup_call tool' }]);
  });

  it('reports a call the gateway says had already ended', async () => {
    const callId = await liveCall(fx, fx.account);
    subs.push(fx.probe.handle(contracts.hangup, () => ({ ok: true, alreadyEnded: true }), { param: callId }));
    await fx.probe.nc.flush();
    expect(await clients.call(ctxHeaders({ call_id: callId }), 'hangup_call')).toMatchObject({ isError: false, text: 'The call had already ended' });
  });

  it('with no gateway holding the call: "The call had already ended"', async () => {
    const callId = await liveCall(fx, fx.account);
    expect(await clients.call(ctxHeaders({ call_id: callId }), 'hangup_call')).toMatchObject({ isError: false, text: 'The call had already ended' });
  });
});

describe('transfer_call', () => {
  it.each(['5551234567', '+0123456789', '+1 555 123 4567', 'sip:agent@example.com'])('refuses %j, naming the E.164 format', async (number) => {
    const callId = await liveCall(fx, fx.account);
    let asked = 0;
    subs.push(fx.probe.handle(contracts.transfer, () => (asked++, { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    const r = await clients.call(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: number });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/destination_number/);
    expect(r.text).toMatch(/E\.164 number such as \+15551234567/);
    expect(asked).toBe(0);
  });

  it.each(['+15559876543', '+442079460958'])('asks the gateway to transfer to allowed destination %s', async (number) => {
    const callId = await liveCall(fx, fx.account);
    const got: TransferRequest[] = [];
    subs.push(fx.probe.handle(contracts.transfer, (req) => (got.push(req), { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    const r = await clients.call(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: number });
    expect(r).toMatchObject({ isError: false, text: `Transferring the call to ${number}` });
    expect(got).toEqual([{ destination: number }]);
  });

  it.each(['+15551234567', '+900123456789', '+442079460959'])('refuses %s: not among the allowed destinations (toll-fraud guard)', async (number) => {
    const callId = await liveCall(fx, fx.account);
    let asked = 0;
    subs.push(fx.probe.handle(contracts.transfer, () => (asked++, { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    const r = await clients.call(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: number });
    expect(r).toMatchObject({ isError: true, text: `${number} is not an allowed transfer destination for this account` });
    expect(asked).toBe(0);
  });

  it('refuses every destination for an account with none allowed', async () => {
    const callId = await liveCall(fx, fx.other);
    const r = await clients.call({ 'X-API-Key': fx.otherKey, account_id: fx.other, persona_id: 'other-desk', call_id: callId }, 'transfer_call', { destination_number: '+15559876543' });
    expect(r).toMatchObject({ isError: true, text: '+15559876543 is not an allowed transfer destination for this account' });
  });

  it('with no gateway holding the call is an isError result', async () => {
    const callId = await liveCall(fx, fx.account);
    const r = await clients.call(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: '+15559876543' });
    expect(r).toMatchObject({ isError: true, text: 'The call cannot be transferred: it is no longer connected' });
  });
});

describe('health', () => {
  it('answers cmd.mcp-tool-server.health and /readyz', async () => {
    const replies = await fx.probe.requestAll(contracts.health, {}, { param: 'mcp-tool-server', maxWaitMs: 500 });
    expect(replies.some((r) => r.service === 'mcp-tool-server' && r.status === 'ok')).toBe(true);
    const ready = await fx.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', draining: false, checks: { nats: 'ok', redis: 'ok' } });
  });
});
