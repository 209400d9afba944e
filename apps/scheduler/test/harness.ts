import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Subscription } from '@nats-io/nats-core';
import { Bus } from '@switchboard/bus';
import { contracts, SwitchboardError, type CallToolRequest, type DialRequest, type ScheduleFailed, type ScheduleFired, type ScheduleSkipped } from '@switchboard/contracts';
import { AgentRegistry, validateAgentDefinition } from '@switchboard/agents';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { buildApp, type SchedulerApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';

/**
 * What the scheduler's integration tests share: real NATS and Redis, a queue name of their own (so
 * records and jobs never mix with another run's), scheduler instances that each have their own NATS
 * and Redis connections (as separate processes would), an event log of fired/failed/skipped runs,
 * and fakes of the gateway's dial and the broker's call-tool served over the same NATS.
 */
export const log = createLogger('scheduler-test', 'silent');

export function agentRegistry(accountId: string, otherAccountId: string): AgentRegistry {
  const base = { systemPrompt: 'Test agent.', stt: { provider: 'openai' }, llm: { provider: 'openai' }, tts: { provider: 'openai' } };
  return new AgentRegistry([
    validateAgentDefinition({ ...base, id: 'sales', accountId, mcpServers: ['http://127.0.0.1:9/unnamed', { name: 'crm', url: 'http://127.0.0.1:9/mcp', allowedTools: ['create_lead', 'log_note'], tools: { log_note: { timeoutMs: 4000 } } }] }, 'test', {}),
    validateAgentDefinition({ ...base, id: 'theirs', accountId: otherAccountId }, 'test', {}),
  ]);
}

export interface Instance {
  /** Instance id, NATS connection name and Redis client name. */
  name: string;
  s: SchedulerApp;
  bus: Bus;
  redis: Redis;
  close(): Promise<void>;
}

type Logged = { fired: ScheduleFired[]; failed: ScheduleFailed[]; skipped: ScheduleSkipped[] };

export class EventLog {
  readonly fired: ScheduleFired[] = [];
  readonly failed: ScheduleFailed[] = [];
  readonly skipped: ScheduleSkipped[] = [];
  /** Receipt time (ms) of each fired event, by `scheduleId|dueAt`. */
  readonly firedAt = new Map<string, number>();

  of<K extends keyof Logged>(kind: K, scheduleId: string): Logged[K] {
    return (this[kind] as Array<{ scheduleId: string }>).filter((e) => e.scheduleId === scheduleId) as Logged[K];
  }
}

export async function until(pred: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Scriptable gateway `dial`: records requests; fails, or answers after a delay, when told to. */
export class FakeGateway {
  readonly requests: DialRequest[] = [];
  /** Call ids answered, in order. */
  readonly callIds: string[] = [];
  fail: SwitchboardError | undefined;
  delayMs = 0;
  private n = 0;
  sub?: Subscription;

  /** Ends every call answered so far, as the gateway would when they hang up (frees outbound slots). */
  endAll(bus: Bus): void {
    for (const callId of this.callIds.splice(0)) bus.publish(contracts.callEnded, { callId, reason: 'caller-hangup', endedAt: new Date().toISOString() });
  }

  serve(bus: Bus): this {
    this.sub = bus.handle(contracts.dial, async (req) => {
      this.requests.push(req);
      if (this.delayMs) await sleep(this.delayMs);
      if (this.fail) throw this.fail;
      const callId = `call-${++this.n}-${randomBytes(3).toString('hex')}`;
      this.callIds.push(callId);
      return { callId, status: 'queued' as const };
    });
    return this;
  }
}

/** Scriptable broker `call-tool`: records requests and answers with a text result or a tool error. */
export class FakeBroker {
  readonly requests: CallToolRequest[] = [];
  isError = false;
  sub?: Subscription;

  serve(bus: Bus): this {
    this.sub = bus.handle(contracts.callTool, (req) => {
      this.requests.push(req);
      return this.isError ? { isError: true, text: '{"error":"CRM down","fallback":true}', code: 'TOOL_FAILED', latencyMs: 1 } : { isError: false, text: `done ${req.tool}`, latencyMs: 1 };
    });
    return this;
  }
}

export class Harness {
  readonly queue = `switchboard-schedules-test-${randomBytes(4).toString('hex')}`;
  readonly accountId = `acme-${randomBytes(3).toString('hex')}`;
  readonly otherAccountId = `globex-${randomBytes(3).toString('hex')}`;
  readonly agents = agentRegistry(this.accountId, this.otherAccountId);
  readonly events = new EventLog();
  readonly instances = new Set<Instance>();
  private started = 0;
  natsUrl = '';
  redisUrl = '';
  /** The test's own client connections. */
  bus!: Bus;
  redis!: Redis;

  async setup(file: string): Promise<this> {
    const infra = await infraUrls();
    console.log(`${file}: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
    this.natsUrl = infra.natsUrl;
    this.redisUrl = infra.redisUrl;
    this.bus = await Bus.connect({ url: infra.natsUrl, name: `client-${this.queue}`, log });
    this.redis = await connectRedis(infra.redisUrl, { name: `client-${this.queue}` });
    this.bus.subscribe(contracts.scheduleFired, (e) => {
      this.events.fired.push(e);
      this.events.firedAt.set(`${e.scheduleId}|${e.dueAt}`, Date.now());
    });
    this.bus.subscribe(contracts.scheduleFailed, (e) => void this.events.failed.push(e));
    this.bus.subscribe(contracts.scheduleSkipped, (e) => void this.events.skipped.push(e));
    await this.bus.nc.flush();
    return this;
  }

  /** A scheduler instance on this harness's queue; `env` overrides its configuration. */
  async start(env: Record<string, string> = {}): Promise<Instance> {
    const name = `scheduler-${this.queue.slice(-8)}-${this.started++}`;
    const bus = await Bus.connect({ url: this.natsUrl, name, log });
    const redis = await connectRedis(this.redisUrl, { name });
    const config = loadConfig({ SCHEDULER_QUEUE: this.queue, LOG_LEVEL: 'silent', SCHEDULER_BACKOFF_MS: '100', ...env });
    const s = await buildApp({ config, bus, redis, log, instanceId: name, agents: this.agents });
    await s.worker.waitUntilReady();
    await s.reconciled;
    await bus.nc.flush();
    const inst: Instance = {
      name,
      s,
      bus,
      redis,
      close: async () => {
        if (!this.instances.delete(inst)) return;
        await s.close();
        await s.app.close();
        await bus.drain(2000);
        redis.disconnect();
      },
    };
    this.instances.add(inst);
    return inst;
  }

  async teardown(): Promise<void> {
    for (const i of [...this.instances]) await i.close();
    if (this.redis) {
      for (const pattern of [`bull:${this.queue}:*`, `sb:sched:${this.queue}:*`]) {
        const keys = await this.redis.keys(pattern);
        if (keys.length) await this.redis.del(...keys);
      }
      await this.redis.del(`sb:account:${this.accountId}`, `sb:account:${this.otherAccountId}`);
      this.redis.disconnect();
    }
    await this.bus?.drain(2000);
  }
}
