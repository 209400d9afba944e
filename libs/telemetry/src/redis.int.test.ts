import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { Redis } from 'ioredis';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { infraUrls } from '@switchboard/testing';
import { traceRedis } from './index.ts';

/** Redis CLIENT spans against a real Redis: children of the active span, none without one. */
describe('traceRedis', () => {
  const spans = new InMemorySpanExporter();
  // This file's own provider, passed to traceRedis: the API's globals live on globalThis and another
  // test file in the same worker may have registered its own provider first.
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] });
  const tracer = provider.getTracer('t');
  let redis: Redis;

  beforeAll(async () => {
    const infra = await infraUrls();
    console.log(`int infrastructure: Redis ${infra.redisUrl} (${infra.source})`);
    // Any working context manager will do (another file may have set one already).
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    redis = traceRedis(new Redis(infra.redisUrl, { lazyConnect: true }), { tracer });
    await redis.connect();
  });

  afterAll(async () => {
    redis?.disconnect();
    await provider.shutdown();
  });

  it('makes a CLIENT span per command inside an active span, as its child', async () => {
    spans.reset();
    const parent = tracer.startSpan('call work');
    const key = `telemetry-test:${process.pid}`;
    await context.with(trace.setSpan(context.active(), parent), async () => {
      await redis.set(key, '1', 'EX', 10);
      await redis.get(key);
    });
    parent.end();
    const redisSpans = spans.getFinishedSpans().filter((s) => s.name.startsWith('redis '));
    expect(redisSpans.map((s) => s.name)).toEqual(['redis set', 'redis get']);
    for (const s of redisSpans) {
      expect(s.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(s.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(s.attributes['db.system.name']).toBe('redis');
    }
  });

  it('marks a failed command as an error', async () => {
    spans.reset();
    const parent = tracer.startSpan('call work');
    const key = `telemetry-test:list:${process.pid}`;
    await redis.set(key, 'x', 'EX', 10);
    await context.with(trace.setSpan(context.active(), parent), () => redis.lpush(key, 'y').catch(() => undefined));
    parent.end();
    const [failed] = spans.getFinishedSpans().filter((s) => s.name === 'redis lpush');
    expect(failed?.status.code).toBe(2);
  });

  it('makes no span without an active one (background polling stays out of traces)', async () => {
    spans.reset();
    await redis.ping();
    expect(spans.getFinishedSpans()).toEqual([]);
  });
});
