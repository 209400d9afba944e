import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { contracts, type CallEnded, type TranscriptAppended } from '@switchboard/contracts';
import { infraUrls, placeTwilioCall, startStack, synthesizeSpeech, TwilioStreamCaller, type Stack } from '@switchboard/testing';

/** Polls a condition after the call has closed (the caller's own waits stop at close). */
async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The walking skeleton: one phone call through all five services as real processes, over real NATS,
 * Redis, MCP streamable HTTP and the Twilio Media Streams protocol, with the fake OpenAI-compatible
 * provider scripted by config/demo/model-script.json.
 */
describe('walking skeleton: one real call through every service', () => {
  let stack: Stack;
  let bus: Bus;
  const transcript: TranscriptAppended[] = [];
  const ended: CallEnded[] = [];

  beforeAll(async () => {
    const infra = await infraUrls();
    console.log(`e2e infrastructure: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
    // The caller's synthetic speech is a voiced buzz that Silero rightly does not take for speech: the
    // skeleton runs the energy VAD (test/conversations.e2e.test.ts covers Silero with espeak speech).
    stack = await startStack({ natsUrl: infra.natsUrl, redisUrl: infra.redisUrl, fakeOpenAIScript: 'config/demo/model-script.json', env: { VAD: 'energy' } });
    bus = await Bus.connect({ url: infra.natsUrl, name: 'e2e-observer', log: pino({ level: 'silent' }) });
    bus.subscribe(contracts.transcriptAppended, (t) => void transcript.push(t));
    bus.subscribe(contracts.callEnded, (e) => void ended.push(e));
  });

  afterAll(async () => {
    await bus?.close();
    const codes = await stack?.stop();
    // SIGTERM drains every service and exits 0.
    if (codes) for (const [name, code] of Object.entries(codes)) expect(code, `${name} exit code`).toBe(0);
  });

  it('greets, answers an order question through the orders MCP server, and hangs up via the tool server', async () => {
    const placed = await placeTwilioCall(stack.urls['media-gateway'], { From: '+15557654321', To: '+15550001234' });
    expect(placed.status).toBe(200);
    expect(placed.twiml).toContain('<Connect><Stream');
    expect(placed.streamUrl).toBe(`${stack.urls['media-gateway'].replace('http', 'ws')}/twilio/stream`);
    const callId = placed.parameters.callId!;
    expect(callId).toMatch(/^call_/);
    expect(placed.parameters.agentId).toBe('demo');

    const caller = await TwilioStreamCaller.connect({ url: placed.streamUrl!, customParameters: placed.parameters });
    try {
      // 1. The greeting arrives as Twilio media frames followed by a mark that we echo.
      await caller.waitForAgentAudio(1000, 15_000);
      await caller.waitForSilence(700, 20_000);
      expect(caller.marksEchoed.length).toBeGreaterThanOrEqual(1);

      // 2. The caller asks about an order: STT → LLM → check_order_status on the orders MCP server → LLM → TTS.
      await caller.say(await synthesizeSpeech('Hi, I would like to know where my order is, please.', { engine: 'synthetic' }));
      await caller.waitFor(() => transcript.some((t) => t.callId === callId && t.role === 'agent' && /tracking number/.test(t.text)), 30_000, 'answer about the order');
      await caller.waitForSilence(700, 30_000);

      // 3. The caller says goodbye: the model calls hangup_call on the tool server, which ends the stream.
      await caller.say(await synthesizeSpeech('That is all, thank you, goodbye!', { engine: 'synthetic' }));
      const closed = await caller.waitForClose(30_000);
      expect(closed.code).toBe(1000);
    } finally {
      if (!(await Promise.race([caller.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), 10))]))) await caller.hangup();
    }

    await until(() => ended.some((e) => e.callId === callId), 5000, 'call ended event');
    // The gateway ends the call before it answers the hang-up command, so the tool's line follows the end event.
    await until(() => transcript.some((t) => t.callId === callId && t.tool?.name === 'hangup_call'), 5000, 'hangup_call transcript line');
    const end = ended.find((e) => e.callId === callId)!;
    expect(end.reason).toBe('agent-hangup');
    expect(end.agentId).toBe('demo');

    const lines = transcript.filter((t) => t.callId === callId);
    expect(lines.map((l) => l.role)).toEqual(['agent', 'caller', 'tool', 'agent', 'caller', 'agent', 'tool']);
    const order = lines.find((l) => l.tool?.name === 'check_order_status')!;
    expect(order.tool!.server).toBe('orders');
    expect(order.tool!.isError).toBe(false);
    expect(JSON.parse(order.tool!.result)).toMatchObject({ success: true, data: { order_id: 'ORD-1001' } });
    const hangup = lines.find((l) => l.tool?.name === 'hangup_call')!;
    expect(hangup.tool!.server).toBe('switchboard');
    expect(hangup.tool!.result).toBe('Call ended');
    expect(lines[3]!.text).toContain('ORD-1001');

    // The caller heard the agent (greeting, answer, goodbye) and the stream stayed protocol-clean.
    expect(caller.heardMs()).toBeGreaterThan(3000);
    expect(caller.violations).toEqual([]);

    // The session is in Redis, readable over the orchestrator's HTTP API.
    const res = await fetch(`${stack.urls['agent-orchestrator']}/v1/calls/${callId}`, { headers: { 'x-api-key': stack.apiKey } });
    expect(res.status).toBe(200);
    const call = (await res.json()) as { state: string; endReason: string; transcript: unknown[]; accountId: string };
    expect(call).toMatchObject({ state: 'ended', endReason: 'agent-hangup', accountId: 'default' });
    expect(call.transcript).toHaveLength(lines.length);
  });
});
