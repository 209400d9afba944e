import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import twilio from 'twilio';
import { TwilioStreamCaller } from './caller.ts';
import { twilioSid } from './sid.ts';
import { parseTwimlStream } from './twiml.ts';

/**
 * A fake of Twilio's REST API for calls, speaking its wire format over a real socket: the official
 * `twilio` client (pointed at this base URL) is what gets tested against it.
 *
 * - `POST /2010-04-01/Accounts/{AC}/Calls.json` (form: `To`, `From`, `Url`/`Twiml`/`ApplicationSid`,
 *   `StatusCallback`, `StatusCallbackEvent` repeated, `Timeout`, `TimeLimit`, …) creates a call.
 * - `POST …/Calls/{CA}.json` (`Status=completed|canceled`, `Twiml`, `Url`) updates one.
 * - `GET …/Calls/{CA}.json` fetches one.
 *
 * HTTP Basic auth `AC:token` (401 code 20003 otherwise), JSON bodies shaped like Twilio's, 404 code
 * 20404 for unknown calls, 400 with Twilio's codes for missing parameters, scripted failures and call
 * counters. It can also play the carrier: {@link FakeTwilioRest.answer} POSTs the voice webhook
 * (signed like Twilio) and sends the status callbacks, and optionally opens the media stream the
 * TwiML asks for with a {@link TwilioStreamCaller}, its handshake signed as Twilio signs it.
 */

/** Terminal and live states of a Twilio call. */
export type FakeCallStatus = 'queued' | 'initiated' | 'ringing' | 'in-progress' | 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled';

const ENDED: ReadonlySet<FakeCallStatus> = new Set(['completed', 'busy', 'no-answer', 'failed', 'canceled']);

/** Calls only move forward: a late `initiated` never overwrites `ringing`. */
const RANK: Record<FakeCallStatus, number> = { queued: 0, initiated: 1, ringing: 2, 'in-progress': 3, completed: 4, busy: 4, 'no-answer': 4, failed: 4, canceled: 4 };

/** Which StatusCallbackEvent names a status belongs to. */
const EVENT_OF: Record<FakeCallStatus, string> = {
  queued: 'queued',
  initiated: 'initiated',
  ringing: 'ringing',
  'in-progress': 'answered',
  completed: 'completed',
  busy: 'completed',
  'no-answer': 'completed',
  failed: 'completed',
  canceled: 'completed',
};

/** One call as the fake knows it. */
export interface FakeTwilioCall {
  sid: string;
  accountSid: string;
  to: string;
  from: string;
  status: FakeCallStatus;
  /** Voice webhook URL given on create or by the last update. */
  url?: string;
  /** Webhook method (`Method`, default POST). */
  method: string;
  /** TwiML given on create or by the last update. */
  twiml?: string;
  statusCallback?: string;
  statusCallbackMethod: string;
  /** `StatusCallbackEvent` values; Twilio sends `completed` when a callback URL is set and none are named. */
  statusCallbackEvents: string[];
  /** `Timeout` (s ringing before no-answer), when given. */
  timeout?: number;
  /** `TimeLimit` (s), when given. */
  timeLimit?: number;
  /** Every form this call was created or updated with, in order. */
  forms: Array<Record<string, string | string[]>>;
  /** The media stream opened by `answer({ connect: true })`. */
  caller?: TwilioStreamCaller;
  createdAt: Date;
  /** Status callbacks sent for this call and the HTTP status each got. */
  callbacks: Array<{ status: FakeCallStatus; httpStatus: number }>;
}

/** A request the fake received on its REST API. */
export interface FakeRestRequest {
  method: string;
  path: string;
  /** Form fields; repeated fields are arrays. */
  form: Record<string, string | string[]>;
  authorized: boolean;
  /** Status the fake answered with. */
  status: number;
}

/** A failure scripted with {@link FakeTwilioRest.failNext}. */
export interface ScriptedFailure {
  /** HTTP status (e.g. 500, 429, 400). */
  status: number;
  /** Twilio error code in the body (e.g. 20500, 20429, 21211). */
  code?: number;
  message?: string;
}

export interface FakeTwilioRestOptions {
  /** Default: a random `AC…`. */
  accountSid?: string;
  /** Default: a fixed test token. */
  authToken?: string;
  /** Listen address, default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /**
   * Where webhooks (voice URL, status callbacks) are actually delivered, e.g. the gateway's listen
   * address when its `PUBLIC_URL` is not reachable from the test: the URL's origin is replaced by
   * this one and the path and query kept. The signature still covers the URL as given to Twilio.
   */
  deliverTo?: string;
}

export interface AnswerOptions {
  /** Status callbacks for `ringing` then `in-progress`, before the webhook. Default true. */
  ring?: boolean;
  /** Open the `<Stream>` the TwiML asks for with a TwilioStreamCaller. Default false. */
  connect?: boolean;
  /** Options for the TwilioStreamCaller (`realtime`, extra headers). */
  realtime?: boolean;
}

export interface AnswerResult {
  /** HTTP status of the voice webhook (200 for TwiML given inline). */
  status: number;
  twiml: string;
  stream?: { url?: string; parameters: Record<string, string> };
  /** Present with `connect: true` when the TwiML had a `<Stream>`. */
  caller?: TwilioStreamCaller;
}

type Op = 'create' | 'update' | 'fetch';

const API = '/2010-04-01';

function rfc2822(d: Date): string {
  return d.toUTCString().replace('GMT', '+0000');
}

/** Parses an `application/x-www-form-urlencoded` body, keeping repeated names as arrays. */
function parseForm(body: string): Record<string, string | string[]> {
  const form: Record<string, string | string[]> = {};
  for (const [k, v] of new URLSearchParams(body)) {
    const prev = form[k];
    if (prev === undefined) form[k] = v;
    else form[k] = Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return form;
}

const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v[0] : v);
const many = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class FakeTwilioRest {
  readonly accountSid: string;
  readonly authToken: string;
  /** Base URL to give the client, e.g. `http://127.0.0.1:53211` (the REST API lives under /2010-04-01). */
  url = '';
  readonly calls = new Map<string, FakeTwilioCall>();
  readonly requests: FakeRestRequest[] = [];
  /** Authenticated requests per operation, and every 401/404. */
  readonly counters = { create: 0, update: 0, fetch: 0, unauthorized: 0, notFound: 0 };
  private readonly server: Server;
  private readonly failures: Record<Op, ScriptedFailure[]> = { create: [], update: [], fetch: [] };
  /** See {@link FakeTwilioRestOptions.deliverTo}; may be set once the receiving server listens. */
  deliverTo: string | undefined;
  private readonly createdWaiters: Array<(c: FakeTwilioCall) => void> = [];

  private constructor(opts: FakeTwilioRestOptions) {
    this.accountSid = opts.accountSid ?? twilioSid('AC');
    this.authToken = opts.authToken ?? 'fake-twilio-auth-token-0123456789';
    this.deliverTo = opts.deliverTo;
    this.server = createServer((req, res) => void this.onRequest(req, res));
  }

  static async start(opts: FakeTwilioRestOptions = {}): Promise<FakeTwilioRest> {
    const fake = new FakeTwilioRest(opts);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
    });
    const { address, port } = fake.server.address() as AddressInfo;
    fake.url = `http://${address}:${port}`;
    return fake;
  }

  /** The next `times` requests of `op` fail with this status and Twilio error body. */
  failNext(op: Op, failure: ScriptedFailure, times = 1): void {
    for (let i = 0; i < times; i++) this.failures[op].push(failure);
  }

  /** Resolves with the next call created from now on. */
  nextCall(timeoutMs = 5000): Promise<FakeTwilioCall> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no call was created within ${timeoutMs} ms`)), timeoutMs);
      this.createdWaiters.push((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  /**
   * Plays the callee picking up: status callbacks `ringing` and `in-progress` (when subscribed),
   * then the voice webhook as Twilio sends it for an `outbound-api` call (form-encoded, signed), or
   * the call's inline TwiML. With `connect`, opens the TwiML's `<Stream>` with its `<Parameter>`s.
   */
  async answer(sid: string, opts: AnswerOptions = {}): Promise<AnswerResult> {
    const call = this.mustGet(sid);
    if (ENDED.has(call.status)) throw new Error(`call ${sid} has already ended (${call.status})`);
    if (opts.ring ?? true) await this.setStatus(call, 'ringing');
    await this.setStatus(call, 'in-progress');
    let status = 200;
    let twiml = call.twiml ?? '';
    if (call.twiml === undefined && call.url) {
      const res = await this.webhook(call.url, this.webhookForm(call), call.method);
      status = res.status;
      twiml = res.body;
    }
    const stream = parseTwimlStream(twiml);
    const result: AnswerResult = { status, twiml, ...(stream ? { stream } : {}) };
    if (opts.connect && stream?.url) {
      call.caller = await TwilioStreamCaller.connect({
        url: this.rewrite(stream.url),
        // Twilio signs the handshake: the wss URL as given in the TwiML, no parameters.
        headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(this.authToken, stream.url, {}) },
        customParameters: stream.parameters,
        callSid: call.sid,
        accountSid: call.accountSid,
        ...(opts.realtime === undefined ? {} : { realtime: opts.realtime }),
      });
      result.caller = call.caller;
    }
    return result;
  }

  /** Ends a call as the network would (callee busy, no answer, hung up): media stopped, final status callback. */
  async finish(sid: string, status: 'completed' | 'busy' | 'no-answer' | 'failed' | 'canceled' = 'completed'): Promise<void> {
    const call = this.mustGet(sid);
    if (ENDED.has(call.status)) return;
    await call.caller?.hangup();
    await this.setStatus(call, status);
  }

  async close(): Promise<void> {
    for (const c of this.calls.values()) if (c.caller) await c.caller.hangup().catch(() => undefined);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- REST -----------------------------------------------------------------------------------

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const form = req.method === 'POST' ? parseForm(body) : {};
    const path = (req.url ?? '/').split('?')[0]!;
    const authorized = this.authorized(req.headers.authorization);
    const record: FakeRestRequest = { method: req.method ?? 'GET', path, form, authorized, status: 0 };
    this.requests.push(record);
    const send = (status: number, json: unknown): void => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(json));
    };

    if (!authorized) {
      this.counters.unauthorized++;
      return send(401, { code: 20003, detail: 'Your AccountSid or AuthToken was incorrect.', message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
    }
    const m = path.match(/^\/2010-04-01\/Accounts\/([^/]+)\/Calls(?:\/([^/]+))?\.json$/);
    if (!m || m[1] !== this.accountSid) return send(404, this.notFound(path));
    const sid = m[2];
    const op: Op | undefined = sid === undefined ? (req.method === 'POST' ? 'create' : undefined) : req.method === 'POST' ? 'update' : req.method === 'GET' ? 'fetch' : undefined;
    if (!op) return send(405, { code: 20004, message: 'Method not allowed', more_info: 'https://www.twilio.com/docs/errors/20004', status: 405 });
    this.counters[op]++;
    const failure = this.failures[op].shift();
    if (failure) return send(failure.status, { code: failure.code ?? 20500, message: failure.message ?? 'Internal Server Error', more_info: `https://www.twilio.com/docs/errors/${failure.code ?? 20500}`, status: failure.status });

    if (op === 'create') {
      const created = this.create(form);
      if ('error' in created) return send(400, created.error);
      send(201, this.json(created.call));
      // Twilio places the call after answering the request: `initiated` follows the 201.
      setImmediate(() => void this.setStatus(created.call, 'initiated'));
      for (const w of this.createdWaiters.splice(0)) w(created.call);
      return;
    }
    const call = this.calls.get(sid!);
    if (!call) {
      this.counters.notFound++;
      return send(404, this.notFound(path));
    }
    if (op === 'fetch') return send(200, this.json(call));
    const result = await this.update(call, form);
    if (result) return send(400, result);
    send(200, this.json(call));
  }

  private authorized(header: string | undefined): boolean {
    const m = header?.match(/^Basic\s+(.+)$/i);
    if (!m) return false;
    const [user, ...rest] = Buffer.from(m[1]!, 'base64').toString('utf8').split(':');
    return user === this.accountSid && safeEqual(rest.join(':'), this.authToken);
  }

  private create(form: Record<string, string | string[]>): { call: FakeTwilioCall } | { error: unknown } {
    const to = one(form.To);
    const from = one(form.From);
    const url = one(form.Url);
    const twiml = one(form.Twiml);
    if (!to) return { error: this.badRequest(21201, "No 'To' number is specified") };
    if (!from) return { error: this.badRequest(21603, "A 'From' phone number is required.") };
    if (!url && !twiml && !one(form.ApplicationSid)) return { error: this.badRequest(21205, 'Url parameter is required.') };
    if (twiml && twiml.length > 4000) return { error: this.badRequest(21232, 'Twiml must be at most 4000 characters.') };
    const statusCallback = one(form.StatusCallback);
    const events = many(form.StatusCallbackEvent).flatMap((e) => e.split(/\s+/)).filter(Boolean);
    const timeout = one(form.Timeout);
    const timeLimit = one(form.TimeLimit);
    const call: FakeTwilioCall = {
      sid: twilioSid('CA'),
      accountSid: this.accountSid,
      to,
      from,
      status: 'queued',
      method: one(form.Method) ?? 'POST',
      statusCallbackMethod: one(form.StatusCallbackMethod) ?? 'POST',
      statusCallbackEvents: statusCallback && events.length === 0 ? ['completed'] : events,
      forms: [form],
      createdAt: new Date(),
      callbacks: [],
      // Both given: Twilio uses Url and ignores Twiml.
      ...(url ? { url } : twiml ? { twiml } : {}),
      ...(statusCallback ? { statusCallback } : {}),
      ...(timeout ? { timeout: Number(timeout) } : {}),
      ...(timeLimit ? { timeLimit: Number(timeLimit) } : {}),
    };
    this.calls.set(call.sid, call);
    return { call };
  }

  /** Applies an update; returns an error body when Twilio would refuse it. */
  private async update(call: FakeTwilioCall, form: Record<string, string | string[]>): Promise<unknown> {
    call.forms.push(form);
    const status = one(form.Status);
    const twiml = one(form.Twiml);
    const url = one(form.Url);
    if (twiml && url) return this.badRequest(21204, 'Url and Twiml are mutually exclusive.');
    if (status) {
      if (status !== 'completed' && status !== 'canceled') return this.badRequest(21218, `Invalid Status: ${status}`);
      // canceled only ends calls that have not been answered; completed ends any live call.
      if (ENDED.has(call.status) || (status === 'canceled' && call.status === 'in-progress')) return undefined;
      await call.caller?.hangup();
      await this.setStatus(call, status);
      return undefined;
    }
    if (twiml || url) {
      if (call.status !== 'in-progress') return this.badRequest(21220, 'Call is not in-progress. Cannot redirect.');
      if (twiml) {
        call.twiml = twiml;
        delete call.url;
      } else {
        call.url = url!;
        delete call.twiml;
      }
      // New TwiML replaces the running <Connect><Stream>: Twilio stops the media stream.
      await call.caller?.hangup();
    }
    return undefined;
  }

  // --- webhooks -------------------------------------------------------------------------------

  private async setStatus(call: FakeTwilioCall, status: FakeCallStatus): Promise<void> {
    if (RANK[status] <= RANK[call.status]) return;
    call.status = status;
    if (!call.statusCallback || !call.statusCallbackEvents.includes(EVENT_OF[status])) return;
    const form: Record<string, string> = {
      ...this.webhookForm(call),
      CallStatus: status,
      CallbackSource: 'call-progress-events',
      Timestamp: rfc2822(new Date()),
      SequenceNumber: String(call.callbacks.length),
    };
    if (ENDED.has(status)) form.CallDuration = String(Math.round((Date.now() - call.createdAt.getTime()) / 1000));
    const res = await this.webhook(call.statusCallback, form, call.statusCallbackMethod).catch(() => ({ status: 0, body: '' }));
    call.callbacks.push({ status, httpStatus: res.status });
  }

  private webhookForm(call: FakeTwilioCall): Record<string, string> {
    return {
      AccountSid: call.accountSid,
      ApiVersion: '2010-04-01',
      CallSid: call.sid,
      CallStatus: call.status,
      Called: call.to,
      Caller: call.from,
      Direction: 'outbound-api',
      From: call.from,
      To: call.to,
    };
  }

  /** Sends a webhook the way Twilio does: form-encoded POST signed over the configured URL (GET: params in the query). */
  private async webhook(url: string, form: Record<string, string>, method: string): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { 'User-Agent': 'TwilioProxy/1.1', Accept: '*/*' };
    let target = url;
    let body: string | undefined;
    if (method.toUpperCase() === 'GET') {
      const u = new URL(url);
      for (const [k, v] of Object.entries(form)) u.searchParams.set(k, v);
      target = u.toString();
      headers['X-Twilio-Signature'] = twilio.getExpectedTwilioSignature(this.authToken, target, {});
    } else {
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      headers['X-Twilio-Signature'] = twilio.getExpectedTwilioSignature(this.authToken, url, form);
      body = new URLSearchParams(form).toString();
    }
    const res = await fetch(this.rewrite(target), { method: method.toUpperCase(), headers, ...(body === undefined ? {} : { body }) });
    return { status: res.status, body: await res.text() };
  }

  private rewrite(url: string): string {
    if (!this.deliverTo) return url;
    const u = new URL(url);
    const to = new URL(this.deliverTo);
    u.host = to.host;
    u.protocol = u.protocol === 'wss:' || u.protocol === 'ws:' ? (to.protocol === 'https:' ? 'wss:' : 'ws:') : to.protocol;
    return u.toString();
  }

  // --- bodies ---------------------------------------------------------------------------------

  private json(call: FakeTwilioCall): Record<string, unknown> {
    const uri = `${API}/Accounts/${call.accountSid}/Calls/${call.sid}.json`;
    return {
      account_sid: call.accountSid,
      annotation: null,
      answered_by: null,
      api_version: '2010-04-01',
      caller_name: null,
      date_created: rfc2822(call.createdAt),
      date_updated: rfc2822(new Date()),
      direction: 'outbound-api',
      duration: null,
      end_time: null,
      forwarded_from: null,
      from: call.from,
      from_formatted: call.from,
      group_sid: null,
      parent_call_sid: null,
      phone_number_sid: null,
      price: null,
      price_unit: 'USD',
      queue_time: '0',
      sid: call.sid,
      start_time: null,
      status: call.status,
      subresource_uris: {
        notifications: uri.replace('.json', '/Notifications.json'),
        recordings: uri.replace('.json', '/Recordings.json'),
      },
      to: call.to,
      to_formatted: call.to,
      trunk_sid: null,
      uri,
    };
  }

  private notFound(path: string): Record<string, unknown> {
    return { code: 20404, message: `The requested resource ${path} was not found`, more_info: 'https://www.twilio.com/docs/errors/20404', status: 404 };
  }

  private badRequest(code: number, message: string): Record<string, unknown> {
    return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 };
  }

  private mustGet(sid: string): FakeTwilioCall {
    const call = this.calls.get(sid);
    if (!call) throw new Error(`no call ${sid}`);
    return call;
  }
}
