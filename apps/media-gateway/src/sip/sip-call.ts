import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import sip, { type NameAddr, type SipMessage } from 'sip';
import { FrameChunker } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError, type CallEnded } from '@switchboard/contracts';
import type { CallLeg, CarrierSink } from '../calls/call-leg.ts';
import type { RtpSession, MediaParams } from '../rtp/rtp-session.ts';
import { answerDirection, buildAnswer, buildOffer, negotiateOffer, parseAnswer, weMaySend, type Direction, type Negotiated } from './sdp.ts';
import type { Remote, SipStack } from './sip-stack.ts';

/** Methods we accept (the Allow header). */
export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, INFO';
export const USER_AGENT = 'Switchboard media-gateway';

/** T1, T2 and the 64·T1 give-up time of RFC 3261 §17.1.1.1, used for 2xx retransmission. */
const T1 = 500;
const T2 = 4000;
const TIMER_H = 64 * T1;
/** How long an in-dialog request (BYE, REFER) waits for its final response before we move on. */
const IN_DIALOG_TIMEOUT_MS = 4000;
/** After REFER is accepted: how long we wait for the transferee's final NOTIFY before hanging up our side. */
const REFER_NOTIFY_TIMEOUT_MS = 32_000;
/** Bridged transfer: frames queued toward one side at most (bounds the delay the bridge can add). */
const BRIDGE_MAX_QUEUE = 6;

export function randomTag(): string {
  return randomBytes(6).toString('hex');
}

export function uriUser(uri: string | { user?: string } | undefined): string {
  if (!uri) return '';
  const parsed = typeof uri === 'string' ? sip.parseUri(uri) : uri;
  return decodeURIComponent(parsed?.user ?? '');
}

function withTag(a: NameAddr, tag: string | undefined): NameAddr {
  const params = { ...a.params };
  if (tag) params.tag = tag;
  return { ...(a.name ? { name: a.name } : {}), uri: a.uri, params };
}

/** Hosts that cannot be reached from outside a NAT (RFC 1918, loopback excluded: tests run there). */
function isPrivateHost(host: string | undefined): boolean {
  if (!host) return false;
  return /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|169\.254\.)/.test(host);
}

function sdpBody(m: SipMessage): string | undefined {
  const type = String(m.headers['content-type'] ?? '').toLowerCase();
  return m.content && type.startsWith('application/sdp') ? m.content : undefined;
}

/** RFC 2543 hold (c=0.0.0.0) read as the RFC 3264 direction it means. */
function effectiveDirection(n: Negotiated): Direction {
  if (n.remote.address !== '0.0.0.0') return n.remoteDirection;
  if (n.remoteDirection === 'sendrecv') return 'sendonly';
  if (n.remoteDirection === 'recvonly') return 'inactive';
  return n.remoteDirection;
}

export function mediaParams(n: Negotiated): MediaParams {
  const p: MediaParams = { codec: n.codec, payloadType: n.payloadType, remote: n.remote, send: weMaySend({ remote: n.remote, remoteDirection: effectiveDirection(n) }) };
  if (n.dtmfPayloadType !== undefined) p.dtmfPayloadType = n.dtmfPayloadType;
  return p;
}

/** What a call needs from the user agent that owns it. */
export interface SipCallHost {
  stack: SipStack;
  log: Logger;
  /** The call is over at the SIP level: forget it. */
  forget(call: SipCall): void;
  /** Transfer fallback when REFER is refused: a new call to `destination` through the trunk, bridged to this one. */
  bridge?(call: SipCall, destination: string): Promise<void>;
  /** The SIP URI a transfer target is reached at (through the trunk when one is configured). */
  transferUri(call: SipCall, destination: string): string;
}

export interface SipCallInit {
  role: 'uas' | 'uac';
  sipCallId: string;
  localAor: NameAddr;
  remoteAor: NameAddr;
  localTag: string;
  remoteTag?: string;
  remoteTarget: string;
  remoteFlow?: Remote;
  routeSet?: NameAddr[];
  rtp: RtpSession;
  log: Logger;
}

type State = 'proceeding' | 'early' | 'confirmed' | 'terminated';

/**
 * One SIP dialog with its RTP session, and the call's carrier side (`CarrierSink`) for the CallLeg:
 * agent frames go out as RTP, marks are reported once the packet carrying the frame before them has
 * been sent plus a playout-delay estimate (SIP gives no echo of what was heard), clear drops the RTP
 * queue, hang-up is a BYE, transfer a REFER (or a bridged call through the trunk when REFER is refused).
 */
export class SipCall implements CarrierSink {
  readonly role: 'uas' | 'uac';
  readonly sipCallId: string;
  readonly localTag: string;
  remoteTag: string | undefined;
  localAor: NameAddr;
  remoteAor: NameAddr;
  remoteTarget: string;
  routeSet: NameAddr[];
  readonly remoteFlow: Remote | undefined;
  readonly rtp: RtpSession;
  log: Logger;
  state: State = 'proceeding';
  leg: CallLeg | undefined;
  /** Our CSeq for requests we send in this dialog. */
  localSeq = 0;
  /** The other side's last CSeq (in-dialog requests with a lower one are out of order). */
  remoteSeq = 0;
  /** For the UAS: the initial INVITE, answered by ringing/answer/reject. */
  invite: SipMessage | undefined;
  /** Set once a final response to the initial INVITE has gone out (or arrived, for the UAC). */
  finalSent = false;
  private readonly sdpSession = Math.floor(Math.random() * 1e9);
  private sdpVersion = 1;
  private readonly pending2xx = new Map<number, { timer: NodeJS.Timeout; rq: SipMessage; rs: SipMessage; onAck?: (ack: SipMessage) => void }>();
  private byeSent = false;
  private byeReceived = false;
  /** A transfer keeps the dialog after the call leg ends: 'refer' waits for NOTIFY, 'bridge' relays audio. */
  private transferring: 'refer' | 'bridge' | undefined;
  private referTimer: NodeJS.Timeout | undefined;
  private bridgePeer: SipCall | undefined;
  private host: SipCallHost | undefined;
  private cleaned = false;
  /** Why the call ended at the SIP level, when the other side ended it. */
  endReason: CallEnded['reason'] | undefined;

  constructor(init: SipCallInit) {
    this.role = init.role;
    this.sipCallId = init.sipCallId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.localAor = withTag(init.localAor, init.localTag);
    this.remoteAor = init.remoteAor;
    this.remoteTarget = init.remoteTarget;
    this.remoteFlow = init.remoteFlow;
    this.routeSet = init.routeSet ?? [];
    this.rtp = init.rtp;
    this.log = init.log;
  }

  bind(host: SipCallHost): void {
    this.host = host;
  }

  private get stack(): SipStack {
    return this.host!.stack;
  }

  get isTerminated(): boolean {
    return this.state === 'terminated';
  }

  attachLeg(leg: CallLeg): void {
    this.leg = leg;
    this.rtp.handlers = {
      onAudio: (pcm) => leg.onCallerAudio(pcm),
      onDtmf: (d) => leg.onDtmf(d),
      onMarkPlayed: (name) => leg.onMarkPlayed(name),
      onTimeout: () => this.remoteEnded('stream-closed', true),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // CarrierSink

  sendAudio(frame: Int16Array): void {
    this.rtp.enqueueFrame(frame);
  }

  sendMark(name: string): void {
    this.rtp.enqueueMark(name);
  }

  sendClear(): void {
    // Marks already handed to RTP will not play now; like Twilio after `clear`, they are reported at once.
    for (const name of this.rtp.clearOutbound()) this.leg?.onMarkPlayed(name);
  }

  /** The call leg ended: hang up at the SIP level unless the other side already did, or a transfer holds the dialog. */
  close(): void {
    if (this.transferring) {
      this.leg = undefined;
      return;
    }
    if (!this.byeReceived && !this.byeSent && (this.state === 'confirmed' || (this.role === 'uas' && this.finalSent && this.state !== 'terminated'))) {
      void this.sendBye();
    } else if (this.role === 'uas' && !this.finalSent && this.invite) {
      this.rejectInvite(480, 'Temporarily Unavailable');
    }
    this.cleanup();
  }

  /** BYE, waiting for its response (at most a few seconds). */
  async hangup(): Promise<void> {
    if (this.byeReceived || this.byeSent || this.state === 'terminated') return;
    if (this.role === 'uas' && !this.finalSent) {
      this.rejectInvite(480, 'Temporarily Unavailable');
      return;
    }
    await this.rtp.drained();
    await this.sendBye();
  }

  /**
   * Blind transfer: REFER with Refer-To. 2xx → the transferee takes over; we hang up when its NOTIFY
   * reports the outcome (or after 32 s). REFER refused or unanswered → a bridged call through the trunk
   * when there is one; otherwise CARRIER_FAILED and the caller stays with the agent.
   */
  async transfer(destination: string): Promise<void> {
    if (this.state === 'terminated') throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call has already ended');
    if (this.state !== 'confirmed') throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, 'the call is not answered yet', { retryable: true });
    const target = this.host!.transferUri(this, destination);
    await this.rtp.drained();
    const rs = await this.inDialogRequest('REFER', { 'refer-to': { uri: target, params: {} }, 'referred-by': `<${sip.stringifyUri(this.localAor.uri)}>` });
    if (rs.status! >= 200 && rs.status! < 300) {
      this.log.info({ target, status: rs.status }, 'REFER accepted');
      this.transferring = 'refer';
      this.referTimer = setTimeout(() => {
        this.log.warn('no final NOTIFY for the REFER: hanging up our side');
        this.finishTransfer();
      }, REFER_NOTIFY_TIMEOUT_MS);
      this.referTimer.unref();
      return;
    }
    this.log.warn({ status: rs.status, reason: rs.reason }, 'REFER refused');
    if (!this.host!.bridge) {
      throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, `the far end refused REFER (${rs.status} ${rs.reason}) and no SIP trunk is configured for a bridged transfer`, { retryable: false });
    }
    await this.host!.bridge(this, destination);
    this.transferring = 'bridge';
  }

  // ---------------------------------------------------------------------------------------------
  // UAS side of the initial INVITE

  /** 180 Ringing with our To tag (establishes the early dialog). */
  ringing(): void {
    if (!this.invite || this.finalSent) return;
    this.state = 'early';
    this.stack.reply(this.invite, 180, 'Ringing', { headers: { to: withTag(this.invite.headers.to, this.localTag), contact: [{ uri: this.contactUri(), params: {} }] } });
  }

  rejectInvite(status: number, reason: string, headers: Record<string, unknown> = {}): void {
    if (!this.invite || this.finalSent) return;
    this.finalSent = true;
    this.stack.reply(this.invite, status, reason, { headers: { to: withTag(this.invite.headers.to, this.localTag), 'user-agent': USER_AGENT, ...headers } });
    this.state = 'terminated';
    this.cleanup();
  }

  /** 200 OK with the SDP answer; retransmitted until the ACK arrives. Media starts at once. */
  answer(n: Negotiated): void {
    if (!this.invite || this.finalSent) return;
    this.finalSent = true;
    const rs = this.okWithSdp(this.invite, buildAnswer(n, this.localSdp(answerDirection(effectiveDirection(n)))));
    this.state = 'confirmed';
    this.send2xx(this.invite, rs);
    this.rtp.start();
  }

  // ---------------------------------------------------------------------------------------------
  // UAC side: the dialog comes from the 2xx

  /** Dialog state from the 2xx to our INVITE; sends the ACK. */
  confirmFrom2xx(invite: SipMessage, rs: SipMessage): void {
    this.remoteTag = (rs.headers.to.params.tag as string | undefined) ?? undefined;
    this.remoteAor = withTag(rs.headers.to, this.remoteTag);
    const contact = Array.isArray(rs.headers.contact) ? rs.headers.contact[0] : undefined;
    if (contact) this.remoteTarget = sip.stringifyUri(contact.uri);
    this.routeSet = [...(rs.headers['record-route'] ?? [])].reverse();
    this.state = 'confirmed';
    this.finalSent = true;
    this.sendAck(invite);
  }

  /** ACK for a 2xx (again for each retransmitted 2xx): same CSeq number, its own branch, sent stateless. */
  sendAck(invite: SipMessage): void {
    const ack: SipMessage = {
      method: 'ACK',
      uri: this.remoteTarget,
      headers: {
        via: [{ protocol: 'UDP', host: '', params: { branch: sip.generateBranch() } }],
        to: this.remoteAor,
        from: this.localAor,
        'call-id': this.sipCallId,
        cseq: { seq: invite.headers.cseq.seq, method: 'ACK' },
        'max-forwards': 70,
        ...(this.routeSet.length ? { route: this.routeSet } : {}),
        ...(invite.headers.authorization ? { authorization: invite.headers.authorization } : {}),
        ...(invite.headers['proxy-authorization'] ? { 'proxy-authorization': invite.headers['proxy-authorization'] } : {}),
      },
    };
    this.stack.sendStateless(ack, this.destination());
  }

  /** Our SDP offer for an outbound INVITE. */
  offer(): string {
    return buildOffer(this.localSdp('sendrecv'));
  }

  // ---------------------------------------------------------------------------------------------
  // In-dialog requests from the other side

  onRequest(rq: SipMessage, _remote: Remote): void {
    const method = rq.method!;
    if (method === 'ACK') return this.onAck(rq);
    if (method === 'CANCEL') return; // handled by the agent (it needs the INVITE transaction)
    const seq = rq.headers.cseq.seq;
    if (this.remoteSeq && seq < this.remoteSeq && method !== 'ACK') {
      this.stack.reply(rq, 500, 'Server Internal Error', { headers: { 'retry-after': '1' } });
      return;
    }
    this.remoteSeq = seq;
    switch (method) {
      case 'BYE':
        this.stack.reply(rq, 200, 'OK');
        this.log.info('BYE from the far end');
        this.remoteEnded(this.transferring === 'refer' ? 'transferred' : 'caller-hangup', false);
        return;
      case 'INVITE':
        return this.onReInvite(rq);
      case 'NOTIFY':
        return this.onNotify(rq);
      case 'INFO':
        return this.onInfo(rq);
      case 'OPTIONS':
        this.stack.reply(rq, 200, 'OK', { headers: { allow: ALLOW, accept: 'application/sdp', 'user-agent': USER_AGENT } });
        return;
      default:
        this.stack.reply(rq, 501, 'Not Implemented', { headers: { allow: ALLOW } });
    }
  }

  /** CANCEL of our pending initial INVITE (UAS): 487 for the INVITE, the call ends. */
  cancelled(): void {
    if (this.finalSent) return;
    this.log.info('INVITE cancelled by the caller');
    this.endReason = 'caller-hangup';
    const leg = this.leg;
    this.rejectInvite(487, 'Request Terminated');
    leg?.end('caller-hangup');
  }

  private onAck(ack: SipMessage): void {
    const p = this.pending2xx.get(ack.headers.cseq.seq);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending2xx.delete(ack.headers.cseq.seq);
    p.onAck?.(ack);
  }

  /** re-INVITE: hold (sendonly/inactive) and unhold (sendrecv), a new address, or a codec change. */
  private onReInvite(rq: SipMessage): void {
    if (this.state !== 'confirmed') {
      this.stack.reply(rq, 491, 'Request Pending');
      return;
    }
    const body = sdpBody(rq);
    if (!body) {
      // No offer: ours goes in the 200, the answer comes in the ACK.
      const rs = this.okWithSdp(rq, buildOffer(this.localSdp('sendrecv'), [this.rtp.params.codec]));
      this.send2xx(rq, rs, (ack) => {
        const answer = ack.content ? parseAnswer(ack.content) : undefined;
        if (answer && !('ok' in answer)) this.applyMedia(answer);
      });
      return;
    }
    const n = negotiateOffer(body);
    if ('ok' in n) {
      this.stack.reply(rq, 488, 'Not Acceptable Here', { headers: { warning: `305 ${this.stack.publicAddress} "${n.reason}"` } });
      return;
    }
    this.applyMedia(n);
    const rs = this.okWithSdp(rq, buildAnswer(n, this.localSdp(answerDirection(effectiveDirection(n)))));
    this.send2xx(rq, rs);
  }

  private applyMedia(n: Negotiated): void {
    const params = mediaParams(n);
    const wasSending = this.rtp.params.send;
    this.rtp.update(params);
    if (wasSending !== params.send) this.log.info({ direction: effectiveDirection(n) }, params.send ? 'call resumed (unhold)' : 'call on hold: audio paused');
  }

  private onNotify(rq: SipMessage): void {
    this.stack.reply(rq, 200, 'OK');
    const event = String(rq.headers.event ?? rq.headers.o ?? '');
    if (!/^refer/i.test(event) || this.transferring !== 'refer') return;
    const status = /^SIP\/2\.0\s+(\d{3})/.exec(rq.content ?? '')?.[1];
    if (!status) return;
    const code = Number(status);
    this.log.info({ status: code }, 'transfer progress (NOTIFY)');
    if (code >= 200) {
      if (code >= 300) this.log.warn({ status: code }, 'the transfer target was not reached; the caller is released');
      this.finishTransfer();
    }
  }

  /** SIP INFO DTMF (application/dtmf-relay, application/dtmf), for trunks that do not send RFC 4733. */
  private onInfo(rq: SipMessage): void {
    this.stack.reply(rq, 200, 'OK');
    const type = String(rq.headers['content-type'] ?? '').toLowerCase();
    const body = rq.content ?? '';
    let digit: string | undefined;
    if (type.startsWith('application/dtmf-relay')) digit = /Signal\s*=\s*([0-9A-Da-d*#])/.exec(body)?.[1];
    else if (type.startsWith('application/dtmf')) digit = /^\s*([0-9A-Da-d*#])/.exec(body)?.[1];
    if (digit) this.leg?.onDtmf(digit.toUpperCase());
  }

  private finishTransfer(): void {
    clearTimeout(this.referTimer);
    this.transferring = undefined;
    if (!this.byeReceived && !this.byeSent) void this.sendBye();
    this.cleanup();
  }

  // ---------------------------------------------------------------------------------------------
  // Bridged transfer (fallback when REFER is refused)

  /** While the bridged call rings: ringback to the caller instead of silence. */
  startRingback(): void {
    this.rtp.idleSource = ringback();
  }

  /** Relays audio both ways between this call and `other` (decoded and re-encoded: the codecs may differ). */
  bridgeWith(other: SipCall): void {
    this.rtp.idleSource = undefined;
    this.bridgePeer = other;
    other.bridgePeer = this;
    other.transferring = 'bridge';
    this.transferring = 'bridge';
    for (const [from, to] of [
      [this, other],
      [other, this],
    ] as const) {
      const chunker = new FrameChunker(160);
      from.rtp.handlers = {
        onAudio: (pcm) => {
          for (const f of chunker.push(pcm)) to.rtp.enqueueFrame(f, BRIDGE_MAX_QUEUE);
        },
        onDtmf: (digit) => void to.rtp.sendDigits(digit).catch(() => undefined),
        onMarkPlayed: () => undefined,
        onTimeout: () => from.remoteEnded('stream-closed', true),
      };
    }
    other.rtp.start();
    this.log.info({ peer: other.sipCallId }, 'bridged transfer connected');
  }

  /** Ends this side now with a BYE (bridge partner hung up, or a bridged transfer failed). */
  hangupNow(): void {
    if (this.state === 'terminated') return;
    if (this.role === 'uas' && !this.finalSent) this.rejectInvite(480, 'Temporarily Unavailable');
    else if (this.state === 'confirmed' && !this.byeReceived && !this.byeSent) void this.sendBye();
    this.cleanup();
  }

  // ---------------------------------------------------------------------------------------------
  // Ending

  /** The far end ended the call (BYE, CANCEL, RTP timeout): the leg ends with `reason`. */
  remoteEnded(reason: CallEnded['reason'], sendBye: boolean): void {
    if (!sendBye) this.byeReceived = true;
    this.endReason = reason;
    const peer = this.bridgePeer;
    this.bridgePeer = undefined;
    this.transferring = undefined;
    clearTimeout(this.referTimer);
    if (peer) {
      peer.bridgePeer = undefined;
      peer.hangupNow();
    }
    if (this.leg && !this.leg.isEnded) this.leg.end(reason);
    else this.close();
    this.cleanup();
  }

  private async sendBye(): Promise<void> {
    if (this.byeSent) return;
    this.byeSent = true;
    const rs = await this.inDialogRequest('BYE');
    this.log.info({ status: rs.status }, 'BYE answered');
  }

  private cleanup(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    this.state = 'terminated';
    for (const p of this.pending2xx.values()) clearTimeout(p.timer);
    this.pending2xx.clear();
    clearTimeout(this.referTimer);
    this.rtp.close();
    this.host?.forget(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  contactUri(): string {
    return this.stack.contactUri();
  }

  private localSdp(direction: Direction) {
    return { sessionId: this.sdpSession, version: this.sdpVersion++, address: this.stack.publicAddress, port: this.rtp.port, direction };
  }

  private okWithSdp(rq: SipMessage, sdp: string): SipMessage {
    return sip.makeResponse(rq, 200, 'OK', {
      headers: {
        to: withTag(rq.headers.to, this.localTag),
        contact: [{ uri: this.contactUri(), params: {} }],
        allow: ALLOW,
        'user-agent': USER_AGENT,
        'content-type': 'application/sdp',
      },
      content: sdp,
    });
  }

  /** Sends a 2xx to an INVITE and retransmits it (T1 doubling to T2) until the ACK; no ACK in 32 s ends the call. */
  private send2xx(rq: SipMessage, rs: SipMessage, onAck?: (ack: SipMessage) => void): void {
    const seq = rq.headers.cseq.seq;
    this.stack.sendResponse(rq, rs);
    let interval = T1;
    let elapsed = 0;
    const retransmit = () => {
      elapsed += interval;
      if (elapsed >= TIMER_H) {
        this.pending2xx.delete(seq);
        this.log.warn('no ACK for our 200 OK: ending the call');
        this.remoteEnded('error', true);
        return;
      }
      this.stack.sendResponse(rq, rs);
      interval = Math.min(interval * 2, T2);
      const entry = this.pending2xx.get(seq);
      if (entry) entry.timer = setTimeout(retransmit, interval);
    };
    const entry: { timer: NodeJS.Timeout; rq: SipMessage; rs: SipMessage; onAck?: (ack: SipMessage) => void } = { timer: setTimeout(retransmit, interval), rq, rs };
    if (onAck) entry.onAck = onAck;
    this.pending2xx.set(seq, entry);
  }

  /** Where in-dialog requests go: the route set or the remote target, but the request's source when the target is a private address behind NAT. */
  private destination(): Remote | undefined {
    if (this.routeSet.length) return undefined;
    const host = sip.parseUri(this.remoteTarget)?.host;
    if (this.remoteFlow && isPrivateHost(host) && !isPrivateHost(this.remoteFlow.address)) return this.remoteFlow;
    return undefined;
  }

  /** Sends a request in the dialog; resolves with its final response (a 408 made here when none comes in time). */
  inDialogRequest(method: string, extra: Record<string, unknown> = {}, content?: string): Promise<SipMessage> {
    const rq: SipMessage = {
      method,
      uri: this.remoteTarget,
      headers: {
        via: [],
        to: this.remoteAor,
        from: this.localAor,
        'call-id': this.sipCallId,
        cseq: { seq: ++this.localSeq, method },
        'max-forwards': 70,
        contact: [{ uri: this.contactUri(), params: {} }],
        'user-agent': USER_AGENT,
        ...(this.routeSet.length ? { route: this.routeSet.map((r) => ({ ...r })) } : {}),
        ...extra,
      },
      ...(content !== undefined ? { content } : {}),
    };
    return new Promise((resolve) => {
      let done = false;
      const finish = (rs: SipMessage) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(rs);
      };
      const timer = setTimeout(() => finish(sip.makeResponse(rq, 408, 'Request Timeout')), IN_DIALOG_TIMEOUT_MS);
      this.stack.request(
        rq,
        (rs) => {
          if ((rs.status ?? 0) >= 200) finish(rs);
        },
        this.destination(),
      );
    });
  }
}

/** US ringback (440 + 480 Hz, 2 s on, 4 s off) as 20 ms frames at 8 kHz, for a bridged transfer that rings. */
function ringback(): () => Int16Array {
  let n = 0;
  return () => {
    const frame = new Int16Array(160);
    for (let i = 0; i < 160; i++, n++) {
      const t = n / 8000;
      if (t % 6 < 2) frame[i] = Math.round(3000 * (Math.sin(2 * Math.PI * 440 * t) + Math.sin(2 * Math.PI * 480 * t)));
    }
    if (n >= 8000 * 6) n = 0;
    return frame;
  };
}
