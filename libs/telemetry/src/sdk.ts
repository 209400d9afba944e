import { NodeSDK } from '@opentelemetry/sdk-node';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
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
  /** OTLP/HTTP base endpoint (e.g. http://collector:4318); traces go to `<endpoint>/v1/traces`. Unset: spans are made but not exported. */
  endpoint?: string | undefined;
  instanceId?: string | undefined;
}

export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry NodeSDK for a service: W3C trace context propagation, a tracer provider
 * and, when an endpoint is configured, OTLP/HTTP trace export. Call before anything opens spans.
 */
export function initTelemetry(service: string, opts: TelemetryOptions = {}): Telemetry {
  // The SDK would otherwise default logs and metrics to an OTLP exporter on localhost.
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  const processors: SpanProcessor[] = opts.endpoint
    ? [new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/$/, '')}/v1/traces` }), { scheduledDelayMillis: 200 })]
    : [new DiscardingSpanProcessor()];
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: service, ...(opts.instanceId ? { 'service.instance.id': opts.instanceId } : {}) }),
    spanProcessors: processors,
    textMapPropagator: new W3CTraceContextPropagator(),
    metricReaders: [],
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}
