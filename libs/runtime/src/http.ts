import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { ErrorCodes, toEnvelope, SwitchboardError } from '@switchboard/contracts';
import { registerTelemetry } from '@switchboard/telemetry';

/** A named readiness probe: resolves when the dependency answers. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<unknown>;
}

/**
 * Fastify with the house error mapping: SwitchboardErrors become envelopes with a fitting status,
 * anything else a 500 that never leaks its message. `/healthz` says the process is alive; `/readyz`
 * runs every dependency check with a short timeout. Telemetry: a server span per request continuing
 * the caller's `traceparent`, `GET /metrics` (Prometheus) and a `switchboard_<check>_up` gauge for the
 * `nats` and `redis` checks.
 */
export function createHttp(log: Logger, checks: ReadinessCheck[], opts: Partial<FastifyServerOptions> = {}): FastifyInstance {
  // Per-request access lines are off: calls are logged by what they do, with their call id.
  const app = Fastify({ loggerInstance: log, logController: new LogController({ disableRequestLogging: true }), ...opts }) as unknown as FastifyInstance;
  let draining = false;
  app.decorate('markDraining', () => {
    draining = true;
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof SwitchboardError) {
      return reply.status(statusFor(err.code)).send(err.toEnvelope());
    }
    const fe = err as { statusCode?: number; code?: string; message: string };
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ code: ErrorCodes.REQUEST_INVALID, message: fe.message, retryable: fe.statusCode === 408 || fe.statusCode === 429 });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send(toEnvelope(err));
  });

  registerTelemetry(app, checks.filter((c) => c.name === 'nats' || c.name === 'redis'));
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const results = await Promise.all(
      checks.map(async (c) => {
        try {
          await withTimeout(c.check(), 1000);
          return [c.name, 'ok'] as const;
        } catch (err) {
          return [c.name, (err as Error).message || 'unreachable'] as const;
        }
      }),
    );
    const body = { status: 'ok', draining, checks: Object.fromEntries(results) };
    const ok = !draining && results.every(([, r]) => r === 'ok');
    return reply.status(ok ? 200 : 503).send({ ...body, status: ok ? 'ok' : 'unavailable' });
  });
  return app;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** After SIGTERM: /readyz answers 503 so load balancers stop sending work. */
    markDraining(): void;
  }
}

export function statusFor(code: string): number {
  switch (code) {
    case ErrorCodes.REQUEST_INVALID:
    case ErrorCodes.BUS_INVALID_MESSAGE:
    case ErrorCodes.AGENT_INVALID:
    case ErrorCodes.TOOL_INVALID_ARGUMENTS:
      return 400;
    case ErrorCodes.AUTH_MISSING_KEY:
    case ErrorCodes.AUTH_INVALID_KEY:
      return 401;
    case ErrorCodes.AUTH_FORBIDDEN:
    case ErrorCodes.SIGNATURE_INVALID:
      return 403;
    case ErrorCodes.AGENT_NOT_FOUND:
    case ErrorCodes.CALL_NOT_FOUND:
    case ErrorCodes.TOOL_NOT_FOUND:
    case ErrorCodes.MCP_SERVER_NOT_FOUND:
    case ErrorCodes.SCHEDULE_NOT_FOUND:
      return 404;
    case ErrorCodes.SCHEDULE_CONFLICT:
      return 409;
    case ErrorCodes.RATE_LIMITED:
      return 429;
    case ErrorCodes.BUS_NO_RESPONDERS:
    case ErrorCodes.DEPENDENCY_UNREACHABLE:
    case ErrorCodes.MCP_SERVER_UNAVAILABLE:
      return 503;
    case ErrorCodes.BUS_TIMEOUT:
    case ErrorCodes.TOOL_TIMEOUT:
    case ErrorCodes.PROVIDER_TIMEOUT:
      return 504;
    default:
      return 500;
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
