import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '@switchboard/contracts';
import { ApiKeyStore } from '@switchboard/session-store';
import { startHttpFunctionsServer, startScriptableMcpServer, type HttpFunctionsServer, type ScriptableMcpServer } from '@switchboard/testing';
import { serversForAgentHandler } from '../src/handlers/servers-for-agent.handler.ts';
import { announce, ctx, envelope, startTestBroker, type TestBroker } from './harness.ts';

const SECRET = `sk_live_${randomBytes(12).toString('hex')}`;
const account = `acct_${randomBytes(4).toString('hex')}`;
const otherAccount = `acct_${randomBytes(4).toString('hex')}`;
const agentId = `agent-${randomBytes(4).toString('hex')}`;

let t: TestBroker;
let keyless: TestBroker;
let agentsDir: string;
let key: string;
let otherKey: string;
let crm: ScriptableMcpServer;
let mail: ScriptableMcpServer;
let plati: HttpFunctionsServer;
/** Every log line of the broker under test, at debug level, to prove no secret is ever logged. */
const logged: string[] = [];

beforeAll(async () => {
  await announce('registry.int.test');
  agentsDir = await mkdtemp(join(tmpdir(), 'broker-agents-'));
  await writeFile(
    join(agentsDir, 'sales.yaml'),
    [
      `id: ${agentId}`,
      `accountId: ${account}`,
      'systemPrompt: You sell things.',
      'stt: { provider: openai }',
      'llm: { provider: openai }',
      'tts: { provider: openai }',
      'tools:',
      '  - { name: send_email, description: Send an email, url: "http://127.0.0.1:9/hook" }',
      '',
    ].join('\n'),
  );
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk: Buffer, _enc, done) => (logged.push(chunk.toString('utf8')), done()) }));
  t = await startTestBroker({ SECRETS_KEY: randomBytes(32).toString('base64'), AGENTS_DIR: agentsDir, LOG_LEVEL: 'debug', ATTACH_CHECK_BUDGET_MS: '3000' }, undefined, { logger });
  keyless = await startTestBroker({ AGENTS_DIR: agentsDir });
  const keys = new ApiKeyStore(t.redis);
  key = (await keys.create(account)).key;
  otherKey = (await keys.create(otherAccount)).key;
  crm = await startScriptableMcpServer({ requireHeader: { name: 'authorization', value: `Bearer ${SECRET}` }, tools: [{ name: 'lookup_customer', description: 'Find a customer' }, { name: 'send_email', description: 'Send an email from the CRM' }] });
  mail = await startScriptableMcpServer({ tools: [{ name: 'lookup_customer', description: 'Another lookup' }] });
  plati = await startHttpFunctionsServer({ functions: [{ name: 'check_order_status', description: 'Check an order' }] });
});

afterAll(async () => {
  await t?.close();
  await keyless?.close();
  await crm?.close();
  await mail?.close();
  await plati?.close();
  await rm(agentsDir, { recursive: true, force: true });
});

function api(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, body?: unknown, apiKey: string | undefined = key, broker = t) {
  return broker.b.app.inject({ method, url, headers: apiKey ? { 'x-api-key': apiKey } : {}, ...(body !== undefined ? { payload: body as object } : {}) });
}

async function register(body: Record<string, unknown>, apiKey = key): Promise<{ id: string; name: string }> {
  const res = await api('POST', '/v1/mcp-servers', body, apiKey);
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe('registration API', () => {
  it.each<[string, Record<string, string>, number, string]>([
    ['no key', {}, 401, ErrorCodes.AUTH_MISSING_KEY],
    ['an unknown key', { 'x-api-key': 'sk_nope' }, 401, ErrorCodes.AUTH_INVALID_KEY],
  ])('refuses a request with %s', async (_name, headers, status, code) => {
    const res = await t.b.app.inject({ method: 'GET', url: '/v1/mcp-servers', headers });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toMatchObject({ code });
  });

  it('stores header secrets encrypted and never returns them', async () => {
    const s = await register({ name: 'crm-secret', transport: 'streamable-http', url: crm.url, headers: [{ key: 'Authorization', value: `Bearer ${SECRET}` }] });
    expect(s).toMatchObject({ id: expect.stringMatching(/^srv_/), accountId: account, name: 'crm-secret', transport: 'streamable-http', headers: [{ key: 'Authorization', redacted: true }] });
    const raw = (await t.redis.get(`sb:mcp:server:${s.id}`)) ?? '';
    expect(raw).toContain('"sealed":"v1.');
    expect(raw).not.toContain(SECRET);
    const got = await api('GET', `/v1/mcp-servers/${s.id}`);
    expect(got.statusCode).toBe(200);
    expect(got.body).not.toContain(SECRET);
    const list = await api('GET', '/v1/mcp-servers');
    expect(list.json().servers.map((x: { id: string }) => x.id)).toContain(s.id);
    expect(list.body).not.toContain(SECRET);
  });

  it.each<[string, Record<string, unknown>, number, RegExp]>([
    ['a stdio server (it would run a command on the broker host)', { name: 'x1', transport: 'stdio', url: 'http://x' }, 400, /stdio servers run a command/],
    ['a URL that is not http(s)', { name: 'x2', url: 'file:///etc/passwd' }, 400, /url must be http or https/],
    ['a header value with a line break', { name: 'x3', url: 'http://127.0.0.1:1/mcp', headers: [{ key: 'X', value: 'a\r\nInjected: 1' }] }, 400, /value/],
    ['a missing url', { name: 'x4' }, 400, /url/],
  ])('refuses %s', async (_name, body, status, message) => {
    const res = await api('POST', '/v1/mcp-servers', body);
    expect(res.statusCode).toBe(status);
    expect(res.json().message).toMatch(message);
  });

  it('refuses a second server with the same name in the account', async () => {
    await register({ name: 'dupe', url: mail.url });
    const res = await api('POST', '/v1/mcp-servers', { name: 'dupe', url: mail.url });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/already registered/);
  });

  it('refuses header secrets when the broker has no SECRETS_KEY, and accepts a server without headers', async () => {
    const res = await api('POST', '/v1/mcp-servers', { name: 'nokey', url: mail.url, headers: { Authorization: 'Bearer x' } }, key, keyless);
    expect(res.statusCode).toBe(503);
    expect(res.json()).toMatchObject({ code: ErrorCodes.CONFIG_INVALID, message: expect.stringMatching(/SECRETS_KEY/) });
    expect((await api('POST', '/v1/mcp-servers', { name: 'nokey-plain', url: mail.url }, key, keyless)).statusCode).toBe(201);
  });

  it('hides one account’s servers from another', async () => {
    const s = await register({ name: 'private', url: mail.url });
    expect((await api('GET', `/v1/mcp-servers/${s.id}`, undefined, otherKey)).statusCode).toBe(404);
    expect((await api('DELETE', `/v1/mcp-servers/${s.id}`, undefined, otherKey)).statusCode).toBe(404);
    expect((await api('GET', '/v1/mcp-servers', undefined, otherKey)).json().servers).toEqual([]);
    expect((await api('PUT', `/v1/agents/${agentId}/mcp-servers/${s.id}`, undefined, otherKey)).statusCode).toBe(404);
  });

  it('accepts Plati’s `http` transport as http-functions', async () => {
    const s = await register({ name: 'plati', transport: 'http', url: plati.url });
    expect(s).toMatchObject({ transport: 'http-functions' });
  });
});

describe('attaching servers to an agent', () => {
  it('refuses a server whose tool collides with the agent’s own tool, naming both sources', async () => {
    const s = await register({ name: 'crm', url: crm.url, headers: [{ key: 'Authorization', value: `Bearer ${SECRET}` }] });
    const res = await api('PUT', `/v1/agents/${agentId}/mcp-servers/${s.id}`);
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ code: ErrorCodes.AGENT_INVALID, message: `MCP tool 'send_email' of server 'crm' collides with agent '${agentId}'s own tool 'send_email'` });
    expect((await api('GET', `/v1/agents/${agentId}/mcp-servers`)).json().servers).toEqual([]);
  });

  it('attaches a prefixed server, offers its tools to the agent’s calls with the stored credentials, and detaches it', async () => {
    const s = await register({ name: 'crm2', url: crm.url, prefix: 'crm', headers: [{ key: 'Authorization', value: `Bearer ${SECRET}` }] });
    const res = await api('PUT', `/v1/agents/${agentId}/mcp-servers/${s.id}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ agentId, serverId: s.id, attached: true, verified: true, tools: ['crm_lookup_customer', 'crm_send_email'], warnings: [] });

    // The orchestrator's view (cmd.mcp-broker.servers-for-agent; over NATS in broker.int.test), secrets withheld.
    const forAgent = await serversForAgentHandler(t.b.registry)({ accountId: account, agentId });
    expect(forAgent.servers.map((x) => x.id)).toEqual([s.id]);
    expect(JSON.stringify(forAgent)).not.toContain(SECRET);

    // A call of that agent: list with `attached`, call with the descriptor's serverRef.
    const context = { ...ctx(), agentId, accountId: account };
    const reply = await t.list([], { context, attached: true });
    expect(reply.tools.map((d) => [d.name, d.serverRef])).toEqual([
      ['crm_lookup_customer', s.id],
      ['crm_send_email', s.id],
    ]);
    const called = await t.call(undefined, 'lookup_customer', {}, { context, serverRef: s.id });
    expect(called.isError).toBe(false);
    expect(crm.seenHeaders.at(-1)?.authorization).toBe(`Bearer ${SECRET}`);

    // Another account cannot use the ref.
    const stolen = await t.call(undefined, 'lookup_customer', {}, { context: { ...context, accountId: otherAccount }, serverRef: s.id });
    expect(stolen).toMatchObject({ isError: true, code: ErrorCodes.MCP_SERVER_NOT_FOUND });

    expect((await api('DELETE', `/v1/agents/${agentId}/mcp-servers/${s.id}`)).statusCode).toBe(204);
    expect((await t.list([], { context, attached: true })).tools).toEqual([]);
  });

  it('refuses a server whose tool collides with a server already attached', async () => {
    const a = await register({ name: 'mail-a', url: mail.url });
    const b = await register({ name: 'mail-b', url: mail.url });
    expect((await api('PUT', `/v1/agents/${agentId}/mcp-servers/${a.id}`)).statusCode).toBe(200);
    const res = await api('PUT', `/v1/agents/${agentId}/mcp-servers/${b.id}`);
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toBe("MCP tool 'lookup_customer' of server 'mail-b' collides with the tool of the same name from server 'mail-a'; the newcomer is left out (give one server a prefix)");
    // Deleting a server detaches it everywhere.
    expect((await api('DELETE', `/v1/mcp-servers/${a.id}`)).statusCode).toBe(204);
    expect((await api('GET', `/v1/agents/${agentId}/mcp-servers`)).json().servers).toEqual([]);
  });

  it('attaches an unreachable server unverified, with a warning', async () => {
    const s = await register({ name: 'offline', url: 'http://127.0.0.1:9/mcp' });
    const res = await api('PUT', `/v1/agents/${agentId}/mcp-servers/${s.id}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ attached: true, verified: false, warnings: [expect.stringMatching(/^offline: cannot connect/)] });
    expect((await api('DELETE', `/v1/mcp-servers/${s.id}`)).statusCode).toBe(204);
  });

  it('answers 404 for an unknown agent or server', async () => {
    const s = await register({ name: 'lonely', url: mail.url });
    expect((await api('PUT', `/v1/agents/no-such-agent/mcp-servers/${s.id}`)).json()).toMatchObject({ code: ErrorCodes.AGENT_NOT_FOUND });
    expect((await api('PUT', `/v1/agents/${agentId}/mcp-servers/srv_nope`)).json()).toMatchObject({ code: ErrorCodes.MCP_SERVER_NOT_FOUND });
  });

  it('an unknown serverRef on call-tool is an envelope, not a crash', async () => {
    const reply = await t.call(undefined, 'x', {}, { context: { ...ctx(), accountId: account }, serverRef: 'srv_missing' });
    expect(reply).toMatchObject({ isError: true, code: ErrorCodes.MCP_SERVER_NOT_FOUND });
    expect(envelope(reply).fallback).toBe(true);
  });

  it('never wrote a header secret to the logs', () => {
    // The capture works: the attach-time listing of 'crm' (with the secret header) was logged.
    expect(logged.some((l) => l.includes("MCP server 'crm' registered 2 tool(s)"))).toBe(true);
    expect(logged.join('')).not.toContain(SECRET);
  });
});
