import { context, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import type { Redis } from 'ioredis';


/**
 * Redis CLIENT spans (`redis <command>`, `db.system.name=redis`) for the commands a connection sends
 * while a span is active (a call's work, a bus handler, an HTTP request), as children of it; commands
 * with no active span (background polling) make none. Wraps `sendCommand`, which every ioredis command
 * method goes through (pipelines and MULTI write their batch directly and are not traced one by one).
 * Done here rather than with `@opentelemetry/instrumentation-ioredis`: the bundles import ioredis at
 * the top, before the SDK could hook `require`.
 */
export function traceRedis<R extends Redis>(redis: R, opts: { tracer?: Tracer } = {}): R {
  // The global tracer is looked up per use (cheap): one captured at import would outlive a re-registered provider.
  const tracer = () => opts.tracer ?? trace.getTracer('switchboard-redis');
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = ((command: Parameters<Redis['sendCommand']>[0], stream?: Parameters<Redis['sendCommand']>[1]) => {
    if (!trace.getSpan(context.active())) return send(command, stream);
    const span = tracer().startSpan(`redis ${command.name}`, { kind: SpanKind.CLIENT, attributes: { 'db.system.name': 'redis', 'db.operation.name': command.name } });
    command.promise.then(
      () => span.end(),
      (err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message ?? String(err) });
        span.end();
      },
    );
    return send(command, stream);
  }) as Redis['sendCommand'];
  return redis;
}
