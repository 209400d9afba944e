import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import Fastify, { type FastifyInstance } from 'fastify';
import { context, metrics, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { metricsRequestHandler, registerTelemetry } from './index.ts';

const PARENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN = '00f067aa0ba902b7';

/**
 * The fastify side of telemetry against the real SDK: server spans continuing `traceparent`, the
 * handler running inside its span, and `/metrics` with the health gauges.
 */
describe('registerTelemetry', () => {
  const spans = new InMemorySpanExporter();
  let sdk: NodeSDK;
  let app: FastifyInstance;
  let seenInHandler: string | undefined;

  beforeAll(async () => {
    // initTelemetry's own set-up, with an in-memory exporter to look at the spans.
    sdk = new NodeSDK({ spanProcessors: [new SimpleSpanProcessor(spans)], textMapPropagator: new W3CTraceContextPropagator(), metricReaders: [] });
    sdk.start();
    app = Fastify();
    registerTelemetry(app, [
      { name: 'nats', check: async () => 'pong' },
      { name: 'redis', check: async () => 'PONG' },
    ]);
    app.post('/hook', async () => {
      await new Promise((r) => setTimeout(r, 5));
      seenInHandler = trace.getSpan(context.active())?.spanContext().traceId;
      return { ok: true };
    });
    await app.ready();
  });

  afterAll(async () => {
    await app.close();
    await sdk.shutdown();
  });

  it('opens a SERVER span per request that continues the incoming traceparent, active in the handler', async () => {
    spans.reset();
    const res = await app.inject({ method: 'POST', url: '/hook', headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`, 'content-type': 'application/json' }, payload: '{"a":1}' });
    expect(res.statusCode).toBe(200);
    expect(seenInHandler).toBe(PARENT_TRACE);
    const [span] = spans.getFinishedSpans();
    expect(span?.name).toBe('POST /hook');
    expect(span?.spanContext().traceId).toBe(PARENT_TRACE);
    expect(span?.parentSpanContext?.spanId).toBe(PARENT_SPAN);
    expect(span?.attributes['http.response.status_code']).toBe(200);
  });

  it('starts a new trace without a traceparent', async () => {
    spans.reset();
    await app.inject({ method: 'POST', url: '/hook', payload: {} });
    const [span] = spans.getFinishedSpans();
    expect(span?.name).toBe('POST /hook');
    expect(span?.spanContext().traceId).not.toBe(PARENT_TRACE);
    expect(span?.parentSpanContext).toBeUndefined();
  });

  it.each(['/healthz', '/metrics'])('does not trace %s', async (url) => {
    spans.reset();
    await app.inject({ method: 'GET', url });
    expect(spans.getFinishedSpans()).toEqual([]);
  });

  it('answers an empty exposition on /metrics before telemetry is initialised', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
  });
});

describe('metricsRequestHandler with a Prometheus reader', () => {
  it('serialises counters and the up gauges in the Prometheus text format', async () => {
    // The handler reads the reader initTelemetry registers; here one of the test's own on a local provider.
    const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
    const reader = new PrometheusExporter({ preventServerStart: true });
    const provider = new MeterProvider({ readers: [reader] });
    metrics.setGlobalMeterProvider(provider);
    provider.getMeter('t').createCounter('switchboard_turns_total').add(2, { agent: 'demo' });
    const app = Fastify();
    let up = 1;
    registerTelemetry(app, [{ name: 'redis', check: async () => (up ? 'PONG' : Promise.reject(new Error('down'))) }]);
    app.get('/prom', (req, reply) => {
      reply.hijack();
      reader.getMetricsRequestHandler(req.raw, reply.raw);
    });
    const text = (await app.inject({ method: 'GET', url: '/prom' })).body;
    expect(text).toMatch(/^switchboard_turns_total\{agent="demo"[^}]*\} 2/m);
    expect(text).toMatch(/^switchboard_redis_up(\{[^}]*\})? 1/m);
    up = 0;
    expect((await app.inject({ method: 'GET', url: '/prom' })).body).toMatch(/^switchboard_redis_up(\{[^}]*\})? 0/m);
    expect(typeof metricsRequestHandler).toBe('function');
    await app.close();
    await provider.shutdown();
    metrics.disable();
  });
});
