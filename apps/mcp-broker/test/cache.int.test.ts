import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startScriptableMcpServer, type ScriptableMcpServer, type ScriptedTool } from '@switchboard/testing';
import { announce, ctx, http, startTestBroker, until, type TestBroker } from './harness.ts';

let a: TestBroker;
let b: TestBroker;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await announce('cache.int.test');
  // Two instances on one NATS and Redis: a refreshes every second, b trusts a list for 5 minutes.
  a = await startTestBroker({ TOOLS_CACHE_TTL_S: '1', LIST_TIMEOUT_MS: '400', BREAKER_FAILURE_THRESHOLD: '20' }, 'mcp-broker-cache-a');
  b = await startTestBroker({}, 'mcp-broker-cache-b');
});

afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
});

const tool = (name: string): ScriptedTool => ({ name, description: `the ${name} tool`, inputSchema: { type: 'object', properties: {} } });

async function scriptable(opts: Parameters<typeof startScriptableMcpServer>[0] = {}): Promise<ScriptableMcpServer> {
  const s = await startScriptableMcpServer(opts);
  cleanup.push(() => s.close());
  return s;
}

describe('the tool-list cache', () => {
  it('serves a call start from Redis on another instance without waiting for the server, and connects lazily for the first call', async () => {
    const s = await scriptable({ tools: [tool('lookup')], listLatencyMs: 300, stateless: true });
    await a.list([http('slow', s.url)]);
    const lists = s.requests['tools/list'];
    const hits = b.b.broker.stats.cacheHits;
    const reply = await b.list([http('slow', s.url)], { budgetMs: 1500 });
    // No tools/list reached the server: the reply came from Redis.
    expect(reply.tools.map((d) => d.name)).toEqual(['lookup']);
    expect(b.b.broker.stats.cacheHits).toBe(hits + 1);
    expect(s.requests['tools/list']).toBe(lists);
    expect((await b.call(http('slow', s.url), 'lookup', {})).isError).toBe(false);
  });

  it('lists every cold server in parallel: no server waits for another', async () => {
    const servers = await Promise.all(Array.from({ length: 5 }, (_, i) => scriptable({ tools: [tool(`t${i}`)], listLatencyMs: 200 })));
    const reply = await a.list(servers.map((s, i) => http(`s${i}`, s.url)));
    expect(reply.failed).toEqual([]);
    expect(reply.tools.map((d) => d.name)).toEqual(['t0', 't1', 't2', 't3', 't4']);
    expect(reply.pending).toEqual([]);
    for (const s of servers) expect(s.requests['tools/list']).toBe(1);
  });

  it('refreshes a stale list in the background while the call start gets the cached one, and tells the other instances', async () => {
    const s = await scriptable({ tools: [tool('v1_tool')], stateless: true });
    const server = http('versioned', s.url);
    expect((await a.list([server])).tools.map((d) => d.name)).toEqual(['v1_tool']);
    expect((await b.list([server])).tools.map((d) => d.name)).toEqual(['v1_tool']);
    const bLists = b.b.broker.stats.discoveries;
    await s.setTools([tool('v2_tool')]);
    // While the server hangs on tools/list, every refresh attempt hangs (and times out after LIST_TIMEOUT_MS).
    s.setFault({ mode: 'hang' }, ['tools/list']);
    await new Promise((r) => setTimeout(r, 1100));
    // Stale on a (TTL 1 s): the cached list is served at once, the call start never waits for the refresh.
    const stale = await a.list([server], { budgetMs: 5000 });
    expect(stale.tools.map((d) => d.name)).toEqual(['v1_tool']);
    expect(stale.pending).toEqual([]);
    s.setFault(undefined);
    await until(async () => (await a.list([server])).tools[0]?.name === 'v2_tool', 'a to refresh the list', 8000);
    // b trusts its copy for 5 minutes, but a's evt.mcp.tools-changed made it read Redis again.
    await until(async () => (await b.list([server])).tools[0]?.name === 'v2_tool', 'b to see the new list');
    expect(b.b.broker.stats.discoveries).toBe(bLists);
  });

  it('asks the server (within the budget) before serving a list older than TOOLS_CACHE_MAX_STALE_S, and falls back to it when the server is slow', async () => {
    const c = await startTestBroker({ TOOLS_CACHE_TTL_S: '1', TOOLS_CACHE_MAX_STALE_S: '1', LIST_TIMEOUT_MS: '3000', BREAKER_FAILURE_THRESHOLD: '20' });
    cleanup.push(() => c.close());
    const s = await scriptable({ tools: [tool('old_tool')], stateless: true });
    const server = http('aging', s.url);
    expect((await c.list([server])).tools.map((d) => d.name)).toEqual(['old_tool']);
    await s.setTools([tool('new_tool')]);
    s.setFault({ mode: 'hang' }, ['tools/list']);
    await new Promise((r) => setTimeout(r, 1200));
    const waited = await c.list([server], { budgetMs: 200 });
    // The server was asked and did not answer within the budget: the old list stands in, the server is pending.
    expect(waited.tools.map((d) => d.name)).toEqual(['old_tool']);
    expect(waited.pending).toEqual(['aging']);
    s.setFault(undefined);
    await until(async () => (await c.list([server], { budgetMs: 200 })).tools[0]?.name === 'new_tool', 'the fresh list', 8000);
  });

  it('refreshes at once on notifications/tools/list_changed', async () => {
    const s = await scriptable({ tools: [tool('before')] });
    const server = http('changing', s.url);
    const context = ctx();
    expect((await b.list([server], { context })).tools.map((d) => d.name)).toEqual(['before']);
    await until(() => s.sessions > 0, 'a session to exist');
    await s.setTools([tool('before'), tool('added_later')]);
    await until(async () => (await b.list([server], { context })).tools.length === 2, 'the new tool to join the call');
  });
});

describe('names and collisions', () => {
  it('refuses an MCP tool that collides with an agent-defined tool, naming both sources', async () => {
    const s = await scriptable({ tools: [tool('send_email'), tool('lookup')] });
    const reply = await a.list([http('crm', s.url)], { reservedNames: ['send_email'] });
    expect(reply.tools.map((d) => d.name)).toEqual(['lookup']);
    expect(reply.collisions).toEqual([
      { tool: 'send_email', server: 'crm', collidesWith: 'agent', message: "MCP tool 'send_email' of server 'crm' collides with the agent-defined tool of the same name; rename one of them, give the server a prefix, or remove the duplicate" },
    ]);
    // With a prefix the names no longer collide.
    const prefixed = await a.list([http('crm', s.url, { prefix: 'crm' })], { reservedNames: ['send_email'] });
    expect(prefixed.tools.map((d) => d.name)).toEqual(['crm_send_email', 'crm_lookup']);
    expect(prefixed.collisions).toEqual([]);
  });

  it('keeps a name with the server that offered it first in the call; a server that starts offering it later is the excluded newcomer', async () => {
    const first = await scriptable({ tools: [tool('lookup')] });
    const late = await scriptable({ tools: [tool('other')] });
    const context = ctx();
    const servers = [http('late', late.url), http('first', first.url)];
    const before = a.b.broker.stats.collisions;
    expect((await a.list(servers, { context })).tools.map((d) => `${d.server}:${d.name}`)).toEqual(['late:other', 'first:lookup']);
    await late.setTools([tool('other'), tool('lookup')]);
    await until(async () => (await a.list(servers, { context })).collisions?.length === 1, 'the collision');
    const reply = await a.list(servers, { context });
    expect(reply.tools.map((d) => `${d.server}:${d.name}`)).toEqual(['late:other', 'first:lookup']);
    expect(reply.collisions?.[0]).toMatchObject({ tool: 'lookup', server: 'late', collidesWith: 'first' });
    // Logged and counted once per call, however many turns list it.
    expect(a.b.broker.stats.collisions).toBe(before + 1);
    // A new call has no history: the earlier server in the config wins.
    const fresh = await a.list(servers);
    expect(fresh.tools.map((d) => `${d.server}:${d.name}`)).toEqual(['late:other', 'late:lookup']);
  });

  it('maps a provider-safe name back to the server’s own name on call-tool', async () => {
    const s = await scriptable({ tools: [{ ...tool('orders.lookup'), handler: () => ({ content: [{ type: 'text', text: 'found' }] }) }] });
    const server = http('shop', s.url, { prefix: 'shop' });
    const [d] = (await a.list([server])).tools;
    expect(d).toMatchObject({ name: 'shop_orders_lookup', originalName: 'orders.lookup' });
    expect(await a.call(server, 'orders.lookup', {})).toMatchObject({ isError: false, text: 'found' });
    expect(await a.call(server, 'shop_orders_lookup', {})).toMatchObject({ isError: false, text: 'found' });
    expect(s.calls['orders.lookup']).toBe(2);
  });
});
