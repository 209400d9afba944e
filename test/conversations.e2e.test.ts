import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Redis } from 'ioredis';
import { Bus } from '@switchboard/bus';
import { contracts, type CallEnded, type CallSummarized, type ChatReply, type TranscriptAppended } from '@switchboard/contracts';
import { connectRedis } from '@switchboard/runtime';
import { ApiKeyStore } from '@switchboard/session-store';
import {
  findEspeak,
  infraUrls,
  placeTwilioCall,
  startFakeOpenAI,
  startScriptableMcpServer,
  startStack,
  synthesizeSpeech,
  TwilioStreamCaller,
  type FakeOpenAI,
  type ScriptableMcpServer,
  type Stack,
} from '@switchboard/testing';

/**
 * Scripted conversations end to end: the gateway (Twilio Media Streams), the orchestrator, the broker
 * and MCP servers as real processes; the caller is a TwilioStreamCaller speaking espeak speech (so the
 * orchestrator's Silero VAD hears it); the model, STT and TTS are the fake OpenAI server in this
 * process, so each scenario can queue transcripts and inject failures. One agent
 * (test/fixtures/agents/conversations.yaml), one call per scenario.
 */

const FILLER = 'One moment while I check that.';
const FALLBACK = "Sorry, I'm having trouble right now. Could you say that again?";
const HOURS_1 = 'Here is the full list of our opening hours.';
const HOURS_2 = 'Monday to Friday we open at nine in the morning and close at six.';
const HOURS_3 = 'On Saturday we open at ten and close at four in the afternoon.';

const espeak = findEspeak() !== null;
const engine = espeak ? 'espeak' : 'synthetic';

let stack: Stack;
let bus: Bus;
let redis: Redis;
let openai: FakeOpenAI;
let tools: ScriptableMcpServer;
let loyalty: Server;
const transcript: TranscriptAppended[] = [];
const ended: CallEnded[] = [];
const summaries: CallSummarized[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${stack.logs('agent-orchestrator').split('\n').slice(-30).join('\n')}`);
    await sleep(20);
  }
}

const linesOf = (callId: string) => transcript.filter((t) => t.callId === callId);

/** Places a call to the test agent and waits until its greeting has played. */
async function call(): Promise<{ caller: TwilioStreamCaller; callId: string }> {
  const placed = await placeTwilioCall(stack.urls['media-gateway'], { From: '+15557654321', To: '+15550100001' });
  expect(placed.parameters.agentId).toBe('conv-main');
  // Caller speech goes out as fast as the socket takes it (silence stays paced): endpointing counts
  // audio, not wall time, so turns behave the same and the file runs in half the time.
  const caller = await TwilioStreamCaller.connect({ url: placed.streamUrl!, customParameters: placed.parameters, realtime: false });
  await caller.waitForAgentAudio(300, 10_000);
  await caller.waitForSilence(400, 10_000);
  return { caller, callId: placed.parameters.callId! };
}

/** The caller says `text` (the fake STT will hear `text` too). */
async function say(caller: TwilioStreamCaller, text: string): Promise<void> {
  openai.pushTranscripts(text);
  await caller.say(await synthesizeSpeech(text, { engine }));
}

async function hangUp(caller: TwilioStreamCaller, callId: string): Promise<void> {
  await caller.hangup();
  await until(() => ended.some((e) => e.callId === callId), 5000, `end of ${callId}`);
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`e2e infrastructure: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source}); caller speech: ${engine}, VAD: ${espeak ? 'silero' : 'energy'}`);
  openai = await startFakeOpenAI({
    ttsMsPerChar: 25,
    rules: [
      { whenUser: 'Transcript of call', say: 'The caller asked about order ORD-1001 and said goodbye.' },
      { afterTool: 'check_order_status', say: 'Order {{tool.data.order_id}} has {{tool.data.status}}.' },
      { afterTool: 'slow_lookup', say: 'Your appointment is on {{tool.day}}.' },
      { afterTool: 'broken_lookup', say: 'Sorry, I could not look that up right now.' },
      { afterTool: 'lookup_loyalty', say: 'You have {{tool.points}} points.' },
      { afterTool: 'hangup_call', say: '' },
      { whenUser: '/where is my order/i', toolCalls: [{ name: 'check_order_status', arguments: { order_id: 'ORD-1001' } }] },
      { whenUser: 'appointment', toolCalls: [{ name: 'slow_lookup', arguments: {} }] },
      { whenUser: 'invoice', toolCalls: [{ name: 'broken_lookup', arguments: {} }] },
      { whenUser: 'loyalty', toolCalls: [{ name: 'lookup_loyalty', arguments: {} }] },
      { whenUser: 'opening hours', say: `${HOURS_1} ${HOURS_2} ${HOURS_3} On Sunday we are closed all day.` },
      { whenUser: 'just sunday', say: 'We are closed on Sunday.' },
      { whenUser: 'goodbye', say: 'Goodbye and thank you for calling!', toolCalls: [{ name: 'hangup_call', arguments: {} }] },
      { whenUser: 'hello again', say: 'Yes, I am still here.' },
    ],
  });
  tools = await startScriptableMcpServer({
    name: 'tools',
    stateless: true,
    tools: [
      {
        name: 'slow_lookup',
        description: 'Looks up the caller appointment (slow)',
        inputSchema: { type: 'object', properties: {} },
        handler: async (_args, ctx) => {
          await sleep(1200);
          await ctx.progress(1, 2, 'halfway');
          await sleep(1300);
          return { content: [{ type: 'text', text: JSON.stringify({ day: 'Tuesday' }) }] };
        },
      },
      {
        name: 'broken_lookup',
        description: 'Looks up invoices (broken)',
        inputSchema: { type: 'object', properties: {} },
        handler: () => ({ isError: true, content: [{ type: 'text', text: 'invoice database is down' }] }),
      },
    ],
  });
  loyalty = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"points":1200}'));
  });
  await new Promise<void>((r) => loyalty.listen(0, '127.0.0.1', r));
  stack = await startStack({
    natsUrl: infra.natsUrl,
    redisUrl: infra.redisUrl,
    openaiBaseUrl: openai.url,
    agentsDir: 'test/fixtures/agents',
    services: ['orders-mcp-server', 'mcp-broker', 'agent-orchestrator', 'media-gateway'],
    env: {
      SLOW_MCP_URL: tools.url,
      LOYALTY_URL: `http://127.0.0.1:${(loyalty.address() as AddressInfo).port}/loyalty`,
      WEBHOOK_ALLOW_PRIVATE: 'true',
      VAD: espeak ? 'silero' : 'energy',
    },
  });
  redis = await connectRedis(infra.redisUrl);
  // Without the tool server nobody bootstraps the key; the orchestrator reads the same store.
  await new ApiKeyStore(redis).put(stack.apiKey, 'default');
  bus = await Bus.connect({ url: infra.natsUrl, name: 'e2e-conversations', log: pino({ level: 'silent' }) });
  bus.subscribe(contracts.transcriptAppended, (t) => void transcript.push(t));
  bus.subscribe(contracts.callEnded, (e) => void ended.push(e));
  bus.subscribe(contracts.callSummarized, (s) => void summaries.push(s));
});

afterAll(async () => {
  if (process.env.E2E_SHOW_LOGS) console.log(stack?.logs('agent-orchestrator'));
  await bus?.close();
  redis?.disconnect();
  const codes = await stack?.stop();
  await tools?.close();
  await openai?.close();
  loyalty?.closeAllConnections();
  await new Promise((r) => loyalty?.close(r));
  if (codes) for (const [name, code] of Object.entries(codes)) expect(code, `${name} exit code`).toBe(0);
});

describe('conversations through the Twilio protocol', () => {
  it('greets, answers with an MCP tool, hangs up when the model asks and publishes a summary', async () => {
    const { caller, callId } = await call();
    expect(linesOf(callId)[0]).toMatchObject({ role: 'agent', text: 'Hello +15557654321.' });

    await say(caller, 'Hello, where is my order?');
    await until(() => linesOf(callId).some((l) => l.role === 'agent' && l.text.includes('ORD-1001')), 15_000, 'the order answer');
    await caller.waitForSilence(400, 10_000);

    await say(caller, 'That is all, goodbye');
    expect((await caller.waitForClose(15_000)).code).toBe(1000);
    await until(() => ended.some((e) => e.callId === callId) && linesOf(callId).some((l) => l.tool?.name === 'hangup_call'), 5000, 'the end and the hang-up line');
    expect(ended.find((e) => e.callId === callId)!.reason).toBe('agent-hangup');
    expect(linesOf(callId).map((l) => [l.role, l.tool?.name ?? l.text])).toEqual([
      ['agent', 'Hello +15557654321.'],
      ['caller', 'Hello, where is my order?'],
      ['tool', 'check_order_status'],
      ['agent', 'Order ORD-1001 has shipped.'],
      ['caller', 'That is all, goodbye'],
      ['agent', 'Goodbye and thank you for calling!'],
      ['tool', 'hangup_call'],
    ]);
    const order = linesOf(callId).find((l) => l.tool?.name === 'check_order_status')!.tool!;
    expect([order.server, order.isError]).toEqual(['orders', false]);
    // The prompt's {{function.check_order_status(order_id)}} reached the model as a plain mention.
    const system = (openai.requests.chat as Array<{ messages: Array<{ role: string; content: string }> }>).findLast((r) => r.messages[0]!.content.includes('Acme Store'))!.messages[0]!.content;
    expect(system).toContain('For orders use check_order_status(order_id).');
    // Five MCP tools and maxTools 3: each turn offers the broker's selection and discover_tools.
    const orderRequest = (openai.requests.chat as Array<{ messages: Array<{ content: string }>; tools?: Array<{ function: { name: string } }> }>).find((r) => r.messages.at(-1)!.content === 'Hello, where is my order?')!;
    const offered = orderRequest.tools!.map((t) => t.function.name);
    expect(offered).toEqual(expect.arrayContaining(['check_order_status', 'discover_tools', 'lookup_loyalty', 'hangup_call']));
    expect(offered).not.toContain('broken_lookup');

    await until(() => summaries.some((s) => s.callId === callId), 10_000, 'the summary');
    expect(summaries.find((s) => s.callId === callId)).toMatchObject({ agentId: 'conv-main', summary: 'The caller asked about order ORD-1001 and said goodbye.' });

    const res = await fetch(`${stack.urls['agent-orchestrator']}/v1/calls/${callId}`, { headers: { authorization: `Bearer ${stack.apiKey}` } });
    const body = (await res.json()) as { state: string; summary: string; toolCalls: Array<{ name: string }>; metrics: { turns: Array<Record<string, number>>; percentiles: Record<string, { p50: number; p95: number }> } };
    expect([res.status, body.state, body.summary]).toEqual([200, 'ended', 'The caller asked about order ORD-1001 and said goodbye.']);
    expect(body.toolCalls.map((t) => t.name)).toEqual(['check_order_status', 'hangup_call']);
    const first = body.metrics.turns[0]!;
    for (const f of ['endpoint_ms', 'stt_ms', 'llm_ttft_ms', 'tts_ttfb_ms', 'tool_ms', 'agent_response_ms']) expect(first[f], f).toBeGreaterThanOrEqual(0);
    expect(first.agent_response_ms).toBeGreaterThan(first.endpoint_ms!);
    expect(body.metrics.percentiles.agent_response_ms!.p95).toBeGreaterThan(0);
    expect(caller.violations).toEqual([]);
  });

  it('says a filler line while a slow tool runs, then the answer', async () => {
    const { caller, callId } = await call();
    await say(caller, 'I need my appointment details please');
    await until(() => linesOf(callId).some((l) => l.role === 'agent' && l.text.includes('Tuesday')), 15_000, 'the appointment answer');
    expect(linesOf(callId).map((l) => [l.role, l.tool?.name ?? l.text])).toEqual([
      ['agent', 'Hello +15557654321.'],
      ['caller', 'I need my appointment details please'],
      ['agent', FILLER],
      ['tool', 'slow_lookup'],
      ['agent', 'Your appointment is on Tuesday.'],
    ]);
    const tool = linesOf(callId).find((l) => l.tool)!.tool!;
    expect(tool.latencyMs).toBeGreaterThanOrEqual(2400);
    // The caller heard the filler while the tool ran: agent audio between the question and the answer.
    await caller.waitForSilence(300, 10_000);
    expect(caller.segments.length).toBeGreaterThanOrEqual(3);
    await hangUp(caller, callId);
  });

  it('returns a failing tool to the model as the fallback envelope and apologises', async () => {
    const { caller, callId } = await call();
    await say(caller, 'Can you resend my last invoice');
    await until(() => linesOf(callId).some((l) => l.role === 'agent' && l.text.startsWith('Sorry, I could not')), 15_000, 'the apology');
    const tool = linesOf(callId).find((l) => l.tool)!.tool!;
    expect([tool.name, tool.isError]).toEqual(['broken_lookup', true]);
    expect(JSON.parse(tool.result)).toMatchObject({ fallback: true });
    const followUp = openai.requests.chat.findLast((r) => JSON.stringify(r).includes('broken_lookup') && JSON.stringify(r).includes('"role":"tool"')) as { messages: Array<{ role: string; content: string }> };
    expect(JSON.parse(followUp.messages.at(-1)!.content)).toMatchObject({ fallback: true });
    await hangUp(caller, callId);
  });

  it('stops talking when the caller barges in, clears the gateway and keeps only what was heard', async () => {
    const { caller, callId } = await call();
    const marksBefore = caller.marksEchoed.length;
    await say(caller, 'What are your opening hours');
    // The first sentence of the answer has played in full; the caller talks over the second.
    await caller.waitFor((c) => c.marksEchoed.length > marksBefore, 15_000, 'the first answer sentence');
    await say(caller, 'Stop, just Sunday please');
    await until(() => linesOf(callId).some((l) => l.role === 'agent' && l.text === 'We are closed on Sunday.'), 15_000, 'the answer after the barge-in');
    expect(caller.clears).toBeGreaterThanOrEqual(1);
    expect(caller.segments.some((s) => s.endedBy === 'clear' && s.droppedSamples > 0)).toBe(true);
    const lines = linesOf(callId).map((l) => [l.role, l.text, l.interrupted ?? false]);
    expect(lines).toEqual([
      ['agent', 'Hello +15557654321.', false],
      ['caller', 'What are your opening hours', false],
      ['agent', HOURS_1, true],
      ['caller', 'Stop, just Sunday please', false],
      ['agent', 'We are closed on Sunday.', false],
    ]);
    // The model's history holds what the caller heard, not the whole answer.
    const last = openai.requests.chat.findLast((r) => JSON.stringify(r).includes('Stop, just Sunday')) as { messages: Array<{ role: string; content: string }> };
    expect(last.messages.filter((m) => m.role === 'assistant').map((m) => m.content)).toEqual(['Hello +15557654321.', HOURS_1]);
    await hangUp(caller, callId);
  });

  it('says a fallback line when the model fails mid-call and carries on', async () => {
    const { caller, callId } = await call();
    openai.failNext('chat', { status: 500 }, 2);
    await say(caller, 'Hello again, are you there');
    await until(() => linesOf(callId).some((l) => l.role === 'agent' && l.text === FALLBACK), 15_000, 'the fallback line');
    await caller.waitForSilence(400, 10_000);
    await say(caller, 'Hello again, are you there');
    await until(() => linesOf(callId).some((l) => l.role === 'agent' && l.text === 'Yes, I am still here.'), 15_000, 'the answer after recovery');
    expect(ended.some((e) => e.callId === callId)).toBe(false);
    await hangUp(caller, callId);
  });
});

describe('the text chat channel', () => {
  const chat = async (sessionId: string, text: string): Promise<ChatReply> => {
    const res = await fetch(`${stack.urls['agent-orchestrator']}/v1/agents/conv-main/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': stack.apiKey },
      body: JSON.stringify({ sessionId, text }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as ChatReply;
  };

  it('answers with the same tools as a call: MCP, webhook, and a simulated hang-up', async () => {
    const sessionId = `e2e${Date.now()}`;
    const first = await chat(sessionId, 'Hello, where is my order?');
    expect(first).toMatchObject({ reply: 'Order ORD-1001 has shipped.', greeting: 'Hello chat.' });
    expect(first.toolCalls.map((t) => [t.server, t.name, t.isError])).toEqual([['orders', 'check_order_status', false]]);

    const second = await chat(sessionId, 'How many loyalty points do I have');
    expect(second.reply).toBe('You have 1200 points.');
    expect(second.toolCalls.map((t) => [t.server, t.name, t.result])).toEqual([['webhook', 'lookup_loyalty', '{"points":1200}']]);
    expect(second.greeting).toBeUndefined();

    const last = await chat(sessionId, 'That is all, goodbye');
    expect(last).toMatchObject({ reply: 'Goodbye and thank you for calling!', ended: true });
    expect(last.toolCalls.map((t) => t.name)).toEqual(['hangup_call']);

    const after = await fetch(`${stack.urls['agent-orchestrator']}/v1/agents/conv-main/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': stack.apiKey },
      body: JSON.stringify({ sessionId, text: 'hello?' }),
    });
    expect(after.status).toBe(400);
  });

  it('refuses a request without an API key', async () => {
    const res = await fetch(`${stack.urls['agent-orchestrator']}/v1/agents/conv-main/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sessionId: 's1', text: 'hi' }) });
    expect(res.status).toBe(401);
  });
});
