import { connect } from '@nats-io/transport-node';
import { headers as natsHeaders, type MsgHdrs, type NatsConnection, type Subscription, type Msg } from '@nats-io/nats-core';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { context, propagation, trace, SpanKind, SpanStatusCode, type Span, type Context } from '@opentelemetry/api';
import type { Logger } from 'pino';
import {
  ErrorCodes,
  Headers,
  SwitchboardError,
  toEnvelope,
  type CommandContract,
  type ErrorEnvelope,
  type EventContract,
} from '@switchboard/contracts';
import { assertValid } from './validation.ts';

const tracer = trace.getTracer('switchboard-bus');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What every handler gets besides its parsed message. */
export interface HandlerContext {
  /** Logger bound to the call id (when the message carries one). */
  log: Logger;
  span: Span;
  /** Aborted when the bus drains past its deadline. */
  signal: AbortSignal;
  callId: string | undefined;
  subject: string;
  headers: MsgHdrs | undefined;
}

export interface RouteOptions {
  /** Fills the subject token of per-call or per-service contracts. */
  param?: string;
  /** Call id for the header (defaults to `param` on per-call contracts). */
  callId?: string;
}

export interface SubscribeOptions extends RouteOptions {
  /** Queue group; `false` forces fan-out even where the contract names a queue. */
  queue?: string | false;
}

export interface RequestOptions extends RouteOptions {
  timeoutMs?: number;
}

export interface DurablePublishOptions extends RouteOptions {
  /** JetStream message id: a second publish with the same id inside the duplicate window is not stored again. */
  msgId?: string;
  /** How long to wait for the stream's ack (ms, default 5000). */
  timeoutMs?: number;
}

/** The stream's acknowledgement of a durable publish. */
export interface DurableAck {
  stream: string;
  seq: number;
  /** The stream already held a message with this `msgId`. */
  duplicate: boolean;
}

export interface BusOptions {
  url: string;
  name: string;
  log: Logger;
  /** Milliseconds to wait for the first connection before failing. */
  connectTimeoutMs?: number;
}

/** Connection refused, DNS failure, timeout: the short reason a person can act on. */
export function describeConnectError(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e?.code ?? e?.cause?.code;
  if (code === 'ECONNREFUSED' || /ECONNREFUSED|connection refused/i.test(e?.message ?? '')) return 'connection refused';
  if (code === 'ENOTFOUND' || /ENOTFOUND/.test(e?.message ?? '')) return 'host not found';
  if (/timeout/i.test(e?.message ?? '') || code === 'TIMEOUT') return 'timed out';
  return e?.message ?? String(err);
}

function setter(carrier: MsgHdrs, key: string, value: string): void {
  carrier.set(key, value);
}

const getter = {
  keys: (carrier: MsgHdrs | undefined) => (carrier ? carrier.keys() : []),
  get: (carrier: MsgHdrs | undefined, key: string) => (carrier?.has(key) ? carrier.get(key) : undefined),
};

function subjectOf(contract: { param: string; subject: (p?: string) => string }, opts: RouteOptions): string {
  if (contract.param === 'none') return contract.subject();
  return contract.subject(opts.param ?? (contract.param === 'callId' ? opts.callId : undefined));
}

/**
 * Typed NATS bus. Every JSON message is validated against its contract at the boundary (both ways),
 * carries W3C trace context and the call id in headers, and failures travel as error envelopes.
 * Audio frames bypass all of that: raw bytes on their own subjects.
 */
export class Bus {
  readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private readonly subs = new Set<Subscription>();
  /** Messages that failed validation on receipt. */
  invalidMessages = 0;
  private js: JetStreamClient | undefined;

  private constructor(nc: NatsConnection, log: Logger) {
    this.nc = nc;
    this.log = log;
  }

  /** Connects or throws one clear line: `NATS unreachable at nats://… (connection refused)`. */
  static async connect(opts: BusOptions): Promise<Bus> {
    try {
      const nc = await connect({
        servers: opts.url,
        name: opts.name,
        timeout: opts.connectTimeoutMs ?? 3000,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
      });
      const bus = new Bus(nc, opts.log);
      void (async () => {
        for await (const s of nc.status()) {
          if (s.type === 'disconnect' || s.type === 'reconnect') opts.log.warn({ nats: s.type }, `NATS ${s.type}`);
        }
      })().catch(() => undefined);
      return bus;
    } catch (err) {
      throw new SwitchboardError(ErrorCodes.DEPENDENCY_UNREACHABLE, `NATS unreachable at ${opts.url} (${describeConnectError(err)})`, { cause: err });
    }
  }

  /** Round trip to the server; used by /readyz. */
  async ping(): Promise<number> {
    return this.nc.rtt();
  }

  get isClosed(): boolean {
    return this.nc.isClosed();
  }

  private headersFor(contract: { param: string }, opts: RouteOptions, ctx: Context = context.active()): MsgHdrs {
    const h = natsHeaders();
    propagation.inject(ctx, h, { set: setter });
    // The routing parameter is a call id only on per-call contracts (on `health` it names a service).
    const callId = opts.callId ?? (contract.param === 'callId' ? opts.param : undefined);
    if (callId) h.set(Headers.callId, callId);
    return h;
  }

  /** Fire-and-forget event, validated. */
  publish<T>(contract: EventContract<T>, payload: T, opts: RouteOptions = {}): void {
    const subject = subjectOf(contract, opts);
    assertValid(contract.schema as object, payload, `publish ${subject}`);
    const span = tracer.startSpan(`${subject} publish`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, ...(opts.callId ? { 'switchboard.call_id': opts.callId } : {}) } });
    try {
      this.nc.publish(subject, encoder.encode(JSON.stringify(payload)), { headers: this.headersFor(contract, opts, trace.setSpan(context.active(), span)) });
    } finally {
      span.end();
    }
  }

  /**
   * An event that must survive a consumer's restart: published through JetStream and resolved once
   * the stream that captures the subject has stored it. Same validation, trace context and call-id
   * header as {@link publish}; core subscribers receive it as usual. `msgId` lets the stream drop a
   * second publication of the same event inside its duplicate window (`duplicate` in the result).
   * Rejects with BUS_NO_RESPONDERS when no stream captures the subject, BUS_TIMEOUT without an ack.
   */
  async publishDurable<T>(contract: EventContract<T>, payload: T, opts: DurablePublishOptions = {}): Promise<DurableAck> {
    const subject = subjectOf(contract, opts);
    assertValid(contract.schema as object, payload, `publish ${subject}`);
    const span = tracer.startSpan(`${subject} publish`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, 'switchboard.durable': true, ...(opts.callId ? { 'switchboard.call_id': opts.callId } : {}) } });
    const timeout = opts.timeoutMs ?? 5000;
    try {
      this.js ??= jetstream(this.nc);
      const ack = await this.js.publish(subject, encoder.encode(JSON.stringify(payload)), {
        headers: this.headersFor(contract, opts, trace.setSpan(context.active(), span)),
        timeout,
        ...(opts.msgId ? { msgID: opts.msgId } : {}),
      });
      return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      // No stream listens on the subject (or JetStream is off): the request had no responders.
      if ((err as Error)?.name === 'JetStreamNotEnabled') throw new SwitchboardError(ErrorCodes.BUS_NO_RESPONDERS, `no JetStream stream stores ${subject}`, { cause: err });
      throw mapRequestError(err, subject, timeout);
    } finally {
      span.end();
    }
  }

  /** Subscribes to an event; invalid messages are logged and counted, never reach the handler. */
  subscribe<T>(contract: EventContract<T>, handler: (payload: T, ctx: HandlerContext) => unknown, opts: SubscribeOptions = {}): Subscription {
    const subject = subjectOf(contract, opts);
    const queue = opts.queue === false ? undefined : opts.queue;
    return this.track(
      this.nc.subscribe(subject, {
        ...(queue ? { queue } : {}),
        callback: (err, msg) => {
          if (err) return this.log.error({ err, subject }, 'subscription error');
          this.dispatch(msg, SpanKind.CONSUMER, `${subject} process`, async (ctx) => {
            const payload = this.parse(msg, contract.schema as object, subject);
            if (payload === undefined) return;
            await handler(payload as T, ctx);
          });
        },
      }),
    );
  }

  /** Serves a command. The handler's return value is validated against the reply schema; throws become envelopes. */
  handle<Q, R>(contract: CommandContract<Q, R>, handler: (request: Q, ctx: HandlerContext) => Promise<R> | R, opts: SubscribeOptions = {}): Subscription {
    const subject = subjectOf(contract, opts);
    const queue = opts.queue === false ? undefined : (opts.queue ?? contract.queue);
    return this.track(
      this.nc.subscribe(subject, {
        ...(queue ? { queue } : {}),
        callback: (err, msg) => {
          if (err) return this.log.error({ err, subject }, 'subscription error');
          this.dispatch(msg, SpanKind.SERVER, `${subject} handle`, async (ctx) => {
            let reply: Uint8Array;
            const h = natsHeaders();
            try {
              const request = this.parse(msg, contract.request as object, subject, true) as Q;
              const result = await handler(request, ctx);
              assertValid(contract.reply as object, result, `reply ${subject}`);
              reply = encoder.encode(JSON.stringify(result));
            } catch (e) {
              const env = toEnvelope(e);
              if (env.code === ErrorCodes.INTERNAL_ERROR) ctx.log.error({ err: e, subject }, 'handler failed');
              else ctx.log.debug({ code: env.code, subject }, env.message);
              ctx.span.setStatus({ code: SpanStatusCode.ERROR, message: env.code });
              h.set(Headers.status, 'error');
              reply = encoder.encode(JSON.stringify(env));
            }
            if (msg.reply) msg.respond(reply, { headers: h });
          });
        },
      }),
    );
  }

  /** Request/reply with a validated request and reply; failures throw SwitchboardError with the remote envelope. */
  async request<Q, R>(contract: CommandContract<Q, R>, payload: Q, opts: RequestOptions = {}): Promise<R> {
    const subject = subjectOf(contract, opts);
    assertValid(contract.request as object, payload, `request ${subject}`);
    const span = tracer.startSpan(`${subject} request`, { kind: SpanKind.CLIENT, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': subject, ...(opts.callId ? { 'switchboard.call_id': opts.callId } : {}) } });
    const timeout = opts.timeoutMs ?? 5000;
    try {
      let msg: Msg;
      try {
        msg = await this.nc.request(subject, encoder.encode(JSON.stringify(payload)), {
          timeout,
          headers: this.headersFor(contract, opts, trace.setSpan(context.active(), span)),
        });
      } catch (err) {
        throw mapRequestError(err, subject, timeout);
      }
      const body = JSON.parse(decoder.decode(msg.data)) as unknown;
      if (msg.headers?.get(Headers.status) === 'error') throw SwitchboardError.fromEnvelope(body as ErrorEnvelope);
      assertValid(contract.reply as object, body, `reply from ${subject}`);
      return body as R;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof SwitchboardError ? err.code : 'error' });
      throw err;
    } finally {
      span.end();
    }
  }

  /** Asks every instance that answers within `maxWaitMs` (health fan-in). */
  async requestAll<Q, R>(contract: CommandContract<Q, R>, payload: Q, opts: RequestOptions & { maxWaitMs?: number } = {}): Promise<R[]> {
    const subject = subjectOf(contract, opts);
    const out: R[] = [];
    try {
      const iter = await this.nc.requestMany(subject, encoder.encode(JSON.stringify(payload)), { strategy: 'timer', maxWait: opts.maxWaitMs ?? 300 });
      for await (const m of iter) {
        if (m.data.length === 0) continue;
        const body = JSON.parse(decoder.decode(m.data)) as unknown;
        if (m.headers?.get(Headers.status) === 'error') continue;
        out.push(body as R);
      }
    } catch (err) {
      if (!(err instanceof Error && /no responders|503/i.test(err.message))) throw mapRequestError(err, subject, opts.maxWaitMs ?? 300);
    }
    return out;
  }

  /** Raw audio publish: bytes plus headers, no validation, no span (hot path). */
  publishRaw(subject: string, data: Uint8Array, headers?: MsgHdrs): void {
    this.nc.publish(subject, data, headers ? { headers } : undefined);
  }

  /** Raw audio subscription. */
  subscribeRaw(subject: string, cb: (data: Uint8Array, headers: MsgHdrs | undefined) => void): Subscription {
    return this.track(
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          try {
            cb(msg.data, msg.headers);
          } catch (e) {
            this.log.error({ err: e, subject }, 'audio handler threw');
          }
        },
      }),
    );
  }

  /** Ensures a JetStream stream exists (idempotent). */
  async ensureStream(def: { name: string; subjects: readonly string[] }): Promise<void> {
    const jsm = await jetstreamManager(this.nc);
    try {
      await jsm.streams.info(def.name);
    } catch {
      await jsm.streams.add({ name: def.name, subjects: [...def.subjects], max_age: 24 * 3600 * 1e9 });
    }
  }

  /** Stop taking new messages, wait for in-flight handlers (up to `timeoutMs`), then close. */
  async drain(timeoutMs = 10_000): Promise<void> {
    // Draining a subscription (not unsubscribing) still runs the messages the server routed to it
    // before it heard the unsubscribe: a queue-group request in that window is answered, not lost.
    const flushed = Promise.allSettled([...this.subs].map((s) => s.drain()));
    await Promise.race([flushed, new Promise((r) => setTimeout(r, Math.min(timeoutMs, 2000)).unref())]);
    for (const s of this.subs) s.unsubscribe();
    const deadline = new Promise((r) => setTimeout(r, timeoutMs).unref());
    await Promise.race([Promise.allSettled([...this.inflight]), deadline]);
    this.abort.abort();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close();
  }

  private track(sub: Subscription): Subscription {
    this.subs.add(sub);
    void sub.closed.then(() => this.subs.delete(sub)).catch(() => this.subs.delete(sub));
    return sub;
  }

  private parse(msg: Msg, schema: object, subject: string, rethrow = false): unknown {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(msg.data));
      assertValid(schema, value, `message on ${subject}`);
      return value;
    } catch (e) {
      this.invalidMessages++;
      const err = e instanceof SwitchboardError ? e : new SwitchboardError(ErrorCodes.BUS_INVALID_MESSAGE, `message on ${subject}: not JSON`);
      this.log.warn({ subject, code: err.code, problems: err.details?.problems }, err.message);
      if (rethrow) throw err;
      return undefined;
    }
  }

  private dispatch(msg: Msg, kind: SpanKind, name: string, run: (ctx: HandlerContext) => Promise<void>): void {
    const parent = propagation.extract(context.active(), msg.headers, getter);
    const callId = msg.headers?.has(Headers.callId) ? msg.headers.get(Headers.callId) : undefined;
    const span = tracer.startSpan(name, { kind, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': msg.subject, ...(callId ? { 'switchboard.call_id': callId } : {}) } }, parent);
    const ctx: HandlerContext = {
      log: callId ? this.log.child({ call_id: callId }) : this.log,
      span,
      signal: this.abort.signal,
      callId,
      subject: msg.subject,
      headers: msg.headers,
    };
    const p = context
      .with(trace.setSpan(parent, span), () => run(ctx))
      .catch((err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR });
        ctx.log.error({ err, subject: msg.subject }, 'handler failed');
      })
      .finally(() => {
        span.end();
        this.inflight.delete(p);
      });
    this.inflight.add(p);
  }
}

function mapRequestError(err: unknown, subject: string, timeout: number): SwitchboardError {
  const e = err as Error & { isNoResponders?: () => boolean; cause?: unknown };
  const noResponders = e?.name === 'NoRespondersError' || (typeof e?.isNoResponders === 'function' && e.isNoResponders()) || (e?.cause as Error | undefined)?.name === 'NoRespondersError';
  if (noResponders) return new SwitchboardError(ErrorCodes.BUS_NO_RESPONDERS, `no service answers ${subject}`);
  if (e?.name === 'TimeoutError' || (e?.cause as Error | undefined)?.name === 'TimeoutError' || /timeout/i.test(e?.message ?? '')) {
    return new SwitchboardError(ErrorCodes.BUS_TIMEOUT, `${subject} did not answer within ${timeout} ms`);
  }
  return new SwitchboardError(ErrorCodes.INTERNAL_ERROR, `request ${subject} failed`, { cause: err });
}

/** Headers for an outbound raw frame. */
export function rawHeaders(entries: Record<string, string>): MsgHdrs {
  const h = natsHeaders();
  for (const [k, v] of Object.entries(entries)) h.set(k, v);
  return h;
}
