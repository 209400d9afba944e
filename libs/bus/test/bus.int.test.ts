import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { context, trace } from '@opentelemetry/api';
import { ErrorCodes, Headers, SwitchboardError, audioSubjects, contracts } from '@switchboard/contracts';
import type { ErrorCode, MediaEvent } from '@switchboard/contracts';
import { initTelemetry } from '@switchboard/telemetry';
import type { Telemetry } from '@switchboard/telemetry';
import { infraUrls } from '@switchboard/testing';
import { Bus, rawHeaders } from '../src/index.ts';
import type { HandlerContext } from '../src/index.ts';

const log = pino({ level: 'silent' });
const encoder = new TextEncoder();
let natsUrl = '';
let telemetry: Telemetry | undefined;
const open: Bus[] = [];

/** A fresh subject token: per-call contracts get their own subjects, so tests never see each other's traffic. */
const newCallId = () => `test-${randomUUID()}`;

async function connectBus(name = 'bus-test'): Promise<Bus> {
  const bus = await Bus.connect({ url: natsUrl, name, log });
  open.push(bus);
  return bus;
}

/**
 * The hangup contract (its schemas, its per-call routing) on a subject of the test's own, outside
 * `cmd.>`: a monitor subscribed to `cmd.>` on the shared NATS counts as a responder, so a
 * no-responders test on a real `cmd.` subject would wait for its timeout instead.
 */
function privateHangup(): typeof contracts.hangup {
  const subject = `test.${randomUUID()}.hangup`;
  return { ...contracts.hangup, subject: () => subject };
}

/** Resolves with the SwitchboardError a promise rejects with; fails the test when it resolves. */
async function failure(p: Promise<unknown>): Promise<SwitchboardError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(SwitchboardError);
    return err as SwitchboardError;
  }
  throw new Error('expected the promise to reject');
}

/** Resolves once `cond` holds, or fails after `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`bus int tests: NATS ${infra.natsUrl} from ${infra.source}`);
  natsUrl = infra.natsUrl;
  telemetry = initTelemetry('bus-int-test');
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

afterAll(async () => {
  await telemetry?.shutdown();
});

describe('request/reply', () => {
  it('round-trips a request and its reply over a contract', async () => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    const seen: unknown[] = [];
    server.handle(
      contracts.hangup,
      (req, ctx) => {
        seen.push({ req, subject: ctx.subject });
        return { ok: true, alreadyEnded: req.reason === 'again' };
      },
      { param: callId },
    );
    await server.nc.flush();

    await expect(client.request(contracts.hangup, { reason: 'again' }, { param: callId })).resolves.toEqual({ ok: true, alreadyEnded: true });
    await expect(client.request(contracts.hangup, {}, { param: callId })).resolves.toEqual({ ok: true, alreadyEnded: false });
    expect(seen).toEqual([
      { req: { reason: 'again' }, subject: contracts.hangup.subject(callId) },
      { req: {}, subject: contracts.hangup.subject(callId) },
    ]);
  });

  it.each([
    ['an unknown field', { destination: '+15550001234', extra: 1 }],
    ['a bad phone number', { destination: '555-0001' }],
    ['a missing required field', {}],
  ])('refuses a request with %s with BUS_INVALID_MESSAGE before sending it', async (_what, payload) => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    let handled = 0;
    let onWire = 0;
    server.handle(contracts.transfer, () => {
      handled++;
      return { ok: true };
    }, { param: callId });
    server.subscribeRaw(contracts.transfer.subject(callId), () => onWire++);
    await server.nc.flush();

    // The payload is invalid for the schema; the cast stands in for an untyped caller.
    const err = await failure(client.request(contracts.transfer, payload as { destination: string }, { param: callId }));
    expect(err.code).toBe(ErrorCodes.BUS_INVALID_MESSAGE);
    expect(err.message).toContain(`request ${contracts.transfer.subject(callId)}`);
    expect(err.details?.problems).toEqual(expect.arrayContaining([expect.any(String)]));

    // Anything the client had sent would be delivered before this round trip completes.
    await client.nc.flush();
    await server.nc.flush();
    expect(onWire).toBe(0);
    expect(handled).toBe(0);
  });

  it.each<[string, SwitchboardError, { code: ErrorCode; message: string; retryable: boolean; details?: Record<string, unknown> }]>([
    ['a non-retryable code', new SwitchboardError(ErrorCodes.CALL_NOT_FOUND, 'no call with that id'), { code: 'CALL_NOT_FOUND', message: 'no call with that id', retryable: false }],
    ['a retryable code', new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'Twilio said 503', { retryable: true }), { code: 'CARRIER_FAILED', message: 'Twilio said 503', retryable: true }],
    [
      'details',
      new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, 'bad args', { details: { field: 'orderId' } }),
      { code: 'TOOL_INVALID_ARGUMENTS', message: 'bad args', retryable: false, details: { field: 'orderId' } },
    ],
  ])('a handler throwing a SwitchboardError with %s reaches the requester as that error', async (_what, thrown, expected) => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    server.handle(contracts.hangup, () => {
      throw thrown;
    }, { param: callId });
    await server.nc.flush();

    const err = await failure(client.request(contracts.hangup, {}, { param: callId }));
    expect({ code: err.code, message: err.message, retryable: err.retryable, ...(err.details ? { details: err.details } : {}) }).toEqual(expected);
  });

  it.each([
    ['a plain Error', () => new Error('ECONNRESET talking to db.internal with password hunter2')],
    ['a TypeError', () => new TypeError("Cannot read properties of undefined (reading 'secret')")],
  ])('a handler throwing %s gives INTERNAL_ERROR with a generic message', async (_what, make) => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    server.handle(contracts.hangup, async () => {
      await sleep(1);
      throw make();
    }, { param: callId });
    await server.nc.flush();

    const err = await failure(client.request(contracts.hangup, {}, { param: callId }));
    expect({ code: err.code, message: err.message, retryable: err.retryable }).toEqual({ code: 'INTERNAL_ERROR', message: 'Internal error', retryable: false });
  });

  it('a handler whose reply violates the reply schema gives BUS_INVALID_MESSAGE', async () => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    // The handler is typed to return a valid reply; the cast stands in for a buggy handler.
    server.handle(contracts.hangup, () => ({ ok: 'yes' }) as unknown as { ok: boolean }, { param: callId });
    await server.nc.flush();

    const err = await failure(client.request(contracts.hangup, {}, { param: callId }));
    expect(err.code).toBe(ErrorCodes.BUS_INVALID_MESSAGE);
    expect(err.message).toContain('/ok must be boolean');
  });

  it('a reply from a non-Bus responder that violates the reply schema is refused by the requester', async () => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    server.nc.subscribe(contracts.hangup.subject(callId), {
      callback: (_e, m) => {
        m.respond(encoder.encode('{"ok":true,"extra":1}'));
      },
    });
    await server.nc.flush();

    const err = await failure(client.request(contracts.hangup, {}, { param: callId }));
    expect(err.code).toBe(ErrorCodes.BUS_INVALID_MESSAGE);
    expect(err.message).toContain(`reply from ${contracts.hangup.subject(callId)}`);
    expect(err.message).toContain('extra');
  });

  it('a request nobody serves fails with BUS_NO_RESPONDERS without waiting for its timeout', async () => {
    const client = await connectBus('client');
    const contract = privateHangup();
    const callId = newCallId();
    const timeoutMs = 10_000;
    const started = Date.now();
    const err = await failure(client.request(contract, {}, { param: callId, timeoutMs }));
    expect(err.code).toBe(ErrorCodes.BUS_NO_RESPONDERS);
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`no service answers ${contract.subject(callId)}`);
    expect(Date.now() - started).toBeLessThan(timeoutMs / 2);
  });

  it('a handler slower than the timeout gives BUS_TIMEOUT', async () => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    server.handle(contracts.hangup, async () => {
      await gate;
      return { ok: true };
    }, { param: callId });
    await server.nc.flush();

    try {
      const err = await failure(client.request(contracts.hangup, {}, { param: callId, timeoutMs: 200 }));
      expect(err.code).toBe(ErrorCodes.BUS_TIMEOUT);
      expect(err.retryable).toBe(true);
      expect(err.message).toBe(`${contracts.hangup.subject(callId)} did not answer within 200 ms`);
    } finally {
      release();
    }
  });
});

describe('queue groups', () => {
  const N = 40;

  async function shareLoad(serve: (bus: Bus, record: (i: number) => void) => void, ask: (client: Bus, i: number) => Promise<unknown>): Promise<number[][]> {
    const servers = [await connectBus('server-a'), await connectBus('server-b')];
    const handled: number[][] = [[], []];
    servers.forEach((bus, k) => serve(bus, (i) => handled[k]!.push(i)));
    await Promise.all(servers.map((b) => b.nc.flush()));
    const client = await connectBus('client');
    await Promise.all(Array.from({ length: N }, (_, i) => ask(client, i)));
    return handled;
  }

  function expectShared(handled: number[][]): void {
    const all = handled.flat().sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: N }, (_, i) => i));
    for (const h of handled) expect(h.length).toBeGreaterThan(0);
  }

  it('two instances in an explicit queue group share the requests, each handled exactly once', async () => {
    const service = `svc-${randomUUID()}`;
    const handled = await shareLoad(
      (bus, record) =>
        bus.handle(contracts.health, (_req, ctx) => {
          record(Number(ctx.callId?.slice(1)));
          return { service, instanceId: 'test', status: 'ok' as const };
        }, { param: service, queue: 'health-test' }),
      (client, i) => {
        // The index travels in the call id header: the health request body is empty by contract.
        return client.request(contracts.health, {}, { param: service, callId: `i${i}` });
      },
    );
    expectShared(handled);
  });

  it("without a queue option a command uses its contract's queue group", async () => {
    // callTool's real schemas and queue, on a subject of this test's own so no running broker answers.
    const contract = { ...contracts.callTool, subject: ((s: string) => () => s)(`test.${randomUUID()}.call-tool`) };
    expect(contract.queue).toBe('mcp-broker');
    const handled = await shareLoad(
      (bus, record) =>
        bus.handle(contract, (req) => {
          record(Number(req.arguments.i));
          return { isError: false, text: `done ${String(req.arguments.i)}`, latencyMs: 1 };
        }),
      async (client, i) => {
        const reply = await client.request(contract, {
          context: { callId: 'c1', agentId: 'demo', accountId: 'default' },
          server: { name: 'orders', transport: 'streamable-http', url: 'http://127.0.0.1:1/mcp' },
          tool: 'get_order',
          arguments: { i },
        });
        expect(reply.text).toBe(`done ${i}`);
      },
    );
    expectShared(handled);
  });
});

describe('events', () => {
  it('an invalid event is counted and never reaches the handler; the next valid one does', async () => {
    const [sub, pub] = [await connectBus('subscriber'), await connectBus('publisher')];
    const callId = newCallId();
    const got: MediaEvent[] = [];
    sub.subscribe(contracts.mediaEvents, (e) => void got.push(e), { param: callId });
    await sub.nc.flush();
    const subject = contracts.mediaEvents.subject(callId);

    // An untyped or buggy publisher: bypasses the publishing side's validation.
    pub.publishRaw(subject, encoder.encode(JSON.stringify({ type: 'exploded' })));
    pub.publishRaw(subject, encoder.encode('not json {'));
    pub.publish(contracts.mediaEvents, { type: 'dtmf', digit: '5', at: 1 }, { param: callId });
    await until(() => got.length > 0);
    await pub.nc.flush();
    await sub.nc.flush();

    expect(got).toEqual([{ type: 'dtmf', digit: '5', at: 1 }]);
    expect(sub.invalidMessages).toBe(2);
    expect(pub.invalidMessages).toBe(0);
  });

  it('publish refuses an invalid payload with BUS_INVALID_MESSAGE', async () => {
    const pub = await connectBus('publisher');
    const callId = newCallId();
    let err: unknown;
    try {
      pub.publish(contracts.mediaEvents, { type: 'dtmf', digit: '55' }, { param: callId });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.BUS_INVALID_MESSAGE);
    expect((err as SwitchboardError).message).toContain('/digit must match pattern');
  });
});

describe('headers and context', () => {
  async function capture<T>(serve: (bus: Bus, seen: (ctx: HandlerContext) => void) => void, ask: (client: Bus) => Promise<T>): Promise<HandlerContext> {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    let captured: HandlerContext | undefined;
    serve(server, (ctx) => (captured = ctx));
    await server.nc.flush();
    await ask(client);
    await until(() => captured !== undefined);
    return captured!;
  }

  it('the call id a per-call request is routed by becomes ctx.callId', async () => {
    const callId = newCallId();
    const ctx = await capture(
      (bus, seen) => bus.handle(contracts.hangup, (_r, c) => (seen(c), { ok: true }), { param: callId }),
      (client) => client.request(contracts.hangup, {}, { param: callId }),
    );
    expect(ctx.callId).toBe(callId);
    expect(ctx.headers?.get(Headers.callId)).toBe(callId);
  });

  it('an explicit call id overrides the routing parameter in ctx.callId', async () => {
    const callId = newCallId();
    const ctx = await capture(
      (bus, seen) => bus.subscribe(contracts.mediaControl, (_p, c) => seen(c), { param: callId }),
      async (client) => client.publish(contracts.mediaControl, { type: 'clear' }, { param: callId, callId: 'CA-explicit' }),
    );
    expect(ctx.callId).toBe('CA-explicit');
  });

  // Regression: the call id header used to fall back to any subject parameter, so a request to
  // `cmd.<service>.health` was logged as belonging to a call named after the service.
  it('a service-parameterised request carries no call id', async () => {
    const service = `svc-${randomUUID()}`;
    const ctx = await capture(
      (bus, seen) => bus.handle(contracts.health, (_r, c) => (seen(c), { service, instanceId: 'i1', status: 'ok' as const }), { param: service }),
      (client) => client.request(contracts.health, {}, { param: service }),
    );
    expect(ctx.subject).toBe(contracts.health.subject(service));
    expect(ctx.callId).toBeUndefined();
    expect(ctx.headers?.has(Headers.callId)).toBe(false);
  });

  it('W3C trace context propagates from the requester span to the handler span', async () => {
    const callId = newCallId();
    const root = trace.getTracer('bus-int-test').startSpan('caller');
    const rootCtx = root.spanContext();
    expect(rootCtx.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(rootCtx.traceId).not.toBe('0'.repeat(32));
    let active: { traceId: string; spanId: string } | undefined;
    const ctx = await capture(
      (bus, seen) =>
        bus.handle(contracts.hangup, (_r, c) => {
          active = trace.getActiveSpan()?.spanContext();
          seen(c);
          return { ok: true };
        }, { param: callId }),
      (client) => context.with(trace.setSpan(context.active(), root), () => client.request(contracts.hangup, {}, { param: callId })),
    );
    root.end();

    expect(active?.traceId).toBe(rootCtx.traceId);
    expect(active?.spanId).not.toBe(rootCtx.spanId);
    expect(ctx.span.spanContext().traceId).toBe(rootCtx.traceId);
    expect(ctx.headers?.get(Headers.traceparent)).toMatch(new RegExp(`^00-${rootCtx.traceId}-[0-9a-f]{16}-01$`));
  });

  it('without an active span each request starts its own trace', async () => {
    const callId = newCallId();
    const traces: string[] = [];
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    server.handle(contracts.hangup, () => {
      traces.push(trace.getActiveSpan()?.spanContext().traceId ?? '');
      return { ok: true };
    }, { param: callId });
    await server.nc.flush();
    await client.request(contracts.hangup, {}, { param: callId });
    await client.request(contracts.hangup, {}, { param: callId });
    expect(traces).toHaveLength(2);
    expect(traces[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(traces[0]).not.toBe(traces[1]);
  });
});

describe('drain', () => {
  it('waits for an in-flight handler to finish and reply before closing', async () => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const callId = newCallId();
    const order: string[] = [];
    server.handle(contracts.hangup, async () => {
      order.push('handler started');
      await sleep(300);
      order.push('handler finished');
      return { ok: true, alreadyEnded: false };
    }, { param: callId });
    await server.nc.flush();

    const reply = client.request(contracts.hangup, {}, { param: callId, timeoutMs: 5000 });
    await until(() => order.length > 0);
    await server.drain(5000);
    order.push('drained');

    expect(order).toEqual(['handler started', 'handler finished', 'drained']);
    await expect(reply).resolves.toEqual({ ok: true, alreadyEnded: false });
    expect(server.isClosed).toBe(true);
  });

  it('takes no new requests once draining', async () => {
    const [server, client] = [await connectBus('server'), await connectBus('client')];
    const contract = privateHangup();
    const callId = newCallId();
    server.handle(contract, () => ({ ok: true }), { param: callId });
    await server.nc.flush();
    await expect(client.request(contract, {}, { param: callId })).resolves.toEqual({ ok: true });
    await server.drain(1000);
    const err = await failure(client.request(contract, {}, { param: callId, timeoutMs: 2000 }));
    expect(err.code).toBe(ErrorCodes.BUS_NO_RESPONDERS);
  });
});

describe('raw audio', () => {
  it('delivers frames with their bytes and headers unchanged and in order', async () => {
    const [sub, pub] = [await connectBus('gateway'), await connectBus('orchestrator')];
    const callId = newCallId();
    const subject = audioSubjects.mediaOut(callId);
    const got: Array<{ data: Uint8Array; seq: string | undefined; mark: string | undefined; call: string | undefined }> = [];
    sub.subscribeRaw(subject, (data, h) => {
      got.push({ data: Uint8Array.from(data), seq: h?.get(Headers.seq), mark: h?.has(Headers.mark) ? h.get(Headers.mark) : undefined, call: h?.get(Headers.callId) });
    });
    await sub.nc.flush();

    const frames = Array.from({ length: 10 }, () => new Uint8Array(randomBytes(640)));
    frames.forEach((f, i) => {
      const h: Record<string, string> = { [Headers.seq]: String(i), [Headers.callId]: callId };
      if (i === 4) h[Headers.mark] = 'sentence-1';
      pub.publishRaw(subject, f, rawHeaders(h));
    });
    pub.publishRaw(subject, new Uint8Array(0));
    await until(() => got.length === 11);

    expect(got.slice(0, 10).map((g) => Buffer.from(g.data).toString('hex'))).toEqual(frames.map((f) => Buffer.from(f).toString('hex')));
    expect(got.slice(0, 10).map((g) => g.seq)).toEqual(frames.map((_, i) => String(i)));
    expect(got.map((g) => g.mark).filter(Boolean)).toEqual(['sentence-1']);
    expect(got[4]?.mark).toBe('sentence-1');
    expect(got.slice(0, 10).every((g) => g.call === callId)).toBe(true);
    expect(got[10]?.data.length).toBe(0);
  });

  it('a throwing audio handler does not stop later frames', async () => {
    const [sub, pub] = [await connectBus('gateway'), await connectBus('orchestrator')];
    const subject = audioSubjects.mediaIn(newCallId());
    const seen: number[] = [];
    sub.subscribeRaw(subject, (data) => {
      seen.push(data[0]!);
      if (data[0] === 1) throw new Error('bad frame');
    });
    await sub.nc.flush();
    for (const b of [0, 1, 2]) pub.publishRaw(subject, Uint8Array.of(b));
    await until(() => seen.length === 3);
    expect(seen).toEqual([0, 1, 2]);
  });
});
