import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Bus } from '@switchboard/bus';
import { contracts } from '@switchboard/contracts';
import type { HangupRequest, TransferRequest } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { ApiKeyStore, CallStore } from '@switchboard/session-store';
import type { CallRecord } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

const MAX_BODY = 4096;
const run = randomBytes(4).toString('hex');
const ACCOUNT = `acct_ts_${run}`;
const OTHER_ACCOUNT = `acct_ts_other_${run}`;

const log = createLogger('mcp-tool-server-test', 'silent');
let bus: Bus;
/** The test's own connection, standing in for the media gateway. */
let probe: Bus;
let redis: Redis;
let app: FastifyInstance;
let url: string;
let key: string;
let otherKey: string;
const keyIds: string[] = [];
const callIds: string[] = [];
const clients: Client[] = [];
const subs: Array<{ unsubscribe(): void }> = [];

const rpc = (method: string, params: Record<string, unknown> = {}, id = 1) => JSON.stringify({ jsonrpc: '2.0', id, method, params });

/** A raw POST /mcp, headers as given. */
function post(headers: Record<string, string>, body: string = rpc('tools/list')): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body });
}

const ctxHeaders = (extra: Record<string, string> = {}) => ({ 'X-API-Key': key, account_id: ACCOUNT, persona_id: 'demo', ...extra });

async function connect(headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'tool-server-test', version: '0.0.1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  clients.push(client);
  return client;
}

async function callTool(headers: Record<string, string>, name: string, args: Record<string, unknown> = {}): Promise<{ isError: boolean; text: string }> {
  const client = await connect(headers);
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const first = result.content[0];
  return { isError: result.isError === true, text: first?.type === 'text' ? first.text : '' };
}

/** A live call record in Redis, as the orchestrator writes it. */
async function liveCall(accountId: string): Promise<string> {
  const callId = `call_ts_${randomBytes(6).toString('hex')}`;
  const record: CallRecord = { callId, accountId, agentId: 'demo', direction: 'inbound', carrier: 'twilio', from: '+15557654321', to: '+15550001234', state: 'active', startedAt: new Date().toISOString() };
  await new CallStore(redis).create(record);
  callIds.push(callId);
  return callId;
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`tool-server.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'mcp-tool-server-test', log });
  probe = await Bus.connect({ url: infra.natsUrl, name: 'mcp-tool-server-test-probe', log });
  redis = await connectRedis(infra.redisUrl, { name: 'mcp-tool-server-test' });
  const built = await buildApp({ config: loadConfig({ MCP_MAX_BODY_BYTES: String(MAX_BODY), LOG_LEVEL: 'silent' }), bus, redis, log, instanceId: 'mcp-tool-server-test' });
  app = built.app;
  url = `${await app.listen({ port: 0, host: '127.0.0.1' })}/mcp`;
  const keys = new ApiKeyStore(redis);
  const a = await keys.create(ACCOUNT);
  const b = await keys.create(OTHER_ACCOUNT);
  key = a.key;
  otherKey = b.key;
  keyIds.push(a.record.id, b.record.id);
});

afterEach(async () => {
  for (const s of subs.splice(0)) s.unsubscribe();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await app?.close();
  if (redis) {
    const keys = new ApiKeyStore(redis);
    for (const id of keyIds) await keys.revoke(id);
    if (callIds.length) await redis.del(...callIds.flatMap((id) => [`sb:call:${id}`, `sb:call:${id}:transcript`]));
  }
  await probe?.drain(2000);
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('POST /mcp: authentication and request checks', () => {
  it.each<[string, () => Record<string, string>, number, number, RegExp]>([
    ['no key', () => ({ account_id: ACCOUNT, persona_id: 'demo' }), 401, -32001, /^Missing API key/],
    ['an unknown key', () => ({ 'X-API-Key': 'sk_not_a_real_key_000000000000', account_id: ACCOUNT, persona_id: 'demo' }), 401, -32001, /^Invalid API key$/],
    ['an unknown Bearer key', () => ({ authorization: 'Bearer sk_not_a_real_key_000000000000', account_id: ACCOUNT, persona_id: 'demo' }), 401, -32001, /^Invalid API key$/],
    ['a valid key for another account', () => ({ 'X-API-Key': otherKey, account_id: ACCOUNT, persona_id: 'demo' }), 403, -32003, /does not belong to that account/],
    ['no persona_id', () => ({ 'X-API-Key': key, account_id: ACCOUNT }), 400, -32602, /account_id and persona_id are required/],
    ['no account_id', () => ({ 'X-API-Key': key, persona_id: 'demo' }), 400, -32602, /account_id and persona_id are required/],
  ])('refuses %s with a JSON-RPC error', async (_name, headers, status, code, message) => {
    const res = await post(headers());
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code, message: expect.stringMatching(message) }, id: null });
  });

  it('refuses a revoked key', async () => {
    const keys = new ApiKeyStore(redis);
    const { key: revoked, record } = await keys.create(ACCOUNT);
    expect((await post({ 'X-API-Key': revoked, account_id: ACCOUNT, persona_id: 'demo' })).status).toBe(200);
    expect(await keys.revoke(record.id)).toBe(true);
    expect((await post({ 'X-API-Key': revoked, account_id: ACCOUNT, persona_id: 'demo' })).status).toBe(401);
  });

  it('answers malformed JSON with 400 and -32700, and goes on serving', async () => {
    const res = await post(ctxHeaders(), '{"jsonrpc":"2.0","id":1,"method":');
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32700, message: expect.stringMatching(/^Parse error/) }, id: null });
    const ok = await post(ctxHeaders());
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { result: { tools: Array<{ name: string }> } };
    expect(body.result.tools.map((t) => t.name).sort()).toEqual(['hangup_call', 'transfer_call']);
  });

  it('refuses a body over MCP_MAX_BODY_BYTES with 413', async () => {
    const big = rpc('tools/call', { name: 'hangup_call', arguments: { pad: 'x'.repeat(MAX_BODY) } });
    const res = await post(ctxHeaders(), big);
    expect(res.status).toBe(413);
    // Just under the limit is fine.
    const fits = rpc('tools/list', { pad: 'x'.repeat(MAX_BODY - 200) });
    expect(Buffer.byteLength(fits)).toBeLessThan(MAX_BODY);
    expect((await post(ctxHeaders(), fits)).status).toBe(200);
  });

  it.each(['GET', 'DELETE'])('%s /mcp is 405: the server is stateless', async (method) => {
    const res = await fetch(url, { method, headers: ctxHeaders({ accept: 'application/json, text/event-stream' }) });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toEqual({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringMatching(/Method not allowed/) }, id: null });
  });
});

describe('MCP over streamable HTTP', () => {
  it.each<[string, () => Record<string, string>]>([
    ['X-API-Key', () => ctxHeaders()],
    ['Authorization: Bearer', () => ({ Authorization: `Bearer ${key}`, account_id: ACCOUNT, persona_id: 'demo' })],
  ])('lists hangup_call and transfer_call with annotations (key via %s)', async (_name, headers) => {
    const client = await connect(headers());
    const { tools } = await client.listTools();
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(Object.keys(byName).sort()).toEqual(['hangup_call', 'transfer_call']);
    expect(byName.hangup_call!.annotations).toEqual({ readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false });
    expect(byName.transfer_call!.annotations).toEqual({ readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: true });
    expect(byName.transfer_call!.inputSchema).toMatchObject({ type: 'object', required: ['destination_number'] });
  });
});

describe('hangup_call', () => {
  it('without a call_id header is an isError result naming call_id', async () => {
    const r = await callTool(ctxHeaders(), 'hangup_call');
    expect(r).toEqual({ isError: true, text: expect.stringMatching(/call_id header is required/) });
  });

  it('for a call of another account is "No call …"', async () => {
    const callId = await liveCall(OTHER_ACCOUNT);
    let asked = 0;
    subs.push(probe.handle(contracts.hangup, () => (asked++, { ok: true }), { param: callId }));
    await probe.nc.flush();
    const r = await callTool(ctxHeaders({ call_id: callId }), 'hangup_call');
    expect(r).toEqual({ isError: true, text: `No call ${callId} in this account` });
    expect(asked).toBe(0);
  });

  it('for a call that does not exist is "No call …"', async () => {
    const r = await callTool(ctxHeaders({ call_id: 'call_ts_never_existed' }), 'hangup_call');
    expect(r).toEqual({ isError: true, text: 'No call call_ts_never_existed in this account' });
  });

  it('asks the gateway holding the call to hang up: "Call ended"', async () => {
    const callId = await liveCall(ACCOUNT);
    const got: HangupRequest[] = [];
    subs.push(probe.handle(contracts.hangup, (req) => (got.push(req), { ok: true }), { param: callId }));
    await probe.nc.flush();
    const r = await callTool(ctxHeaders({ call_id: callId }), 'hangup_call');
    expect(r).toEqual({ isError: false, text: 'Call ended' });
    expect(got).toEqual([{ reason: 'hangup_call tool' }]);
  });

  it('reports a call the gateway says had already ended', async () => {
    const callId = await liveCall(ACCOUNT);
    subs.push(probe.handle(contracts.hangup, () => ({ ok: true, alreadyEnded: true }), { param: callId }));
    await probe.nc.flush();
    expect(await callTool(ctxHeaders({ call_id: callId }), 'hangup_call')).toEqual({ isError: false, text: 'The call had already ended' });
  });

  it('with no gateway holding the call: "The call had already ended"', async () => {
    const callId = await liveCall(ACCOUNT);
    expect(await callTool(ctxHeaders({ call_id: callId }), 'hangup_call')).toEqual({ isError: false, text: 'The call had already ended' });
  });
});

describe('transfer_call', () => {
  it.each(['5551234567', '+0123456789', '+1 555 123 4567', 'sip:agent@example.com'])('refuses %j, naming the E.164 format', async (number) => {
    const callId = await liveCall(ACCOUNT);
    let asked = 0;
    subs.push(probe.handle(contracts.transfer, () => (asked++, { ok: true }), { param: callId }));
    await probe.nc.flush();
    const r = await callTool(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: number });
    expect(r.isError).toBe(true);
    expect(r.text).toMatch(/destination_number/);
    expect(r.text).toMatch(/E\.164 number such as \+15551234567/);
    expect(asked).toBe(0);
  });

  it('asks the gateway to transfer to a valid number', async () => {
    const callId = await liveCall(ACCOUNT);
    const got: TransferRequest[] = [];
    subs.push(probe.handle(contracts.transfer, (req) => (got.push(req), { ok: true }), { param: callId }));
    await probe.nc.flush();
    const r = await callTool(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: '+15559876543' });
    expect(r).toEqual({ isError: false, text: 'Transferring the call to +15559876543' });
    expect(got).toEqual([{ destination: '+15559876543' }]);
  });

  it('with no gateway holding the call is an isError result', async () => {
    const callId = await liveCall(ACCOUNT);
    const r = await callTool(ctxHeaders({ call_id: callId }), 'transfer_call', { destination_number: '+15559876543' });
    expect(r).toEqual({ isError: true, text: 'The call cannot be transferred: it is no longer connected' });
  });
});

describe('health', () => {
  it('answers cmd.mcp-tool-server.health and /readyz', async () => {
    const replies = await probe.requestAll(contracts.health, {}, { param: 'mcp-tool-server', maxWaitMs: 500 });
    expect(replies.find((r) => r.instanceId === 'mcp-tool-server-test')).toMatchObject({ service: 'mcp-tool-server', status: 'ok' });
    const ready = await app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', draining: false, checks: { nats: 'ok', redis: 'ok' } });
  });
});
