import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Bus } from '@switchboard/bus';
import { contracts, ErrorCodes, SwitchboardError, type ToolDescriptor } from '@switchboard/contracts';
import { validateAgentDefinition } from '@switchboard/agents';
import { createLogger } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { SAFE_TOOL_ATTEMPTS, ToolSet } from '../src/conversation/tool-set.ts';

const log = createLogger('tool-retry-test', 'silent');
let bus: Bus;
let broker: Bus;

/** The tools of the fake broker: one read-only, one idempotent, one that must never run twice. */
const TOOLS: ToolDescriptor[] = [
  { name: 'lookup', originalName: 'lookup', server: 'shop', description: 'read', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
  { name: 'set_address', originalName: 'set_address', server: 'shop', description: 'idempotent', inputSchema: { type: 'object' }, annotations: { readOnlyHint: false, idempotentHint: true, destructiveHint: false } },
  { name: 'charge', originalName: 'charge', server: 'shop', description: 'unsafe', inputSchema: { type: 'object' }, annotations: { readOnlyHint: false, idempotentHint: false } },
];
/** call-tool requests the fake broker received, by invocation id. */
const seen = new Map<string, number>();
/** How many times the next requests of an invocation fail before one succeeds. */
let failFirst = 1;
let failWith: string = ErrorCodes.MCP_SERVER_UNAVAILABLE;

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`tool-retry.int.test: NATS ${infra.natsUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'tool-retry-test', log });
  // A broker instance that loses the first request(s) of each invocation, as a stopping one would.
  broker = await Bus.connect({ url: infra.natsUrl, name: 'tool-retry-fake-broker', log });
  broker.handle(contracts.listTools, (req) => ({ tools: req.context.callId.startsWith('call_retry_') ? TOOLS : [], failed: [], pending: [] }));
  broker.handle(contracts.callTool, (req) => {
    if (!req.context.callId.startsWith('call_retry_')) throw new SwitchboardError(ErrorCodes.MCP_SERVER_NOT_FOUND, 'not this test');
    const n = (seen.get(req.invocationId!) ?? 0) + 1;
    seen.set(req.invocationId!, n);
    if (n <= failFirst) throw new SwitchboardError(failWith as (typeof ErrorCodes)[keyof typeof ErrorCodes], 'broker instance went away');
    return { text: `ran ${req.tool}`, isError: false, latencyMs: 1 };
  });
});

afterAll(async () => {
  await broker?.drain(1000);
  await bus?.drain(1000);
});

async function toolSet(): Promise<ToolSet> {
  const agent = validateAgentDefinition({ id: 'retry', systemPrompt: 'Test.', stt: { provider: 'openai' }, llm: { provider: 'openai' }, tts: { provider: 'openai' }, mcpServers: [{ name: 'shop', transport: 'streamable-http', url: 'http://127.0.0.1:9/mcp' }] }, 'test', {});
  const set = new ToolSet({
    bus,
    log,
    agent,
    context: { callId: `call_retry_${randomUUID().slice(0, 8)}`, agentId: 'retry', accountId: 'default' },
    discoveryBudgetMs: 500,
    fillerAfterMs: 1000,
    webhook: { timeoutMs: 1000, allowPrivate: true },
    control: { hangup: () => Promise.resolve('Call ended'), transfer: () => Promise.resolve('Transferred') },
  });
  await set.discover();
  return set;
}

describe('ToolSet: a safe MCP tool is sent again when its broker request is lost, an unsafe one never', () => {
  it.each([
    ['lookup', 'read-only', ErrorCodes.MCP_SERVER_UNAVAILABLE, 1, 2, false],
    ['lookup', 'read-only', ErrorCodes.BUS_TIMEOUT, 2, 3, false],
    ['set_address', 'idempotent, not destructive', ErrorCodes.BUS_NO_RESPONDERS, 1, 2, false],
    ['lookup', 'read-only (gives up after the attempts)', ErrorCodes.MCP_SERVER_UNAVAILABLE, SAFE_TOOL_ATTEMPTS, SAFE_TOOL_ATTEMPTS, true],
    ['charge', 'not idempotent', ErrorCodes.MCP_SERVER_UNAVAILABLE, 1, 1, true],
    ['lookup', 'read-only, a failure that is not a lost request', ErrorCodes.TOOL_FAILED, 1, 1, true],
  ])('%s (%s) failing with %s %i time(s): %i request(s), error %s', async (tool, _why, code, fails, requests, isError) => {
    failFirst = fails;
    failWith = code;
    const set = await toolSet();
    expect(set.get(tool)?.safeToRetry).toBe(tool !== 'charge');
    const invocationId = randomUUID();
    const outcome = await set.execute({ id: 'tc1', type: 'function', function: { name: tool, arguments: '{}' } }, invocationId);
    expect(seen.get(invocationId)).toBe(requests);
    expect(outcome.isError).toBe(isError);
    if (!isError) expect(outcome.text).toBe(`ran ${tool}`);
    set.close();
  });
});
