import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, SwitchboardError, normalizeMcpServers } from '@switchboard/contracts';
import { AgentRegistry, interpolateEnv, loadAgents } from './index.ts';

const DEMO_DIR = fileURLToPath(new URL('../../../config/agents/', import.meta.url));

/** The smallest agent the schema accepts, as YAML lines; tests add or replace lines. */
const minimal = (id = 'sales', extra = '') => `id: ${id}
systemPrompt: You sell things.
stt: { provider: openai }
llm: { provider: openai, model: gpt-4o-mini }
tts: { provider: openai, voice: alloy }
${extra}`;

const dirs: string[] = [];

/** Writes `files` into a fresh temp dir and returns its path. */
async function agentDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sb-agents-'));
  dirs.push(dir);
  for (const [name, body] of Object.entries(files)) await writeFile(join(dir, name), body);
  return dir;
}

async function refusal(p: Promise<unknown>): Promise<SwitchboardError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected the load to be refused');
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('loadAgents: the repository demo agent', () => {
  it('loads config/agents/demo.yaml with its defaults filled and call placeholders untouched', async () => {
    const agents = await loadAgents(DEMO_DIR, {});
    expect(agents.map((a) => a.id)).toEqual(['demo']);
    const demo = agents[0]!;
    expect(demo.phoneNumbers).toEqual(['+15550001234']);
    expect(demo.llm).toEqual({ provider: 'openai', model: 'gpt-4o-mini' });
    expect(demo.tts).toEqual({ provider: 'openai', model: 'gpt-4o-mini-tts', voice: 'alloy' });
    expect(demo.tools).toEqual([]);
    expect(demo.maxToolIterations).toBe(10);
    expect(demo.systemPrompt).toContain('{{caller.number}}');
    const servers = normalizeMcpServers(demo.mcpServers ?? []);
    expect(servers.map((s) => [s.name, s.url, s.transport])).toEqual([
      ['orders', 'http://127.0.0.1:3901/mcp', 'streamable-http'],
      ['switchboard', 'http://127.0.0.1:4100/mcp', 'streamable-http'],
    ]);
    expect(servers[1]?.headers).toEqual({
      'X-API-Key': 'sk_dev_switchboard_demo_key',
      account_id: '{{account.id}}',
      persona_id: '{{agent.id}}',
      call_id: '{{call.id}}',
      caller_id_number: '{{call.from}}',
    });
  });

  it('takes the environment over the defaults', async () => {
    const [demo] = await loadAgents(DEMO_DIR, { LLM_MODEL: 'llama3.1:8b', ORDERS_MCP_URL: 'http://orders:3901/mcp' });
    expect(demo?.llm?.model).toBe('llama3.1:8b');
    expect(normalizeMcpServers(demo?.mcpServers ?? [])[0]?.url).toBe('http://orders:3901/mcp');
  });
});

describe('interpolateEnv', () => {
  it.each<[string, string, Record<string, string>, string]>([
    ['a set variable', '${A}', { A: 'x' }, 'x'],
    ['a default when unset', '${A:-fallback}', {}, 'fallback'],
    ['the variable over its default', '${A:-fallback}', { A: 'x' }, 'x'],
    ['a default when set but empty', '${A:-fallback}', { A: '' }, 'fallback'],
    ['an empty default', 'pre${A:-}post', {}, 'prepost'],
    ['a default containing URL characters', '${U:-http://127.0.0.1:3901/mcp?a=b}', {}, 'http://127.0.0.1:3901/mcp?a=b'],
    ['several references in one string', '${A}-${B:-b}-${C}', { A: 'a', C: 'c' }, 'a-b-c'],
    ['an escaped reference as a literal', '$${A}', { A: 'x' }, '${A}'],
    ['call placeholders untouched', '{{call.id}} {{agent.id}}', { call: 'no' }, '{{call.id}} {{agent.id}}'],
    ['a bare dollar untouched', 'costs $5 or $A', {}, 'costs $5 or $A'],
    ['a value that itself looks like a reference, once', '${A}', { A: '${B}', B: 'no' }, '${B}'],
  ])('substitutes %s', (_what, input, env, output) => {
    expect(interpolateEnv(input, env)).toBe(output);
  });

  it('walks objects and arrays and leaves non-strings alone', () => {
    expect(interpolateEnv({ a: ['${A}', 3, true, null], b: { c: '${B:-d}' } }, { A: 'x' })).toEqual({ a: ['x', 3, true, null], b: { c: 'd' } });
  });

  it('names the field of a missing variable', () => {
    expect(() => interpolateEnv({ mcpServers: [{ headers: { 'X-Key': '${ORDERS_KEY}' } }] }, {})).toThrow(
      '/mcpServers/0/headers/X-Key: environment variable ORDERS_KEY is not set',
    );
  });
});

describe('loadAgents: environment interpolation', () => {
  it('fills ${VAR} and ${VAR:-default} at load', async () => {
    const dir = await agentDir({
      'a.yaml': `id: sales
systemPrompt: "You work for \${COMPANY}."
stt: { provider: openai, model: "\${STT_MODEL:-whisper-1}" }
llm: { provider: openai, model: "\${LLM_MODEL}" }
tts: { provider: openai, voice: "\${VOICE:-alloy}" }
`,
    });
    const [agent] = await loadAgents(dir, { COMPANY: 'Acme', LLM_MODEL: 'gpt-4o', VOICE: 'verse' });
    expect(agent?.systemPrompt).toBe('You work for Acme.');
    expect(agent?.stt?.model).toBe('whisper-1');
    expect(agent?.llm?.model).toBe('gpt-4o');
    expect(agent?.tts?.voice).toBe('verse');
  });

  it('refuses a missing variable without default, naming the file and the field', async () => {
    const dir = await agentDir({ 'a.yaml': minimal('sales', 'mcpServers:\n  - url: http://x/mcp\n    headers: { Authorization: "Bearer ${CRM_TOKEN}" }\n') });
    const err = await refusal(loadAgents(dir, {}));
    expect(err.code).toBe(ErrorCodes.AGENT_INVALID);
    expect(err.message).toBe(`${join(dir, 'a.yaml')}: /mcpServers/0/headers/Authorization: environment variable CRM_TOKEN is not set`);
  });

  it('leaves {{call.id}} style placeholders for call time', async () => {
    const dir = await agentDir({ 'a.yaml': minimal('sales', 'mcpServers:\n  - url: "http://crm/mcp?call={{call.id}}"\n    headers: { call_id: "{{call.id}}", from: "{{call.from}}" }\n') });
    const [agent] = await loadAgents(dir, {});
    const [server] = normalizeMcpServers(agent?.mcpServers ?? []);
    expect(server?.url).toBe('http://crm/mcp?call={{call.id}}');
    expect(server?.headers).toEqual({ call_id: '{{call.id}}', from: '{{call.from}}' });
  });
});

describe('loadAgents: refused files', () => {
  // Each case: what is wrong, the file body, then the text after `<path>: ` the error must contain.
  it.each<[string, string, string]>([
    ['an unknown top-level field', minimal('sales', 'colour: blue'), '/: unknown field "colour"'],
    ['an unknown nested field', minimal('sales').replace('{ provider: openai, model: gpt-4o-mini }', '{ provider: openai, model: gpt-4o-mini, temprature: 0.2 }'), '/llm: unknown field "temprature"'],
    ['a provider outside the enum', minimal('sales').replace('llm: { provider: openai', 'llm: { provider: cohere'), '/llm/provider: must be equal to one of the allowed values (openai, anthropic)'],
    ['a phone number that is not E.164', minimal('sales', 'phoneNumbers: ["+15550001234", "555-0100"]'), '/phoneNumbers/1: must match pattern'],
    ['a phone number with a leading zero', minimal('sales', 'phoneNumbers: ["+0123456789"]'), '/phoneNumbers/0: must match pattern'],
    ['a tool name a model API refuses', minimal('sales', 'tools:\n  - { name: "look up", description: d, url: "http://x" }'), '/tools/0/name: must match pattern'],
    ['a duplicate tool name', minimal('sales', 'tools:\n  - { name: lookup, description: d, url: "http://x" }\n  - { name: lookup, description: e, url: "http://y" }'), '/tools/1/name: duplicate tool name "lookup"'],
    ['a missing required field', minimal('sales').replace('systemPrompt: You sell things.\n', ''), '/: missing required field "systemPrompt"'],
    ['a wrong type', minimal('sales', 'maxToolIterations: ten'), '/maxToolIterations: must be integer'],
    ['a value out of range', minimal('sales', 'endpointing: { minSilenceMs: 50 }'), '/endpointing/minSilenceMs: must be >= 100'],
    ['an agent id with spaces', minimal('Sales Desk'), '/id: must match pattern'],
    ['an unknown field in an MCP server entry', minimal('sales', 'mcpServers:\n  - { url: "http://x/mcp", transprot: sse }'), '/mcpServers/0: unknown field "transprot"'],
    ['an MCP transport outside the enum', minimal('sales', 'mcpServers:\n  - { url: "http://x/mcp", transport: websocket }'), '/mcpServers/0/transport: must be equal to one of the allowed values'],
    ['a YAML list instead of a mapping', '- id: sales\n', '/: must be object'],
    ['invalid YAML', 'id: sales\nsystemPrompt: [unclosed\n', 'not valid YAML ('],
  ])('refuses %s', async (_what, body, expected) => {
    const dir = await agentDir({ 'ok.yaml': minimal('other'), 'bad.yaml': body });
    const err = await refusal(loadAgents(dir, {}));
    expect(err.code).toBe(ErrorCodes.AGENT_INVALID);
    expect(err.message.startsWith(`${join(dir, 'bad.yaml')}: `)).toBe(true);
    expect(err.message).toContain(expected);
  });

  it('refuses the same agent id in two files, naming both', async () => {
    const dir = await agentDir({ 'a.yaml': minimal('sales'), 'b.yml': minimal('sales') });
    const err = await refusal(loadAgents(dir, {}));
    expect(err.message).toBe(`${join(dir, 'b.yml')}: /id: agent id "sales" is already defined in a.yaml`);
  });

  it('refuses a number routed to two agents', async () => {
    const dir = await agentDir({
      'a.yaml': minimal('sales', 'phoneNumbers: ["+15550001234"]'),
      'b.yaml': minimal('support', 'phoneNumbers: ["+15550009999", "+15550001234"]'),
    });
    const err = await refusal(loadAgents(dir, {}));
    expect(err.message).toBe(`${join(dir, 'b.yaml')}: /phoneNumbers: +15550001234 is already routed to agent "sales"`);
  });

  it('refuses a directory that cannot be read', async () => {
    const missing = join(tmpdir(), `sb-agents-missing-${process.pid}-${Date.now()}`);
    const err = await refusal(loadAgents(missing, {}));
    expect(err.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(err.message).toBe(`agents directory ${missing} cannot be read (ENOENT)`);
  });
});

describe('loadAgents: files', () => {
  it('reads .yaml and .yml in name order and ignores everything else', async () => {
    const dir = await agentDir({
      'b.yml': minimal('beta'),
      'a.yaml': minimal('alpha'),
      'notes.txt': 'not an agent',
      'c.yaml.bak': 'id: [broken',
    });
    expect((await loadAgents(dir, {})).map((a) => a.id)).toEqual(['alpha', 'beta']);
  });

  it('an empty directory loads no agents', async () => {
    expect(await loadAgents(await agentDir({}), {})).toEqual([]);
  });
});

describe('AgentRegistry', () => {
  it('finds agents by id and by dialled number', async () => {
    const dir = await agentDir({
      'a.yaml': minimal('sales', 'phoneNumbers: ["+15550001234", "+442071234567"]'),
      'b.yaml': minimal('support', 'phoneNumbers: ["+15550009999"]'),
      'c.yaml': minimal('outbound-only'),
    });
    const registry = new AgentRegistry(await loadAgents(dir, {}));
    expect(registry.list().map((a) => a.id)).toEqual(['sales', 'support', 'outbound-only']);
    expect(registry.get('support')?.id).toBe('support');
    expect(registry.get('outbound-only')?.phoneNumbers).toEqual([]);
    expect(registry.get('nobody')).toBeUndefined();
  });

  it.each([
    ['+15550001234', 'sales'],
    ['+442071234567', 'sales'],
    ['+15550009999', 'support'],
    [' +15550009999 ', 'support'],
    ['+15550000000', undefined],
    ['15550001234', undefined],
    ['', undefined],
  ])('routes %j to %s', async (dialled, agentId) => {
    const dir = await agentDir({
      'a.yaml': minimal('sales', 'phoneNumbers: ["+15550001234", "+442071234567"]'),
      'b.yaml': minimal('support', 'phoneNumbers: ["+15550009999"]'),
    });
    const registry = new AgentRegistry(await loadAgents(dir, {}));
    expect(registry.forNumber(dialled)?.id).toBe(agentId);
  });
});
