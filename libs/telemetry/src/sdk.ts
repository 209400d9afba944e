import type { IncomingMessage, ServerResponse } from 'node:http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { PeriodicExportingMetricReader, type IMetricReader } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** Keeps a tracer provider registered (so trace ids exist and propagate) when nothing is exported. */
class DiscardingSpanProcessor implements SpanProcessor {
  onStart(): void {}
  onEnd(): void {}
  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

export interface TelemetryOptions {
  /** OTLP/HTTP base endpoint (e.g. http://collector:4318); traces go to `<endpoint>/v1/traces`, metrics to `<endpoint>/v1/metrics`. Unset: spans are made but not exported, metrics only on `/metrics`. */
  endpoint?: string | undefined;
  instanceId?: string | undefined;
  /** How often metrics are pushed over OTLP (ms); default OTEL_METRIC_EXPORT_INTERVAL or 15000. */
  metricIntervalMs?: number | undefined;
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

/** The process's Prometheus reader (set by initTelemetry); `/metrics` serialises what it collects. */
let prometheus: PrometheusExporter | undefined;

/**
 * Answers a Prometheus scrape (text exposition format 0.0.4) with every instrument of the process.
 * Without initTelemetry (unit tests) it answers an empty exposition.
 */
export function metricsRequestHandler(req: IncomingMessage, res: ServerResponse): void {
  if (!prometheus) {
    res.statusCode = 200;
    res.setHeader('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    res.end('# no metrics: telemetry not initialised\n');
    return;
  }
  prometheus.getMetricsRequestHandler(req, res);
}

/**
 * Starts the OpenTelemetry NodeSDK for a service: W3C trace context propagation, a tracer provider
 * and, when an endpoint is configured, OTLP/HTTP trace and metric export. A Prometheus reader is always
 * registered (without a server of its own): each service's fastify app serves it on `GET /metrics`.
 * Call before anything opens spans.
 */
export function initTelemetry(service: string, opts: TelemetryOptions = {}): Telemetry {
  // The SDK would otherwise default logs and metrics to an OTLP exporter on localhost.
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  const base = opts.endpoint?.replace(/\/$/, '');
  const delay = Number(process.env.OTEL_BSP_SCHEDULE_DELAY) || 200;
  const processors: SpanProcessor[] = base
    ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${base}/v1/traces` }), { scheduledDelayMillis: delay })]
    : [new DiscardingSpanProcessor()];
  prometheus = new PrometheusExporter({ preventServerStart: true });
  const readers: IMetricReader[] = [prometheus];
  if (base) {
    const interval = opts.metricIntervalMs ?? (Number(process.env.OTEL_METRIC_EXPORT_INTERVAL) || 15_000);
    readers.push(new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: `${base}/v1/metrics` }), exportIntervalMillis: interval, exportTimeoutMillis: Math.min(interval, 10_000) }));
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service, ...(opts.instanceId ? { 'service.instance.id': opts.instanceId } : {}) }),
    spanProcessors: processors,
    textMapPropagator: new W3CTraceContextPropagator(),
    metricReaders: readers,
    instrumentations: [],
  });
  sdk.start();
  return {
    shutdown: async () => {
      await sdk.shutdown();
      prometheus = undefined;
    },
  };
}
