import { pino, type Logger } from 'pino';
import { trace } from '@opentelemetry/api';

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'headers.authorization',
  'headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers["x-twilio-signature"]',
  '*.apiKey',
  '*.authToken',
  '*.password',
  '*.secret',
  'server.headers',
  'servers[*].headers',
  // Top-level fields and the headers of outgoing requests (provider keys, MCP server and webhook credentials).
  'apiKey',
  'authToken',
  'password',
  'secret',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.headers["xi-api-key"]',
  '*.headers.cookie',
  'req.headers.cookie',
];

export function createLogger(service: string, level = 'info', instanceId?: string): Logger {
  return pino({
    level,
    base: { service, ...(instanceId ? { instance: instanceId } : {}) },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    // Every line logged inside a span carries its trace and span id.
    mixin() {
      const sc = trace.getActiveSpan()?.spanContext();
      return sc ? { trace_id: sc.traceId, span_id: sc.spanId } : {};
    },
  });
}
