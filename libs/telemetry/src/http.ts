import { context, metrics, propagation, SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { metricsRequestHandler } from './sdk.ts';

/** A dependency probe whose result becomes a `switchboard_<name>_up` gauge (1 answered, 0 not). */
export interface HealthProbe {
  name: string;
  check: () => Promise<unknown>;
}

const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);
const tracer = trace.getTracer('switchboard-http');
const headerGetter = {
  keys: (h: FastifyRequest['headers']) => Object.keys(h),
  get: (h: FastifyRequest['headers'], k: string) => h[k.toLowerCase()],
};

/**
 * Telemetry for a service's fastify app:
 * - a SERVER span per request (not for probes), continuing the caller's W3C `traceparent`, active
 *   while the route handler runs (so bus messages and outgoing requests it makes join the trace);
 * - `GET /metrics`: the Prometheus exposition of every instrument of the process;
 * - `switchboard_<probe>_up` observable gauges for the given probes (nats, redis), checked on collection.
 */
export function registerTelemetry(app: FastifyInstance, probes: HealthProbe[] = [], timeoutMs = 1000): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (req, reply, done) => {
    const path = req.url.split('?')[0] ?? '';
    // Probes are not traced; nor are WebSocket upgrades (a stream lives as long as its call: its work joins the call's trace instead).
    if (UNTRACED.has(path) || req.headers.upgrade) return done();
    const parent = propagation.extract(context.active(), req.headers, headerGetter);
    const route = req.routeOptions.url ?? path;
    const span = tracer.startSpan(`${req.method} ${route}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': req.method, 'http.route': route, 'url.path': path } }, parent);
    spans.set(req, span);
    // Ends when the response is done or the connection goes, whether fastify or a hijacking handler (MCP, WebSocket) answered.
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      const status = reply.raw.statusCode;
      span.setAttribute('http.response.status_code', status);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    reply.raw.once('finish', end);
    reply.raw.once('close', end);
    done();
  });
  // Activated after the body is parsed: the handler runs (synchronously from here) inside the span.
  app.addHook('preHandler', (req, _reply, done) => {
    const span = spans.get(req);
    if (!span) return done();
    context.with(trace.setSpan(context.active(), span), done);
  });
  app.get('/metrics', (req, reply) => {
    reply.hijack();
    metricsRequestHandler(req.raw, reply.raw);
  });
  const meter = metrics.getMeter('switchboard-health');
  for (const p of probes) {
    const gauge = meter.createObservableGauge(`switchboard_${p.name}_up`, { description: `1 when ${p.name} answered a ping at collection time, else 0` });
    gauge.addCallback(async (result) => {
      result.observe(await up(p.check, timeoutMs));
    });
  }
}

async function up(check: () => Promise<unknown>, ms: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([check(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)))]);
    return 1;
  } catch {
    return 0;
  } finally {
    clearTimeout(timer);
  }
}
