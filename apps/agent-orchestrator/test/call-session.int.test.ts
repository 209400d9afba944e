import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { Subscription } from '@nats-io/nats-core';
import { Bus } from '@switchboard/bus';
import { Headers, contracts } from '@switchboard/contracts';
import type { CallStarted, ListToolsReply } from '@switchboard/contracts';
import { validateAgentDefinition } from '@switchboard/agents';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { CallStore } from '@switchboard/session-store';
import { infraUrls, startFakeOpenAI } from '@switchboard/testing';
import type { FakeOpenAI } from '@switchboard/testing';
import { providersFor } from '../src/adapters/providers.ts';
import { loadConfig } from '../src/config.ts';
import { CallSession } from '../src/session/call-session.ts';

const log = createLogger('agent-orchestrator-test', 'silent');
let bus: Bus;
let redis: Redis;
let openai: FakeOpenAI;
/** An MCP endpoint that accepts connections and never answers. */
const hanging = createServer(() => undefined);
let hangingUrl: string;

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`call-session.int.test: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  bus = await Bus.connect({ url: infra.natsUrl, name: 'agent-orchestrator-test', log });
  redis = await connectRedis(infra.redisUrl, { name: 'agent-orchestrator-test' });
  openai = await startFakeOpenAI();
  await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', () => r()));
  hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/mcp`;
});

afterAll(async () => {
  hanging.closeAllConnections();
  await new Promise((r) => hanging.close(r));
  await openai?.close();
  await bus?.drain(2000);
  redis?.disconnect();
});

describe('CallSession tool discovery', () => {
  it('re-asks for pending MCP servers while the call lasts and stops once it has ended (regression: the re-poll outlived the call)', async () => {
    const callId = `call_discovery_${randomBytes(4).toString('hex')}`;
    // Stands in for the broker for this call only: a plain subscription (no queue group) that answers
    // this call's list-tools requests with the server still pending and leaves every other request alone.
    const asked: number[] = [];
    const pending: ListToolsReply = { tools: [], pending: ['slow'], failed: [] };
    const sub: Subscription = bus.nc.subscribe(contracts.listTools.subject(), {
      callback: (_err, msg) => {
        if (msg.headers?.get(Headers.callId) !== callId) return;
        asked.push(Date.now());
        msg.respond(new TextEncoder().encode(JSON.stringify(pending)));
      },
    });
    await bus.nc.flush();

    const agent = validateAgentDefinition({ id: 'demo', systemPrompt: 'Test agent.', stt: { provider: 'openai' }, llm: { provider: 'openai' }, tts: { provider: 'openai' }, mcpServers: [{ name: 'slow', url: hangingUrl }] }, 'test', {});
    const started: CallStarted = { callId, accountId: 'default', agentId: 'demo', direction: 'inbound', carrier: 'twilio', from: '+15557654321', to: '+15550001234', startedAt: new Date().toISOString() };
    const config = loadConfig({ OPENAI_BASE_URL: openai.url, OPENAI_API_KEY: 'sk-test', LOG_LEVEL: 'silent' });
    const session = new CallSession(started, agent, { bus, store: new CallStore(redis), providers: providersFor(agent, config), log, discoveryBudgetMs: 100 });
    try {
      await session.start();
      await new Promise((r) => setTimeout(r, 1600));
      // Asked at start, then again about once a second while the server stays pending.
      expect(asked.length).toBeGreaterThanOrEqual(2);

      await session.stop('caller-hangup');
      const atStop = asked.length;
      await new Promise((r) => setTimeout(r, 2500));
      expect(asked.length).toBe(atStop);
    } finally {
      sub.unsubscribe();
      await session.stop('caller-hangup');
      await redis.del(`sb:call:${callId}`, `sb:call:${callId}:transcript`);
    }
  });
});
