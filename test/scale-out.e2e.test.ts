import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { contracts, type CallToolReply, type HealthReply, type SwitchboardError, type TranscriptAppended } from '@switchboard/contracts';
import { infraUrls, placeTwilioCall, startScriptableMcpServer, startStack, synthesizeSpeech, TwilioStreamCaller, type ScriptableMcpServer, type Stack } from '@switchboard/testing';

/** Polls a condition, bounded in time. */
async function until(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * A round-robin HTTP proxy: what a Kubernetes Service or load balancer does in front of the tool
 * server's replicas (the tool server is reached over MCP streamable HTTP, not over the bus).
 */
async function roundRobin(backends: string[]): Promise<{ url: string; served: Map<string, number>; close(): Promise<void> }> {
  let next = 0;
  const served = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', backends[next++ % backends.length]!);
    const up = httpRequest(target, { method: req.method, headers: { ...req.headers, host: target.host } }, (r) => {
      if (req.method === 'POST' && r.statusCode && r.statusCode < 300) served.set(target.origin, (served.get(target.origin) ?? 0) + 1);
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => (res.headersSent ? res.destroy() : res.writeHead(502).end()));
    req.pipe(up);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    served,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Failures where the request may never have reached a broker or its answer was lost. */
const RESEND = new Set(['BUS_TIMEOUT', 'BUS_NO_RESPONDERS', 'MCP_SERVER_UNAVAILABLE']);
/** Concurrent phone calls. */
const CALLS = 6;

/**
 * Scale-out: two instances each of the broker, orchestrator and tool server on one NATS and Redis.
 * Calls and tool invocations spread over the instances (NATS queue groups; an HTTP balancer for the
 * tool server), and a broker stopped in the middle of traffic drains: what it took finishes, what it
 * had not taken goes to the other instance; a safe tool is retried, an unsafe one never runs twice.
 */
describe('scale-out: two instances of every stateless service', () => {
  let stack: Stack;
  let bus: Bus;
  let ledger: ScriptableMcpServer;
  let proxy: Awaited<ReturnType<typeof roundRobin>>;
  const toolServers: string[] = [];
  const transcript: TranscriptAppended[] = [];
  /** Charges that reached the ledger, by idempotency key. */
  const charged = new Map<string, number>();

  beforeAll(async () => {
    const infra = await infraUrls();
    console.log(`e2e infrastructure: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
    ledger = await startScriptableMcpServer({
      name: 'ledger',
      stateless: true,
      // Long enough that a broker has several calls in flight when it is stopped.
      callLatencyMs: 120,
      tools: [
        { name: 'read_balance', annotations: { readOnlyHint: true, idempotentHint: true }, inputSchema: { type: 'object', properties: { account: { type: 'string' } }, required: ['account'] }, handler: (a) => ({ content: [{ type: 'text', text: `balance of ${String(a.account)}: 100` }] }) },
        {
          name: 'charge_card',
          annotations: { readOnlyHint: false, idempotentHint: false, destructiveHint: false },
          inputSchema: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
          handler: (a) => {
            const key = String(a.key);
            charged.set(key, (charged.get(key) ?? 0) + 1);
            return { content: [{ type: 'text', text: `charged ${key}` }] };
          },
        },
      ],
    });
    proxy = await roundRobin(toolServers);
    // The demo script, with its two caller transcripts once per call: every question is heard before any goodbye.
    const demo = JSON.parse(readFileSync('config/demo/model-script.json', 'utf8')) as { transcripts: string[] };
    const script = join(mkdtempSync(join(tmpdir(), 'scale-out-')), 'model-script.json');
    writeFileSync(script, JSON.stringify({ ...demo, transcripts: [...Array<string>(CALLS).fill(demo.transcripts[0]!), ...Array<string>(CALLS).fill(demo.transcripts[1]!)] }));
    stack = await startStack({
      natsUrl: infra.natsUrl,
      redisUrl: infra.redisUrl,
      fakeOpenAIScript: script,
      services: ['orders-mcp-server', 'mcp-tool-server', 'mcp-broker', 'agent-orchestrator', 'media-gateway'],
      instances: { 'mcp-broker': 2, 'agent-orchestrator': 2, 'mcp-tool-server': 2 },
      env: { VAD: 'energy', SWITCHBOARD_MCP_URL: `${proxy.url}/mcp`, DRAIN_TIMEOUT_MS: '8000' },
    });
    for (const p of stack.processes) if (p.service === 'mcp-tool-server') toolServers.push(p.url);
    bus = await Bus.connect({ url: infra.natsUrl, name: 'e2e-scale-out', log: pino({ level: 'silent' }) });
    bus.subscribe(contracts.transcriptAppended, (t) => void transcript.push(t));
  }, 60_000);

  afterAll(async () => {
    await bus?.close();
    const codes = await stack?.stop();
    await proxy?.close();
    await ledger?.close();
    if (codes) for (const [name, code] of Object.entries(codes)) expect(code, `${name} exit code`).toBe(0);
  });

  const health = (service: string) => bus.requestAll(contracts.health, {}, { param: service, maxWaitMs: 500 }) as Promise<HealthReply[]>;

  it('spreads concurrent calls over both orchestrators and their tool calls over both brokers and tool servers', async () => {
    expect(stack.processes.filter((p) => p.service === 'mcp-broker')).toHaveLength(2);
    const before = await health('mcp-broker');
    expect(before).toHaveLength(2);
    const callsBefore = new Map(before.map((h) => [h.instanceId, Number((h.details as { calls?: number }).calls ?? 0)]));

    const N = CALLS;
    const callers: TwilioStreamCaller[] = [];
    const extras: TwilioStreamCaller[] = [];
    const ids: string[] = [];
    try {
      for (let i = 0; i < N; i++) {
        const placed = await placeTwilioCall(stack.urls['media-gateway'], { From: `+1555765432${i}`, To: '+15550001234' });
        expect(placed.status).toBe(200);
        ids.push(placed.parameters.callId!);
        callers.push(await TwilioStreamCaller.connect({ url: placed.streamUrl!, customParameters: placed.parameters }));
      }
      await Promise.all(callers.map((c) => c.waitForAgentAudio(500, 20_000)));
      // Every call is claimed by exactly one orchestrator, and both have some. NATS picks a queue-group
      // member at random, so six calls all land on one instance 1 time in 32: then a few more calls are
      // placed (and hung up) until both have one, bounded.
      const active = async () => (await health('agent-orchestrator')).map((h) => Number((h.details as { activeCalls?: number }).activeCalls ?? 0));
      let perOrchestrator = await active();
      expect(perOrchestrator).toHaveLength(2);
      console.log(`active calls per orchestrator: ${perOrchestrator.join(', ')}`);
      expect(perOrchestrator.reduce((a, b) => a + b, 0)).toBe(N);
      for (let extra = 0; extra < 8 && perOrchestrator.some((a) => a === 0); extra++) {
        const placed = await placeTwilioCall(stack.urls['media-gateway'], { From: `+1555765439${extra}`, To: '+15550001234' });
        const c = await TwilioStreamCaller.connect({ url: placed.streamUrl!, customParameters: placed.parameters });
        extras.push(c);
        await c.waitForAgentAudio(500, 20_000);
        perOrchestrator = await active();
        console.log(`after ${extra + 1} more call(s): ${perOrchestrator.join(', ')}`);
      }
      for (const a of perOrchestrator) expect(a).toBeGreaterThan(0);
      for (const c of extras) await c.hangup();

      const question = await synthesizeSpeech('Hi, I would like to know where my order is, please.', { engine: 'synthetic' });
      const bye = await synthesizeSpeech('That is all, thank you, goodbye!', { engine: 'synthetic' });
      await Promise.all(callers.map((c) => c.waitForSilence(700, 20_000)));
      // The fake model's speech-to-text hands out its transcripts in order: every question is heard
      // before any goodbye is said, so each call gets one of each.
      const heard = (i: number, n: number) => () => transcript.filter((t) => t.callId === ids[i] && t.role === 'caller').length >= n;
      await Promise.all(callers.map(async (c, i) => {
        await c.say(question);
        await c.waitFor(heard(i, 1), 20_000, `caller ${i} heard`);
      }));
      await Promise.all(callers.map((c, i) => c.waitFor(() => transcript.some((t) => t.callId === ids[i] && t.role === 'agent' && /tracking number/.test(t.text)), 30_000, 'answer about the order')));
      await Promise.all(callers.map((c) => c.waitForSilence(700, 30_000)));
      await Promise.all(callers.map((c) => c.say(bye)));
      for (const c of callers) expect((await c.waitForClose(30_000)).code).toBe(1000);
    } finally {
      for (const c of [...callers, ...extras]) if (!(await Promise.race([c.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 10))]))) await c.hangup();
    }
    await until(() => ids.every((id) => transcript.some((t) => t.callId === id && t.tool?.name === 'hangup_call')), 10_000, 'every hang-up line');
    for (const id of ids) {
      const order = transcript.find((t) => t.callId === id && t.tool?.name === 'check_order_status');
      expect(order?.tool?.isError, `order lookup of ${id}`).toBe(false);
    }

    // check_order_status and hangup_call of six calls (12 invocations) landed on both brokers.
    const after = await health('mcp-broker');
    const perBroker = after.map((h) => Number((h.details as { calls?: number }).calls ?? 0) - (callsBefore.get(h.instanceId) ?? 0));
    console.log(`tool calls per broker: ${perBroker.join(', ')}`);
    expect(perBroker.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * N);
    for (const n of perBroker) expect(n).toBeGreaterThan(0);
    // hangup_call reached both tool servers through the balancer.
    console.log(`tool-server POSTs per instance: ${JSON.stringify(Object.fromEntries(proxy.served))}`);
    for (const url of toolServers) expect(proxy.served.get(url) ?? 0).toBeGreaterThan(0);
  }, 90_000);

  it('stopping one broker mid-traffic loses no safe tool call and runs no unsafe call twice', async () => {
    const server = { name: 'ledger', transport: 'streamable-http' as const, url: ledger.url, headers: {} };
    const context = { callId: `call_scale_${randomUUID().slice(0, 8)}`, agentId: 'demo', accountId: 'default' };
    const TOTAL = 300;
    const CONCURRENCY = 20;
    type Outcome = { safe: boolean; key: string; ok: boolean; attempts: number; code?: string };
    const outcomes: Outcome[] = [];
    let issued = 0;

    /** One invocation: a safe tool is sent again on a lost request (what the orchestrator's tool path does), an unsafe one never. */
    const invoke = async (i: number): Promise<Outcome> => {
      const safe = i % 2 === 0;
      const key = `k${i}`;
      const invocationId = randomUUID();
      for (let attempt = 1; ; attempt++) {
        try {
          const reply: CallToolReply = await bus.request(contracts.callTool, { context, server, tool: safe ? 'read_balance' : 'charge_card', arguments: safe ? { account: key } : { key }, invocationId, timeoutMs: 5000 }, { timeoutMs: 7000 });
          return { safe, key, ok: !reply.isError, attempts: attempt, ...(reply.code ? { code: reply.code } : {}) };
        } catch (err) {
          const code = (err as SwitchboardError).code;
          if (safe && attempt < 3 && RESEND.has(code)) continue;
          return { safe, key, ok: false, attempts: attempt, code };
        }
      }
    };
    const worker = async () => {
      while (issued < TOTAL) outcomes.push(await invoke(issued++));
    };

    // Meanwhile, text-chat turns through both orchestrators: their check_order_status (read-only) goes
    // through the orchestrator's own tool path, which sends a lost safe request again.
    type ChatOutcome = { orchestrator: string; isError: boolean; result: string; at: number };
    let stoppedAt = Infinity;
    const chats: ChatOutcome[] = [];
    let directDone = false;
    const chatter = async (url: string) => {
      for (let turn = 0; turn < 150 && !directDone; turn++) {
        const res = await fetch(`${url}/v1/agents/demo/chat`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-api-key': stack.apiKey },
          body: JSON.stringify({ sessionId: `scale_${randomUUID().slice(0, 8)}`, text: 'Where is my order ORD-1001?' }),
          signal: AbortSignal.timeout(15_000),
        });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { toolCalls: Array<{ name: string; isError: boolean; result: string }> };
        const lookup = body.toolCalls.find((t) => t.name === 'check_order_status');
        chats.push({ orchestrator: url, isError: lookup?.isError ?? true, result: lookup?.result ?? 'no lookup', at: Date.now() });
      }
    };
    const chatters = stack.processes.filter((p) => p.service === 'agent-orchestrator').map((p) => chatter(p.url));

    const victim = stack.processes.find((p) => p.name === 'mcp-broker')!;
    const survivor = stack.processes.find((p) => p.name === 'mcp-broker#2')!;
    const workers = Array.from({ length: CONCURRENCY }, worker);
    // Stop one broker once a third of the traffic has been sent, with its share of requests in flight.
    await until(() => issued >= TOTAL / 3, 30_000, 'a third of the traffic');
    const snapshot = await health('mcp-broker');
    const victimExited = once(victim.child, 'exit') as Promise<[number | null]>;
    victim.child.kill('SIGTERM');
    stoppedAt = Date.now();
    const victimHealth = snapshot.find((h) => h.instanceId.endsWith(`-${victim.child.pid}`));
    const inflightAtStop = Number((victimHealth?.details as { inflight?: number } | undefined)?.inflight ?? 0);
    console.log(`in flight on the stopped broker: ${inflightAtStop} (of ${snapshot.map((h) => (h.details as { inflight?: number }).inflight).join(', ')})`);
    await Promise.all(workers);
    directDone = true;
    await Promise.all(chatters);
    const [code] = await victimExited;
    expect(code, 'stopped broker exit code').toBe(0);
    expect(survivor.child.exitCode).toBeNull();

    expect(outcomes).toHaveLength(TOTAL);
    const failed = outcomes.filter((o) => !o.ok);
    console.log(`outcomes: ${TOTAL - failed.length} ok, ${failed.length} failed ${JSON.stringify(failed.slice(0, 5))}; resent ${outcomes.filter((o) => o.attempts > 1).length}`);
    // Every safe call eventually succeeded.
    expect(outcomes.filter((o) => o.safe && !o.ok)).toEqual([]);
    // No unsafe call ran twice, and every successful one ran exactly once.
    for (const [key, n] of charged) expect(n, `charges of ${key}`).toBe(1);
    const chargedOk = outcomes.filter((o) => !o.safe && o.ok);
    for (const o of chargedOk) expect(charged.get(o.key), `charge ${o.key}`).toBe(1);
    // The stopping broker drained: what it had taken completed instead of being dropped, so not even
    // an unsafe call failed (a dropped request would have timed out with BUS_TIMEOUT).
    expect(inflightAtStop).toBeGreaterThan(0);
    expect(failed).toEqual([]);
    expect(charged.size).toBe(TOTAL / 2);
    // Every order lookup of the chat turns, on both orchestrators, succeeded across the stop.
    console.log(`chat turns: ${chats.length} (${chats.filter((c) => c.at > stoppedAt).length} after the stop), failed lookups: ${JSON.stringify(chats.filter((c) => c.isError).slice(0, 3))}`);
    expect(new Set(chats.map((c) => c.orchestrator)).size).toBe(2);
    expect(chats.filter((c) => c.at > stoppedAt).length, 'chat turns answered after the stop').toBeGreaterThan(0);
    expect(chats.filter((c) => c.isError)).toEqual([]);
    // After the stop, one broker answers.
    expect(await health('mcp-broker')).toHaveLength(1);
  }, 60_000);
});
