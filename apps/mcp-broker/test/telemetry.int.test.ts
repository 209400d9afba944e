import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptableMcpServer, type ScriptableMcpServer } from '@switchboard/testing';
import { announce, http, startTestBroker, type TestBroker } from './harness.ts';

const spans = new InMemorySpanExporter();
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
let t: TestBroker;
let s: ScriptableMcpServer;

beforeAll(async () => {
  await announce('telemetry.int.test');
  // In-memory SDKs registered before the broker binds its instruments (as the telemetry library would at boot).
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }));
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
  t = await startTestBroker({ BREAKER_FAILURE_THRESHOLD: '1', BREAKER_COOLDOWN_MS: '60000' });
  s = await startScriptableMcpServer({
    tools: [
      { name: 'lookup', description: 'Look up' },
      { name: 'sleepy', handler: () => new Promise(() => undefined) },
    ],
  });
});

afterAll(async () => {
  await t?.close();
  await s?.close();
  trace.disable();
  metrics.disable();
});

/** Every data point of a metric, with its attributes and value (sum, count or gauge value). */
async function points(name: string): Promise<Array<{ attributes: Record<string, unknown>; value: unknown }>> {
  await reader.forceFlush();
  const all: ResourceMetrics[] = metricExporter.getMetrics();
  const latest = all.at(-1);
  const metric = latest?.scopeMetrics.flatMap((sm) => sm.metrics).find((m) => m.descriptor.name === name);
  return (metric?.dataPoints ?? []).map((p) => ({ attributes: p.attributes as Record<string, unknown>, value: p.value }));
}

describe('telemetry', () => {
  it('makes a span per server discovery and per tool call, with server and tool names', async () => {
    await t.list([http('tele', s.url)]);
    await t.call(http('tele', s.url), 'lookup', {});
    const finished = spans.getFinishedSpans();
    const list = finished.find((sp) => sp.name === 'mcp tools/list');
    const call = finished.find((sp) => sp.name === 'mcp tools/call');
    expect(list?.attributes).toMatchObject({ 'mcp.server': 'tele', 'mcp.transport': 'streamable-http', 'mcp.tools': 2 });
    expect(call?.attributes).toMatchObject({ 'mcp.server': 'tele', 'mcp.tool': 'lookup', 'mcp.transport': 'streamable-http' });
  });

  it('records discovery and call latency histograms, cache hits and misses', async () => {
    await t.list([http('tele', s.url)]);
    expect(await points('mcp.broker.discovery.duration')).toEqual([expect.objectContaining({ attributes: { server: 'tele', outcome: 'ok' }, value: expect.objectContaining({ count: 1 }) })]);
    expect(await points('mcp.broker.tool_call.duration')).toEqual([expect.objectContaining({ attributes: { server: 'tele', tool: 'lookup', outcome: 'ok' }, value: expect.objectContaining({ count: 1 }) })]);
    expect(await points('mcp.broker.cache.misses')).toEqual([{ attributes: { layer: 'none' }, value: 1 }]);
    expect(await points('mcp.broker.cache.hits')).toEqual([{ attributes: { layer: 'memory' }, value: 1 }]);
    expect((await points('mcp.broker.list_tools.duration'))[0]?.value).toMatchObject({ count: 2 });
  });

  it('counts timeouts and errors, and reports the breaker state per server', async () => {
    const reply = await t.call(http('tele', s.url, { timeoutMs: 100 }), 'sleepy', {});
    expect(reply.code).toBe('TOOL_TIMEOUT');
    expect(await points('mcp.broker.timeouts')).toEqual([{ attributes: { server: 'tele', tool: 'sleepy' }, value: 1 }]);
    expect(await points('mcp.broker.errors')).toEqual([{ attributes: { server: 'tele', tool: 'sleepy', code: 'TOOL_TIMEOUT' }, value: 1 }]);
    // One failure opens the circuit (threshold 1 here).
    expect(await points('mcp.broker.breaker.state')).toEqual([{ attributes: { server: 'tele' }, value: 2 }]);
    expect(await points('mcp.broker.breaker.transitions')).toEqual([{ attributes: { server: 'tele', to: 'open' }, value: 1 }]);
  });
});
