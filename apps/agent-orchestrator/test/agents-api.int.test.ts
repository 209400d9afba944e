import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Subscription } from '@nats-io/nats-core';
import { Bus } from '@switchboard/bus';
import { contracts, type ListToolsReply, type ListToolsRequest } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { ApiKeyStore, CallStore } from '@switchboard/session-store';
import { infraUrls } from '@switchboard/testing';
import { buildApp, type Orchestrator } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { loadVad } from '../src/adapters/silero-vad.ts';

const log = createLogger('agent-orchestrator-test', 'silent');
const run = randomBytes(3).toString('hex');
const acme = `acme-${run}`;
const other = `other-${run}`;
let bus: Bus;
let redis: Redis;
let orch: Orchestrator;
let acmeKey: string;
let otherKey: string;
let broker: Subscription;
/** What the stand-in broker answers for this run's agents. */
let brokerReply: ListToolsReply = { tools: [], pending: [], failed: [] };
const brokerAsked: ListToolsRequest[] = [];

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`agents-api.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'agents-api-test', log });
  redis = await connectRedis(infra.redisUrl);
  const keys = new ApiKeyStore(redis);
  acmeKey = (await keys.create(acme)).key;
  otherKey = (await keys.create(other)).key;
  // Stands in for the broker for this run's agents only (a plain subscription; other requests are left alone).
  broker = bus.nc.subscribe(contracts.listTools.subject(), {
    callback: (_err, msg) => {
      const req = JSON.parse(new TextDecoder().decode(msg.data)) as ListToolsRequest;
      if (!req.context.agentId.endsWith(run)) return;
      brokerAsked.push(req);
      msg.respond(new TextEncoder().encode(JSON.stringify(brokerReply)));
    },
  });
  const { factory: vad } = await loadVad('energy');
  const config = loadConfig({ LOG_LEVEL: 'silent', TOOL_DISCOVERY_BUDGET_MS: '200', OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' });
  orch = await buildApp({ config, bus, redis, fileAgents: [], vad, log, instanceId: `agents-api-${run}` });
});

afterAll(async () => {
  broker?.unsubscribe();
  await orch?.app.close();
  const ids = [...(await redis.smembers(`sb:account:${acme}:agents`)), ...(await redis.smembers(`sb:account:${other}:agents`))];
  for (const id of ids) await orch.agents.delete(id);
  await redis.del(`sb:account:${acme}:agents`, `sb:account:${other}:agents`);
  await bus?.drain(2000);
  redis?.disconnect();
});

const agentBody = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  systemPrompt: 'You help callers.',
  stt: { provider: 'openai' },
  llm: { provider: 'openai' },
  tts: { provider: 'openai' },
  ...extra,
});

async function api(method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, key: string | undefined, body?: unknown) {
  const res = await orch.app.inject({ method, url, headers: key ? { 'x-api-key': key } : {}, ...(body !== undefined ? { payload: body as object } : {}) });
  return { status: res.statusCode, body: res.body ? (res.json() as Record<string, unknown>) : undefined };
}

describe('/v1/agents authentication', () => {
  it.each([
    ['no key', undefined, 401, 'AUTH_MISSING_KEY'],
    ['an unknown key', 'sk_nope', 401, 'AUTH_INVALID_KEY'],
  ])('%s is refused', async (_name, key, status, code) => {
    const r = await api('GET', `/v1/agents/a-${run}`, key);
    expect([r.status, r.body?.code]).toEqual([status, code]);
  });

  it('accepts Authorization: Bearer as well as X-API-Key', async () => {
    const res = await orch.app.inject({ method: 'GET', url: '/v1/agents', headers: { authorization: `Bearer ${acmeKey}` } });
    expect(res.statusCode).toBe(200);
  });
});

describe('/v1/agents/:id', () => {
  it('creates, reads, replaces and deletes an agent of the key’s account', async () => {
    const id = `crud-${run}`;
    const created = await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id, { phoneNumbers: ['+15550170001'] }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ created: true, source: 'api', warnings: [], agent: { id, accountId: acme, maxToolIterations: 10, tools: [] } });

    const read = await api('GET', `/v1/agents/${id}`, acmeKey);
    expect(read.body).toMatchObject({ agent: { id, accountId: acme, phoneNumbers: ['+15550170001'] }, source: 'api' });

    const replaced = await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id, { systemPrompt: 'Changed.', phoneNumbers: ['+15550170002'] }));
    expect([replaced.status, (replaced.body?.agent as { systemPrompt: string }).systemPrompt]).toEqual([200, 'Changed.']);
    expect((await orch.agents.forNumber('+15550170001'))?.agent.id).toBeUndefined();
    expect((await orch.agents.forNumber('+15550170002'))?.agent.id).toBe(id);

    const list = await api('GET', '/v1/agents', acmeKey);
    expect((list.body?.agents as Array<{ id: string }>).map((a) => a.id)).toContain(id);
    expect((await api('GET', '/v1/agents', otherKey)).body?.agents).toEqual([]);

    expect((await api('DELETE', `/v1/agents/${id}`, acmeKey)).status).toBe(204);
    expect((await api('GET', `/v1/agents/${id}`, acmeKey)).status).toBe(404);
    expect(await orch.agents.forNumber('+15550170002')).toBeUndefined();
  });

  it('hides another account’s agent and refuses to overwrite it', async () => {
    const id = `owned-${run}`;
    expect((await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id))).status).toBe(201);
    expect((await api('GET', `/v1/agents/${id}`, otherKey)).status).toBe(404);
    expect((await api('DELETE', `/v1/agents/${id}`, otherKey)).status).toBe(404);
    expect((await api('POST', `/v1/agents/${id}/chat`, otherKey, { sessionId: 's1', text: 'hi' })).status).toBe(404);
    const put = await api('PUT', `/v1/agents/${id}`, otherKey, agentBody(id));
    expect([put.status, put.body?.code]).toEqual([403, 'AUTH_FORBIDDEN']);
    const claim = await api('PUT', `/v1/agents/x-${run}`, acmeKey, agentBody(`x-${run}`, { accountId: other }));
    expect([claim.status, claim.body?.code]).toEqual([403, 'AUTH_FORBIDDEN']);
  });

  it.each([
    ['an id other than the URL’s', (id: string) => agentBody(`${id}-other`), /\/id: ".*" does not match the URL's agent id/],
    ['neither an engine nor stt, llm and tts', (id: string) => ({ id, systemPrompt: 'x', llm: { provider: 'openai' } }), /missing required field "engine".*missing required field "stt"/],
    ['a ${VAR} reference (the server environment is not expanded)', (id: string) => agentBody(id, { systemPrompt: 'Key: ${OPENAI_API_KEY}' }), /environment variable OPENAI_API_KEY is not set/],
    ['an unknown field', (id: string) => agentBody(id, { colour: 'blue' }), /unknown field "colour"/],
  ])('refuses %s with AGENT_INVALID', async (_name, body, message) => {
    const id = `bad-${run}`;
    const r = await api('PUT', `/v1/agents/${id}`, acmeKey, body(id));
    expect([r.status, r.body?.code]).toEqual([400, 'AGENT_INVALID']);
    expect(r.body?.message).toMatch(message);
  });

  it('accepts a speech-to-speech agent without stt, llm and tts', async () => {
    const id = `s2s-${run}`;
    const r = await api('PUT', `/v1/agents/${id}`, acmeKey, { id, systemPrompt: 'x', engine: { provider: 'openai-realtime', voice: 'alloy' } });
    expect(r.status).toBe(201);
  });

  it('refuses a phone number another agent already has, naming both', async () => {
    const a = `num-a-${run}`;
    const b = `num-b-${run}`;
    expect((await api('PUT', `/v1/agents/${a}`, acmeKey, agentBody(a, { phoneNumbers: ['+15550170009'] }))).status).toBe(201);
    const r = await api('PUT', `/v1/agents/${b}`, acmeKey, agentBody(b, { phoneNumbers: ['+15550170009'] }));
    expect([r.status, r.body?.message]).toEqual([400, `/phoneNumbers: +15550170009 is already routed to agent "${a}"`]);
  });
});

describe('{{function.name(args)}} references are checked when an agent is saved', () => {
  const mcp = { name: 'orders', url: 'http://127.0.0.1:9/mcp' };

  it.each([
    ['a webhook tool', { tools: [{ name: 'lookup_loyalty', description: 'points', url: 'https://example.com/hook' }] }, 'lookup_loyalty'],
    ['a custom tool', { customTools: [{ type: 'transfer_to_queue', name: 'to_sales', description: 'sales', queueId: 'q1' }] }, 'to_sales'],
    ['call control', {}, 'hangup_call'],
    ['an MCP tool the broker lists', { mcpServers: [mcp] }, 'check_order_status'],
  ])('accepts a reference to %s', async (_name, extra, fn) => {
    brokerReply = { tools: [{ name: 'check_order_status', originalName: 'check_order_status', server: 'orders', description: 'd', inputSchema: { type: 'object' } }], pending: [], failed: [] };
    const id = `fn-ok-${run}`;
    const r = await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id, { systemPrompt: `Use {{function.${fn}(x)}}.`, ...extra }));
    expect([r.status, r.body?.warnings]).toEqual([expect.any(Number), []]);
    expect(r.status).toBeLessThan(300);
  });

  it('refuses an unknown function, naming it', async () => {
    brokerReply = { tools: [{ name: 'check_order_status', originalName: 'check_order_status', server: 'orders', description: 'd', inputSchema: { type: 'object' } }], pending: [], failed: [] };
    const id = `fn-bad-${run}`;
    const r = await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id, { systemPrompt: 'Use {{function.check_order_status(id)}} then {{function.refund_everything(id)}}.', mcpServers: [mcp] }));
    expect([r.status, r.body?.code, r.body?.message]).toEqual([400, 'AGENT_INVALID', '/systemPrompt: {{function.refund_everything}} names no tool of this agent']);
    expect(brokerAsked.at(-1)).toMatchObject({ context: { agentId: id, accountId: acme }, servers: [{ name: 'orders', transport: 'streamable-http' }] });
  });

  it('saves with a warning when a server could not be listed', async () => {
    brokerReply = { tools: [], pending: ['orders'], failed: [] };
    const id = `fn-pending-${run}`;
    const r = await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id, { systemPrompt: 'Use {{function.check_order_status(id)}}.', mcpServers: [mcp] }));
    expect(r.status).toBe(201);
    expect(r.body?.warnings).toEqual(['/systemPrompt: {{function.check_order_status}} could not be checked: orders did not list tools']);
  });
});

describe('other /v1 routes', () => {
  it('agent metrics start empty', async () => {
    const id = `metrics-${run}`;
    await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id));
    expect((await api('GET', `/v1/agents/${id}/metrics`, acmeKey)).body).toEqual({ agentId: id, turns: 0, interrupted: 0, percentiles: {} });
  });

  it('GET /v1/calls/:id shows a call only to its account', async () => {
    const callId = `call_api_${run}`;
    await new CallStore(redis).create({ callId, accountId: acme, agentId: `x-${run}`, direction: 'inbound', carrier: 'twilio', from: '+1', to: '+2', state: 'active', startedAt: new Date().toISOString() });
    expect((await api('GET', `/v1/calls/${callId}`, otherKey)).status).toBe(404);
    const mine = await api('GET', `/v1/calls/${callId}`, acmeKey);
    expect(mine.body).toMatchObject({ callId, accountId: acme, transcript: [], toolCalls: [], pendingTools: [], metrics: { turns: [], percentiles: {} } });
    await redis.del(`sb:call:${callId}`);
  });

  it.each([
    ['no sessionId', { text: 'hi' }],
    ['an empty text', { sessionId: 's1', text: '' }],
    ['a session id with a dot', { sessionId: 'a.b', text: 'hi' }],
  ])('chat refuses a body with %s', async (_name, body) => {
    const id = `chat-${run}`;
    await api('PUT', `/v1/agents/${id}`, acmeKey, agentBody(id));
    const r = await api('POST', `/v1/agents/${id}/chat`, acmeKey, body);
    expect([r.status, r.body?.code]).toEqual([400, 'REQUEST_INVALID']);
  });
});
