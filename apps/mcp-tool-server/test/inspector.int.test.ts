import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infraUrls } from '@switchboard/testing';
import { startFixture, type Fixture } from './fixture.ts';

/**
 * The official MCP Inspector CLI (`@modelcontextprotocol/inspector --cli`, a devDependency) lists and
 * calls tools against the running server over streamable HTTP, as a third-party client would.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const INSPECTOR = join(ROOT, 'node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js');

let fx: Fixture;
let home: string;

/** Runs the Inspector CLI (asynchronously: the server under test shares this event loop). */
function inspector(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const headers = ['--header', `X-API-Key: ${fx.key}`, '--header', `account_id: ${fx.account}`, '--header', 'persona_id: front-desk'];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [INSPECTOR, '--cli', fx.url, '--transport', 'http', ...headers, ...args],
      // Its own HOME: the Inspector keeps a catalog and auth storage under ~/.mcp-inspector.
      { env: { PATH: process.env.PATH ?? '', HOME: home, MCP_CATALOG_PATH: join(home, 'mcp.json') }, timeout: 60_000, encoding: 'utf8' },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`inspector.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  home = mkdtempSync(join(tmpdir(), 'sb-inspector-home-'));
  fx = await startFixture();
});

afterAll(async () => {
  await fx?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('MCP Inspector CLI', () => {
  it('lists the tools with their schemas and annotations', async () => {
    const r = await inspector(['--method', 'tools/list']);
    expect(r.code).toBe(0);
    const { tools } = JSON.parse(r.stdout) as { tools: Array<{ name: string; annotations?: Record<string, boolean>; outputSchema?: unknown }> };
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['hangup_call', 'transfer_call', 'is_office_open', 'lookup_contact', 'make_phone_call', 'voice.speak', 'workflow.run', 'schedule.create']));
    expect(tools.find((t) => t.name === 'lookup_contact')).toMatchObject({ annotations: { readOnlyHint: true }, outputSchema: { type: 'object' } });
  }, 90_000);

  it('calls a tool and gets its structured result', async () => {
    const r = await inspector(['--method', 'tools/call', '--tool-name', 'lookup_contact', '--tool-arg', 'phone_number=+15551234567']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      content: [{ type: 'text', text: 'No contact found for +15551234567' }],
      structuredContent: { phoneNumber: '+15551234567', found: false, contacts: [], failedSources: [] },
    });
  }, 90_000);

  it('exits 5 for a tool result with isError', async () => {
    const r = await inspector(['--method', 'tools/call', '--tool-name', 'hangup_call']);
    expect(r.code).toBe(5);
    expect(JSON.parse(r.stdout)).toMatchObject({ isError: true, content: [{ type: 'text', text: 'This tool acts on a call: the call_id header is required' }] });
  }, 90_000);
});
