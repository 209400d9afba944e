import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { contracts, type HangupRequest } from '@switchboard/contracts';
import { infraUrls } from '@switchboard/testing';
import { agent, liveCall, startFixture, type Fixture } from './fixture.ts';

/**
 * stdio mode as a desktop client runs it (seed 002): a subprocess speaking MCP on stdin/stdout,
 * reached through the SDK's StdioClientTransport, on the same NATS and Redis as the HTTP service.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const STDIO = join(ROOT, 'apps/mcp-tool-server/src/stdio.ts');

let fx: Fixture;
let infra: Awaited<ReturnType<typeof infraUrls>>;
const clients: Client[] = [];
const subs: Array<{ unsubscribe(): void }> = [];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NATS_URL: infra.natsUrl,
    REDIS_URL: infra.redisUrl,
    AGENTS_DIR: fx.agentsDir,
    WORKFLOWS_DIR: join(fx.agentsDir, '..', 'workflows'),
    LOG_LEVEL: 'info',
    SWITCHBOARD_API_KEY: fx.key,
    ACCOUNT_ID: fx.account,
    PERSONA_ID: 'front-desk',
    ...extra,
  };
}

async function start(extra: Record<string, string> = {}): Promise<{ client: Client; stderr: string[] }> {
  const transport = new StdioClientTransport({ command: process.execPath, args: ['--import', 'tsx', STDIO], env: env(extra), cwd: ROOT, stderr: 'pipe' });
  const stderr: string[] = [];
  transport.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const client = new Client({ name: 'stdio-test', version: '0.0.1' });
  await client.connect(transport);
  clients.push(client);
  return { client, stderr };
}

beforeAll(async () => {
  infra = await infraUrls();
  console.log(`stdio.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  fx = await startFixture({ agents: (a, o) => [agent('front-desk', a, { officeHours: { weekly: { mon: '24h', tue: '24h', wed: '24h', thu: '24h', fri: '24h', sat: '24h', sun: '24h' } } }), agent('other-desk', o)] });
});

afterEach(async () => {
  for (const s of subs.splice(0)) s.unsubscribe();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await fx?.close();
});

describe('stdio mode', () => {
  it('lists and calls tools over stdin/stdout and logs only to stderr', async () => {
    const { client, stderr } = await start();
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['is_office_open', 'make_phone_call', 'voice.speak', 'system.health']));
    const r = (await client.callTool({ name: 'is_office_open', arguments: {} })) as CallToolResult;
    expect(r.content).toEqual([{ type: 'text', text: 'Office is open 24 hours today' }]);
    expect(r.structuredContent).toMatchObject({ status: 'open_24h', timeZone: 'UTC' });
    expect(stderr.join('')).toMatch(/serving MCP on stdio/);
  }, 30_000);

  it('acts on the call named by CALL_ID', async () => {
    const callId = await liveCall(fx, fx.account);
    const got: HangupRequest[] = [];
    subs.push(fx.probe.handle(contracts.hangup, (req) => (got.push(req), { ok: true }), { param: callId }));
    await fx.probe.nc.flush();
    const { client } = await start({ CALL_ID: callId });
    const r = (await client.callTool({ name: 'hangup_call', arguments: {} })) as CallToolResult;
    expect(r.content).toEqual([{ type: 'text', text: 'Call ended' }]);
    expect(got).toEqual([{ reason: 'hangup_call tool' }]);
  }, 30_000);

  it.each<[string, Record<string, string>, RegExp]>([
    ['an invalid key', { SWITCHBOARD_API_KEY: 'sk_not_a_real_key_000000000000' }, /^mcp-tool-server-stdio: SWITCHBOARD_API_KEY is not a valid key\n$/],
    ["another account's key", { ACCOUNT_ID: 'acct_someone_else' }, /^mcp-tool-server-stdio: SWITCHBOARD_API_KEY does not belong to account acct_someone_else\n$/],
    ["another account's persona", { PERSONA_ID: 'other-desk' }, /^mcp-tool-server-stdio: PERSONA_ID other-desk is not an agent of account acct_ts_/],
    ['no persona', { PERSONA_ID: '' }, /^mcp-tool-server-stdio: invalid configuration: .*PERSONA_ID/],
  ])('refuses to start with %s: one line on stderr, exit 1', (_n, extra, line) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', STDIO], { env: env({ ...extra, LOG_LEVEL: 'silent' }), cwd: ROOT, input: '', timeout: 20_000, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(line);
  }, 30_000);
});
