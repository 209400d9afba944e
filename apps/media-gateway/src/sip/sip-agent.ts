import { BlockList, isIP, isIPv6 } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Subscription } from '@nats-io/nats-core';
import sip, { type SipMessage, type SipUri } from 'sip';
import digest, { type DigestContext } from 'sip/digest.js';
import { ErrorCodes, SwitchboardError, contracts, type AgentDefinition, type CallStarted, type DialReply } from '@switchboard/contracts';
import type { AgentDirectory } from '@switchboard/agents';
import { CallLeg } from '../calls/call-leg.ts';
import { claim, type LegContext } from '../calls/open-leg.ts';
import type { DialRecord } from '../calls/call-state.ts';
import type { OutboundCarrier, PlacedCall } from '../handlers/dial.handler.ts';
import { CallRecorder } from '../calls/recorder.ts';
import { newCallId } from '../calls/call-id.ts';
import { RtpClock } from '../rtp/rtp-clock.ts';
import { RtpPortPool } from '../rtp/port-pool.ts';
import { RtpSession, RtpStats, type MediaParams } from '../rtp/rtp-session.ts';
import { negotiateOffer, parseAnswer, type Negotiated } from './sdp.ts';
import { ALLOW, SipCall, USER_AGENT, mediaParams, randomTag, uriUser, type SipCallHost } from './sip-call.ts';
import { SipStack, type Remote } from './sip-stack.ts';


const tracer = trace.getTracer('switchboard-sip');
/** How far ahead of real time the call leg hands frames to RTP: the RTP clock paces the rest. */
const SIP_LEAD_MS = 40;
/** Longest a dial (or bridged transfer) waits for the trunk's first response. */
const FIRST_RESPONSE_TIMEOUT_MS = 8000;
/** SIP statuses after which trying the same call again later may succeed (and every 5xx). */
const RETRYABLE_SIP = new Set([408, 480, 486, 487, 600]);

/** The SIP settings of the gateway config (see config.ts). */
export interface SipConfig {
  SIP_HOST: string;
  SIP_PUBLIC_IP?: string | undefined;
  RTP_PORT_MIN: number;
  RTP_PORT_MAX: number;
  RTP_JITTER_MS: number;
  RTP_TIMEOUT_S: number;
  SIP_PLAYOUT_DELAY_MS: number;
  SIP_DEFAULT_AGENT?: string | undefined;
  SIP_ALLOWED_SOURCES?: string | undefined;
  SIP_TRUNK_URI?: string | undefined;
  SIP_TRUNK_USERNAME?: string | undefined;
  SIP_TRUNK_PASSWORD?: string | undefined;
  SIP_FROM_NUMBER?: string | undefined;
}

export interface SipAgentDeps {
  config: SipConfig;
  legs: LegContext;
  agents: AgentDirectory;
  log: Logger;
  instanceId: string;
  /** True once the gateway drains: new INVITEs get 503. */
  isDraining: () => boolean;
  recordingsDir?: string | undefined;
}

/** Figures for health details and the benchmark. */
export interface SipCounters {
  invites: number;
  answered: number;
  rejected: number;
  cancelled: number;
  notAcceptable: number;
  options: number;
  dialled: number;
}

/** A placed INVITE: its first response (for the dial reply) and its answer. */
interface Outgoing {
  call: SipCall;
  first: Promise<DialReply['status']>;
  answered: Promise<SipCall>;
  /** Gives up: CANCEL while it rings, BYE if it answers later. */
  abandon(): void;
}

/** Local IPv4 address to advertise when none is configured: the first non-internal one, else loopback. */
export async function defaultPublicAddress(host: string): Promise<string> {
  if (host !== '0.0.0.0' && host !== '::') return host;
  const { networkInterfaces } = await import('node:os');
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

function allowList(spec: string | undefined): BlockList | undefined {
  if (!spec?.trim()) return undefined;
  const list = new BlockList();
  for (const raw of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const [addr, prefix] = raw.split('/');
    const type = isIPv6(addr!) ? 'ipv6' : 'ipv4';
    if (!isIP(addr!)) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `SIP_ALLOWED_SOURCES: ${raw} is not an IP address or CIDR`);
    if (prefix !== undefined) list.addSubnet(addr!, Number(prefix), type);
    else list.addAddress(addr!, type);
  }
  return list;
}

/**
 * The gateway's SIP user agent: answers INVITEs (100, 180, claim by an orchestrator, 200 with the SDP
 * answer; 488 without a common codec; 404 when nothing routes the called user; 480 when no
 * orchestrator claims the call), handles ACK, BYE, CANCEL, OPTIONS, re-INVITE (hold), NOTIFY and INFO,
 * places outbound calls through the trunk with digest authentication, and owns every call's RTP.
 */
export class SipAgent implements SipCallHost, OutboundCarrier {
  readonly stack: SipStack;
  readonly log: Logger;
  readonly rtpStats = new RtpStats();
  readonly counters: SipCounters = { invites: 0, answered: 0, rejected: 0, cancelled: 0, notAcceptable: 0, options: 0, dialled: 0 };
  /** Live SIP calls by SIP Call-ID. */
  readonly calls = new Map<string, SipCall>();
  private readonly pool: RtpPortPool;
  private readonly clock = new RtpClock();
  private readonly allowed: BlockList | undefined;
  private readonly trunk: { uri: SipUri; host: string } | undefined;
  bridge?: (call: SipCall, destination: string) => Promise<void>;

  constructor(
    private readonly deps: SipAgentDeps,
    publicAddress: string,
  ) {
    const { config } = deps;
    this.log = deps.log.child({ component: 'sip' });
    this.stack = new SipStack({ publicAddress, log: this.log, onRequest: (rq, remote) => this.onRequest(rq, remote) });
    this.pool = new RtpPortPool(config.RTP_PORT_MIN, config.RTP_PORT_MAX, config.SIP_HOST);
    this.allowed = allowList(config.SIP_ALLOWED_SOURCES);
    if (config.SIP_TRUNK_URI) {
      const uri = sip.parseUri(config.SIP_TRUNK_URI);
      if (!uri) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `SIP_TRUNK_URI: ${config.SIP_TRUNK_URI} is not a SIP URI`);
      this.trunk = { uri, host: uri.port ? `${uri.host}:${uri.port}` : uri.host };
      this.bridge = (call, destination) => this.bridgeTransfer(call, destination);
    }
  }

  listen(port: number, host: string): Promise<number> {
    return this.stack.listen(port, host);
  }

  get port(): number {
    return this.stack.port;
  }

  /** Hangs up every call (BYE) and closes the socket. */
  close(): void {
    for (const call of [...this.calls.values()]) {
      if (call.leg && !call.leg.isEnded) call.leg.end('error');
      else call.hangupNow();
    }
    // Let the BYEs leave before the socket closes.
    setTimeout(() => this.stack.close(), 50).unref();
  }

  stats(): Record<string, unknown> {
    return { port: this.port, calls: this.calls.size, rtpPorts: this.pool.active, ...this.counters, malformed: this.stack.malformed, rtp: { ...this.rtpStats.snapshot(), clockLatenessMs: this.clock.lateness.summary() } };
  }

  forget(call: SipCall): void {
    if (this.calls.get(call.sipCallId) === call) this.calls.delete(call.sipCallId);
  }

  transferUri(call: SipCall, destination: string): string {
    const host = this.trunk?.host ?? sip.parseUri(call.remoteTarget)?.host ?? this.stack.publicAddress;
    return `sip:${destination}@${host}`;
  }

  // ---------------------------------------------------------------------------------------------
  // Requests

  private onRequest(rq: SipMessage, remote: Remote): void {
    const method = rq.method!;
    const call = this.calls.get(rq.headers['call-id']);
    const toTag = rq.headers.to.params.tag;
    if (method === 'CANCEL') {
      if (call && call.role === 'uas' && call.invite && !call.finalSent) {
        this.stack.reply(rq, 200, 'OK');
        this.counters.cancelled++;
        call.cancelled();
      } else {
        this.stack.reply(rq, call ? 200 : 481, call ? 'OK' : 'Call/Transaction Does Not Exist');
      }
      return;
    }
    if (call && (toTag ? toTag === call.localTag : method === 'ACK')) {
      call.onRequest(rq, remote);
      return;
    }
    if (method === 'ACK') return; // ACK of a final response we no longer track: nothing to do.
    if (method === 'OPTIONS' && !toTag) {
      this.counters.options++;
      this.stack.reply(rq, 200, 'OK', { headers: { allow: ALLOW, accept: 'application/sdp', 'accept-language': 'en', supported: '', 'user-agent': USER_AGENT } });
      return;
    }
    if (method === 'INVITE' && !toTag) {
      if (call) return; // the same INVITE again on a new branch: already being handled
      // One SIP call is one trace: the INVITE handling is its root span (a fresh context, never the socket's).
      const span = tracer.startSpan('SIP INVITE', { kind: SpanKind.SERVER, attributes: { 'sip.call_id': rq.headers['call-id'] } }, ROOT_CONTEXT);
      void context.with(trace.setSpan(ROOT_CONTEXT, span), () => this.onInvite(rq, remote)).catch((err: unknown) => {
        span.setStatus({ code: SpanStatusCode.ERROR });
        this.log.error({ err }, 'INVITE handling failed');
        const c = this.calls.get(rq.headers['call-id']);
        if (c) c.rejectInvite(500, 'Server Internal Error');
        else this.stack.reply(rq, 500, 'Server Internal Error');
      }).finally(() => span.end());
      return;
    }
    if (toTag || method === 'BYE') {
      this.stack.reply(rq, 481, 'Call/Transaction Does Not Exist');
      return;
    }
    this.stack.reply(rq, 501, 'Not Implemented', { headers: { allow: ALLOW } });
  }

  private async onInvite(rq: SipMessage, remote: Remote): Promise<void> {
    this.counters.invites++;
    const sipCallId = rq.headers['call-id'];
    const log = this.log.child({ sip_call_id: sipCallId });
    this.stack.reply(rq, 100, 'Trying');
    const reject = (status: number, reason: string, headers: Record<string, unknown> = {}) => {
      this.counters.rejected++;
      log.info({ status, reason }, 'INVITE rejected');
      this.stack.reply(rq, status, reason, { headers: { to: { ...rq.headers.to, params: { ...rq.headers.to.params, tag: randomTag() } }, 'user-agent': USER_AGENT, ...headers } });
    };
    if (this.allowed && !this.allowed.check(remote.address, isIPv6(remote.address) ? 'ipv6' : 'ipv4')) return reject(403, 'Forbidden');
    if (this.deps.isDraining()) return reject(503, 'Service Unavailable', { 'retry-after': '30' });
    const type = String(rq.headers['content-type'] ?? '').toLowerCase();
    if (!rq.content || !type.startsWith('application/sdp')) {
      this.counters.notAcceptable++;
      return reject(488, 'Not Acceptable Here', { warning: `399 ${this.stack.publicAddress} "an SDP offer in the INVITE is required"` });
    }
    const n = negotiateOffer(rq.content);
    if ('ok' in n) {
      this.counters.notAcceptable++;
      return reject(488, 'Not Acceptable Here', { warning: `305 ${this.stack.publicAddress} "${n.reason}"` });
    }
    const toUser = uriUser(rq.headers.to.uri);
    const agent = await this.route(toUser);
    if (!agent) return reject(404, 'Not Found');
    let rtp: RtpSession;
    try {
      rtp = await this.openRtp(mediaParams(n), log);
    } catch (err) {
      log.error({ err }, 'no RTP port for the call');
      return reject(503, 'Service Unavailable');
    }
    const contact = Array.isArray(rq.headers.contact) ? rq.headers.contact[0] : undefined;
    const call = new SipCall({
      role: 'uas',
      sipCallId,
      localAor: rq.headers.to,
      remoteAor: rq.headers.from,
      localTag: randomTag(),
      remoteTag: (rq.headers.from.params.tag as string | undefined) ?? undefined,
      remoteTarget: contact ? sip.stringifyUri(contact.uri) : sip.stringifyUri(rq.headers.from.uri),
      remoteFlow: remote,
      routeSet: rq.headers['record-route'] ?? [],
      rtp,
      log,
    });
    call.invite = rq;
    call.remoteSeq = rq.headers.cseq.seq;
    call.bind(this);
    this.calls.set(sipCallId, call);
    call.ringing();

    const started: CallStarted = {
      callId: newCallId(),
      accountId: agent.accountId ?? 'default',
      agentId: agent.id,
      direction: 'inbound',
      carrier: 'sip',
      from: uriUser(rq.headers.from.uri),
      to: toUser,
      carrierCallId: sipCallId,
      startedAt: new Date().toISOString(),
      gatewayInstance: this.deps.instanceId,
    };
    call.log = log.child({ call_id: started.callId });
    const { leg, claimed } = this.openLeg(started, call);
    const ok = await claimed;
    if (call.isTerminated || leg.isEnded) return; // cancelled while ringing
    if (!ok) {
      this.counters.rejected++;
      leg.end('error'); // → 480 Temporarily Unavailable
      return;
    }
    call.answer(n);
    this.counters.answered++;
    void this.deps.legs.events.answered({ callId: started.callId, accountId: started.accountId, agentId: started.agentId, carrier: 'sip', direction: 'inbound', answeredAt: new Date().toISOString(), carrierCallId: sipCallId });
    call.log.info({ agent: agent.id, codec: n.codec, dtmfPt: n.dtmfPayloadType, rtpPort: rtp.port, remote: `${n.remote.address}:${n.remote.port}` }, 'SIP call answered');
  }

  /** The called user → agent: a number routes like Twilio's `To`; anything else (or an unknown number) goes to SIP_DEFAULT_AGENT. */
  async route(user: string): Promise<AgentDefinition | undefined> {
    const digits = user.replace(/[\s\-().]/g, '');
    if (/^\+?\d{3,15}$/.test(digits)) {
      const found = (await this.deps.agents.forNumber(digits.startsWith('+') ? digits : `+${digits}`)) ?? (await this.deps.agents.forNumber(digits));
      if (found) return found;
    }
    const fallback = this.deps.config.SIP_DEFAULT_AGENT;
    return fallback ? this.deps.agents.get(fallback) : undefined;
  }

  // ---------------------------------------------------------------------------------------------
  // Legs and media

  private async openRtp(media: MediaParams, log: Logger): Promise<RtpSession> {
    const { socket, port } = await this.pool.open();
    const c = this.deps.config;
    return new RtpSession({ socket, port, media, clock: this.clock, stats: this.rtpStats, log, jitterMs: c.RTP_JITTER_MS, playoutDelayMs: c.SIP_PLAYOUT_DELAY_MS, timeoutMs: c.RTP_TIMEOUT_S * 1000 });
  }

  /**
   * The SIP counterpart of `openLeg` (src/calls/open-leg.ts): the leg subscribes its subjects and
   * `evt.call.started` goes out before an orchestrator is asked to claim the call; unlike Twilio, SIP
   * answers only once the claim succeeded (the caller hears ringing meanwhile, and a call nobody can
   * take is refused with 480 instead of answered and dropped), so the claim is returned, not awaited.
   */
  private openLeg(started: CallStarted, call: SipCall): { leg: CallLeg; claimed: Promise<boolean> } {
    const ctx = this.deps.legs;
    const recordingsDir = this.deps.recordingsDir ?? ctx.recordingsDir;
    const recorder = recordingsDir ? new CallRecorder(recordingsDir, started.callId, performance.now()) : undefined;
    const subs: Subscription[] = [];
    const onEnded = (l: CallLeg) => {
      ctx.legs.delete(l.callId);
      for (const s of subs) s.unsubscribe();
    };
    const leg = new CallLeg(started, ctx.bus, call, ctx.pacer, call.log, SIP_LEAD_MS, onEnded, { events: ctx.events, ...(recorder ? { recorder } : {}) });
    ctx.legs.set(started.callId, leg);
    call.attachLeg(leg);
    leg.attach();
    const dtmfSub = ctx.bus.handle(
      contracts.sendDtmf,
      async (req) => {
        if (leg.isEnded) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call has already ended');
        try {
          await call.rtp.sendDigits(req.digits, req.durationMs ?? 160);
        } catch (err) {
          throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, `DTMF not sent: ${(err as Error).message}`, { retryable: false });
        }
        return { ok: true, sent: req.digits.length };
      },
      { param: started.callId },
    );
    subs.push(dtmfSub);
    void ctx.events.started(started);
    return { leg, claimed: claim(ctx.bus, started, call.log) };
  }

  // ---------------------------------------------------------------------------------------------
  // Outbound

  /**
   * `OutboundCarrier` for the dial handler (handlers/dial.handler.ts): places the call of a stored dial
   * record through the SIP trunk. Resolves with the trunk's first answer (`queued` on 100, `ringing` on
   * 18x, `answered` on 2xx); a refusal before that rejects with CARRIER_FAILED. Once answered, the call
   * starts like an inbound one (`direction: outbound`, the record's variables). A refusal after the
   * reply (busy, no answer) ends the call with reason `rejected`.
   */
  async dial(record: DialRecord, opts: { maxDurationSec?: number } = {}): Promise<PlacedCall> {
    if (!this.trunk) throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'SIP outbound calls need SIP_TRUNK_URI', { retryable: false });
    const { callId, accountId, agentId, to, variables } = record;
    const from = record.from || this.deps.config.SIP_FROM_NUMBER || 'switchboard';
    const log = this.log.child({ call_id: callId });
    const out = await this.invite(to, from, log);
    this.counters.dialled++;
    const sipCallId = out.call.sipCallId;
    const events = this.deps.legs.events;
    let replied = false;
    void out.first.then((status) => {
      if (status === 'ringing') void events.ringing({ callId, accountId, agentId, carrier: 'sip', carrierCallId: sipCallId, at: new Date().toISOString() });
    }, () => undefined);
    out.answered.then(
      (call) => {
        const started: CallStarted = {
          callId,
          accountId,
          agentId,
          direction: 'outbound',
          carrier: 'sip',
          from,
          to,
          carrierCallId: sipCallId,
          startedAt: new Date().toISOString(),
          gatewayInstance: this.deps.instanceId,
          ...(Object.keys(variables).length ? { variables } : {}),
        };
        call.log = log;
        const { leg, claimed } = this.openLeg(started, call);
        void events.answered({ callId, accountId, agentId, carrier: 'sip', direction: 'outbound', answeredAt: started.startedAt, carrierCallId: sipCallId });
        void claimed.then((ok) => {
          if (!ok) leg.end('error');
        });
        if (opts.maxDurationSec) {
          const t = setTimeout(() => {
            if (leg.isEnded) return;
            log.info({ maxDurationSec: opts.maxDurationSec }, 'call reached its maximum duration');
            void call.hangup().finally(() => leg.end('agent-hangup'));
          }, opts.maxDurationSec * 1000);
          t.unref();
        }
      },
      (err: unknown) => {
        log.info({ err: (err as Error).message }, 'outbound SIP call not answered');
        // Refused after the dial reply went out: the call never started, but its end is announced.
        if (replied) void events.ended({ callId, accountId, agentId, reason: 'rejected', endedAt: new Date().toISOString(), durationMs: 0 });
      },
    );
    try {
      const status = await out.first;
      replied = true;
      return { carrierCallId: sipCallId, status };
    } catch (err) {
      out.abandon();
      throw err;
    }
  }

  /** Transfer fallback when REFER is refused: a call to `destination` through the trunk, bridged to `caller` once answered. */
  private async bridgeTransfer(caller: SipCall, destination: string): Promise<void> {
    const from = uriUser(caller.localAor.uri) || this.deps.config.SIP_FROM_NUMBER || 'switchboard';
    const out = await this.invite(destination, /^\+?\d+$/.test(from) ? from : (this.deps.config.SIP_FROM_NUMBER ?? from), caller.log.child({ bridge: true }));
    try {
      await out.first;
    } catch (err) {
      out.abandon();
      throw err;
    }
    caller.startRingback();
    out.answered.then(
      (callee) => {
        if (caller.isTerminated) return callee.hangupNow();
        caller.bridgeWith(callee);
      },
      (err: unknown) => {
        caller.log.warn({ err: (err as Error).message }, 'bridged transfer not answered: releasing the caller');
        caller.hangupNow();
      },
    );
  }

  /** Sends an INVITE to `to` through the trunk with our offer; handles digest challenges, the ACK and CANCEL. */
  private async invite(to: string, from: string, log: Logger): Promise<Outgoing> {
    const trunk = this.trunk!;
    const rtp = await this.openRtp({ codec: 'PCMU', payloadType: 0, send: false }, log);
    const sipCallId = `${randomBytes(12).toString('hex')}@${this.stack.publicAddress}`;
    const requestUri = sip.stringifyUri({ ...trunk.uri, user: to, params: { ...trunk.uri.params }, headers: {} });
    const localUri = `sip:${from}@${isIPv6(this.stack.publicAddress) ? `[${this.stack.publicAddress}]` : this.stack.publicAddress}`;
    const call = new SipCall({
      role: 'uac',
      sipCallId,
      localAor: { uri: localUri, params: {} },
      remoteAor: { uri: `sip:${to}@${trunk.host}`, params: {} },
      localTag: randomTag(),
      remoteTarget: requestUri,
      rtp,
      log,
    });
    call.bind(this);
    this.calls.set(sipCallId, call);
    const c = this.deps.config;
    const creds = c.SIP_TRUNK_USERNAME ? { user: c.SIP_TRUNK_USERNAME, password: c.SIP_TRUNK_PASSWORD ?? '' } : undefined;
    const auth: DigestContext = {};
    let challenges = 0;
    let current: SipMessage | undefined;
    let provisional = false;
    let abandoned = false;
    let settled = false;

    let resolveFirst!: (s: DialReply['status']) => void;
    let rejectFirst!: (e: Error) => void;
    const first = new Promise<DialReply['status']>((res, rej) => {
      resolveFirst = res;
      rejectFirst = rej;
    });
    let resolveAnswered!: (c: SipCall) => void;
    let rejectAnswered!: (e: Error) => void;
    const answered = new Promise<SipCall>((res, rej) => {
      resolveAnswered = res;
      rejectAnswered = rej;
    });
    first.catch(() => undefined);
    answered.catch(() => undefined);
    const firstTimer = setTimeout(() => rejectFirst(new SwitchboardError(ErrorCodes.CARRIER_FAILED, `the SIP trunk did not answer the INVITE within ${FIRST_RESPONSE_TIMEOUT_MS} ms`, { retryable: true })), FIRST_RESPONSE_TIMEOUT_MS);
    firstTimer.unref();

    const fail = (status: number, reason: string) => {
      call.hangupNow();
      if (settled) return;
      settled = true;
      clearTimeout(firstTimer);
      const err = new SwitchboardError(ErrorCodes.CARRIER_FAILED, `the SIP trunk refused the call: ${status} ${reason}`, { retryable: RETRYABLE_SIP.has(status) || (status >= 500 && status < 600), details: { sipStatus: status } });
      rejectFirst(err);
      rejectAnswered(err);
    };

    const send = (challenge?: SipMessage) => {
      const rq: SipMessage = {
        method: 'INVITE',
        uri: requestUri,
        headers: {
          via: [],
          to: call.remoteAor,
          from: call.localAor,
          'call-id': sipCallId,
          cseq: { seq: ++call.localSeq, method: 'INVITE' },
          'max-forwards': 70,
          contact: [{ uri: call.contactUri(), params: {} }],
          allow: ALLOW,
          'user-agent': USER_AGENT,
          'content-type': 'application/sdp',
        },
        content: call.offer(),
      };
      if (challenge && creds) digest.signRequest(auth, rq, challenge, creds);
      current = rq;
      this.stack.request(rq, (rs) => onResponse(rq, rs));
    };

    const onResponse = (rq: SipMessage, rs: SipMessage) => {
      const status = rs.status!;
      if (rq !== current && status < 200) return;
      if (status < 200) {
        if (!provisional) {
          provisional = true;
          clearTimeout(firstTimer);
          resolveFirst(status >= 180 ? 'ringing' : 'queued');
        } else if (status >= 180) resolveFirst('ringing');
        return;
      }
      if (status < 300) {
        if (call.state === 'confirmed') return call.sendAck(rq); // a retransmitted 2xx
        clearTimeout(firstTimer);
        call.confirmFrom2xx(rq, rs);
        if (abandoned || settled) {
          log.info('answered after the dial was abandoned: hanging up');
          call.hangupNow();
          return;
        }
        const answer = rs.content ? parseAnswer(rs.content) : ({ ok: false, reason: 'no SDP in the 200 OK' } as const);
        if ('ok' in answer) {
          log.warn({ reason: answer.reason }, 'unusable SDP answer: hanging up');
          fail(488, answer.reason);
          return;
        }
        settled = true;
        call.rtp.update(mediaParams(answer as Negotiated));
        call.rtp.start();
        resolveFirst('answered');
        resolveAnswered(call);
        return;
      }
      if ((status === 401 || status === 407) && creds && challenges < 2 && !abandoned) {
        challenges++;
        log.debug({ status }, 'digest challenge: INVITE again with credentials');
        send(rs);
        return;
      }
      fail(status, rs.reason ?? '');
    };

    send();
    return {
      call,
      first,
      answered,
      abandon: () => {
        if (abandoned) return;
        abandoned = true;
        if (call.state === 'confirmed') return call.hangupNow();
        if (current && provisional) this.cancel(current);
        if (!settled) {
          settled = true;
          const err = new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'the call was abandoned before it was answered', { retryable: true });
          rejectAnswered(err);
          // The CANCEL's 487 (or the INVITE timing out) ends the transaction; the call is forgotten now.
          setTimeout(() => call.hangupNow(), 32_000).unref();
        }
      },
    };
  }

  /** CANCEL for a pending INVITE (same Request-URI, Call-ID, From, To, CSeq number and top Via). */
  private cancel(invite: SipMessage): void {
    const rq: SipMessage = {
      method: 'CANCEL',
      uri: invite.uri!,
      headers: {
        via: [invite.headers.via[0]!],
        to: invite.headers.to,
        from: invite.headers.from,
        'call-id': invite.headers['call-id'],
        cseq: { seq: invite.headers.cseq.seq, method: 'CANCEL' },
        'max-forwards': 70,
      },
    };
    this.stack.request(rq, () => undefined);
  }
}
