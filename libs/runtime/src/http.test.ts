import { afterEach, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { ErrorCode } from '@switchboard/contracts';
import { createHttp, withTimeout } from './index.ts';
import type { ReadinessCheck } from './index.ts';

/** A logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  const log: Logger = pino({ level: 'info' }, stream);
  return { log, lines: () => chunks.join('') };
}

const apps: FastifyInstance[] = [];
function app(checks: ReadinessCheck[] = []): { app: FastifyInstance; lines: () => string } {
  const { log, lines } = capturingLogger();
  const a = createHttp(log, checks);
  apps.push(a);
  return { app: a, lines };
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

const ok = (name: string): ReadinessCheck => ({ name, check: async () => 'PONG' });

describe('createHttp probes', () => {
  it('/healthz answers 200', async () => {
    const res = await app().app.inject({ method: 'GET', url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz answers 200 when every check passes', async () => {
    const res = await app([ok('nats'), ok('redis')]).app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', draining: false, checks: { nats: 'ok', redis: 'ok' } });
  });

  it.each<[string, ReadinessCheck['check'], string]>([
    ['rejects with an Error', async () => Promise.reject(new Error('Redis unreachable at redis://r:6379 (connection refused)')), 'Redis unreachable at redis://r:6379 (connection refused)'],
    ['rejects with a string', async () => Promise.reject('down'), 'down'],
    ['rejects with an empty message', async () => Promise.reject(new Error('')), 'unreachable'],
    ['never answers', () => new Promise(() => undefined), 'timed out after 1000 ms'],
  ])('/readyz answers 503 naming a check that %s', async (_what, check, reason) => {
    const res = await app([ok('nats'), { name: 'redis', check }]).app.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', draining: false, checks: { nats: 'ok', redis: reason } });
  });

  it('/readyz answers 503 after markDraining() even with every check passing', async () => {
    const { app: a } = app([ok('nats')]);
    expect((await a.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    a.markDraining();
    const res = await a.inject({ method: 'GET', url: '/readyz' });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ status: 'unavailable', draining: true, checks: { nats: 'ok' } });
    // Liveness is unaffected: the process is still alive while it drains.
    expect((await a.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });
});

describe('createHttp error handler', () => {
  function withThrowingRoute(thrown: () => unknown): { app: FastifyInstance; lines: () => string } {
    const made = app();
    made.app.get('/boom', async () => {
      throw thrown();
    });
    made.app.post('/echo', async (req) => req.body);
    return made;
  }

  it.each<[ErrorCode, number]>([
    [ErrorCodes.REQUEST_INVALID, 400],
    [ErrorCodes.BUS_INVALID_MESSAGE, 400],
    [ErrorCodes.AGENT_INVALID, 400],
    [ErrorCodes.TOOL_INVALID_ARGUMENTS, 400],
    [ErrorCodes.AUTH_MISSING_KEY, 401],
    [ErrorCodes.AUTH_INVALID_KEY, 401],
    [ErrorCodes.AUTH_FORBIDDEN, 403],
    [ErrorCodes.SIGNATURE_INVALID, 403],
    [ErrorCodes.AGENT_NOT_FOUND, 404],
    [ErrorCodes.CALL_NOT_FOUND, 404],
    [ErrorCodes.TOOL_NOT_FOUND, 404],
    [ErrorCodes.RATE_LIMITED, 429],
    [ErrorCodes.BUS_NO_RESPONDERS, 503],
    [ErrorCodes.DEPENDENCY_UNREACHABLE, 503],
    [ErrorCodes.MCP_SERVER_UNAVAILABLE, 503],
    [ErrorCodes.BUS_TIMEOUT, 504],
    [ErrorCodes.TOOL_TIMEOUT, 504],
    [ErrorCodes.PROVIDER_TIMEOUT, 504],
    [ErrorCodes.INTERNAL_ERROR, 500],
    [ErrorCodes.TOOL_FAILED, 500],
    [ErrorCodes.CARRIER_FAILED, 500],
  ])('a SwitchboardError %s answers %i with its envelope', async (code, status) => {
    const { app: a } = withThrowingRoute(() => new SwitchboardError(code, `about ${code}`, { details: { n: 1 } }));
    const res = await a.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ code, message: `about ${code}`, retryable: new SwitchboardError(code, '').retryable, details: { n: 1 } });
  });

  it.each([
    ['a plain Error', () => new Error('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2')],
    ['a TypeError', () => new TypeError("Cannot read properties of undefined (reading 'apiKey')")],
    ['an Error claiming a 5xx status', () => Object.assign(new Error('upstream said: stack at internal.js:1'), { statusCode: 502 })],
    ['a thrown string', () => 'raw internal failure text'],
  ])('%s answers 500 INTERNAL_ERROR without its message, and logs it', async (_what, thrown) => {
    const { app: a, lines } = withThrowingRoute(thrown);
    const res = await a.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ code: 'INTERNAL_ERROR', message: 'Internal error', retryable: false });
    expect(res.body).not.toMatch(/hunter2|apiKey|internal\.js|raw internal/);
    expect(lines()).toContain('request failed');
  });

  it('a request fastify refuses (bad JSON) answers 400 REQUEST_INVALID', async () => {
    const { app: a } = withThrowingRoute(() => undefined);
    const res = await a.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"a":' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: 'REQUEST_INVALID', retryable: false });
  });

  it.each([
    [408, true],
    [429, true],
    [413, false],
  ])('a client-fault error with status %i keeps it, retryable %s', async (statusCode, retryable) => {
    const { app: a } = withThrowingRoute(() => Object.assign(new Error('client fault'), { statusCode }));
    const res = await a.inject({ method: 'GET', url: '/boom' });
    expect(res.statusCode).toBe(statusCode);
    expect(res.json()).toEqual({ code: 'REQUEST_INVALID', message: 'client fault', retryable });
  });
});

describe('withTimeout', () => {
  it('passes a value through', async () => {
    await expect(withTimeout(Promise.resolve(42), 1000)).resolves.toBe(42);
  });

  it('rejects after its deadline', async () => {
    await expect(withTimeout(new Promise(() => undefined), 20)).rejects.toThrow('timed out after 20 ms');
  });

  it('wraps a non-Error rejection in an Error', async () => {
    const err: unknown = await withTimeout(Promise.reject(7), 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('7');
  });
});
