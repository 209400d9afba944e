import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import sip, { type Connection, type SipMessage, type SipUri, type Target, type TransactionLayer } from 'sip';

export type { SipMessage, SipUri };

/** Where a request came from (the UDP source, which NAT may make differ from its Via). */
export interface Remote {
  address: string;
  port: number;
}

export interface SipStackOptions {
  /** Address placed in Via and used for Contact (SIP_PUBLIC_IP). */
  publicAddress: string;
  log: Logger;
  /** A new request (not a retransmission): INVITE, ACK for a 2xx, BYE, CANCEL, OPTIONS… */
  onRequest: (rq: SipMessage, remote: Remote) => void;
}

/** The fields RFC 3261 §8.1.1 requires before a message is processed. */
function wellFormed(m: SipMessage): boolean {
  const h = m.headers;
  return Boolean((m.method || (m.status && m.status >= 100 && m.status <= 699)) && h && Array.isArray(h.via) && h.via.length > 0 && h['call-id'] && h.to && h.from && h.cseq && typeof h.cseq === 'object');
}

/**
 * SIP over UDP: the `sip` package (kirm/sip.js) parses and serialises messages and runs the RFC 3261
 * transaction state machines (retransmissions, timers, ACK for non-2xx); this class owns the UDP socket
 * itself, because the package's own transport cannot bind port 0, report the port it bound or survive
 * a bind error (it has no error handler and would take the process down).
 */
export class SipStack {
  private socket: Socket | undefined;
  private boundPort = 0;
  private readonly tl: TransactionLayer;
  private readonly log: Logger;
  /** Datagrams that did not parse as SIP. */
  malformed = 0;
  /** Every SIP message in and out is logged at debug level (LOG_LEVEL=debug). */
  private readonly trace: boolean;

  constructor(private readonly opts: SipStackOptions) {
    this.log = opts.log;
    this.trace = opts.log.isLevelEnabled('debug');
    this.tl = sip.makeTransactionLayer({}, (target) => this.connection(target));
  }

  /** Binds the UDP socket; resolves with the bound port (useful with port 0). */
  async listen(port: number, host: string): Promise<number> {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      const fail = (err: NodeJS.ErrnoException) =>
        reject(new SwitchboardError(ErrorCodes.CONFIG_INVALID, `SIP cannot bind udp ${host}:${port} (${err.code ?? err.message}): set SIP_PORT (0 for any free port), SIP_HOST, or SIP_ENABLED=false`));
      socket.once('error', fail);
      socket.bind(port, host, () => {
        socket.removeListener('error', fail);
        resolve();
      });
    });
    socket.on('error', (err) => this.log.warn({ err }, 'SIP socket error'));
    socket.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
    this.socket = socket;
    this.boundPort = socket.address().port;
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  get publicAddress(): string {
    return this.opts.publicAddress;
  }

  /** Our address for Contact headers: sip:<user>@<public address>:<port>. */
  contactUri(user = 'switchboard'): string {
    const host = isIPv6(this.opts.publicAddress) ? `[${this.opts.publicAddress}]` : this.opts.publicAddress;
    return `sip:${user}@${host}:${this.boundPort}`;
  }

  /** Answers a request through its server transaction (which retransmits final responses as RFC 3261 asks). */
  reply(rq: SipMessage, status: number, reason: string, ext?: { headers?: Record<string, unknown>; content?: string }): SipMessage {
    const rs = sip.makeResponse(rq, status, reason, ext);
    this.sendResponse(rq, rs);
    return rs;
  }

  /** Sends (or re-sends, for 2xx retransmission) a prepared response through the request's server transaction. */
  sendResponse(rq: SipMessage, rs: SipMessage): void {
    const t = this.tl.getServer(rq);
    if (t) t.send(rs);
    else this.log.debug({ status: rs.status, callId: rq.headers['call-id'] }, 'no server transaction for the response: dropped');
  }

  /**
   * Sends a request in a new client transaction to `dest` (or to the first Route / the Request-URI,
   * resolved through DNS when it is a name). `onResponse` sees every response, provisional and final;
   * a transaction timeout arrives as a 408 made by the transaction layer.
   */
  request(rq: SipMessage, onResponse: (rs: SipMessage) => void, dest?: Remote): void {
    const safe = (rs: SipMessage) => {
      try {
        onResponse(rs);
      } catch (err) {
        this.log.error({ err, method: rq.method }, 'SIP response handler failed');
      }
    };
    this.resolveDestination(rq, dest, (target) => {
      if (!target) return safe(sip.makeResponse(rq, 503, 'Service Unavailable (destination did not resolve)'));
      if (rq.method !== 'CANCEL') {
        rq.headers.via = [{ protocol: 'UDP', host: '', params: {} }, ...(rq.headers.via ?? [])];
      }
      this.tl.createClientTransaction(this.connection(target), rq, safe);
    });
  }

  /** Sends a message outside any transaction (ACK for a 2xx, which belongs to the dialog, not a transaction). */
  sendStateless(m: SipMessage, dest?: Remote): void {
    this.resolveDestination(m, dest, (target) => {
      if (!target) return this.log.warn({ method: m.method }, 'cannot resolve the destination of a stateless request');
      if (m.method && (!m.headers.via || m.headers.via.length === 0)) m.headers.via = [{ protocol: 'UDP', host: '', params: { branch: sip.generateBranch() } }];
      this.connection(target).send(m);
    });
  }

  close(): void {
    this.tl.destroy();
    try {
      this.socket?.close();
    } catch {
      // Already closed.
    }
    this.socket = undefined;
  }

  private resolveDestination(m: SipMessage, dest: Remote | undefined, done: (t: Target | undefined) => void): void {
    if (dest) return done({ protocol: 'UDP', address: dest.address, port: dest.port });
    const route = m.headers.route?.[0];
    const hop = sip.parseUri(route ? route.uri : (m.uri ?? ''));
    if (!hop) return done(undefined);
    const host = hop.host.replace(/^\[|\]$/g, '');
    if (isIP(host)) return done({ protocol: 'UDP', address: host, port: hop.port || 5060 });
    // A name: DNS (SRV, then A/AAAA) through the package's resolver, UDP only.
    sip.resolve({ ...hop, params: { ...hop.params, transport: 'udp' } }, (addresses) => done(addresses.find((a) => a.protocol.toUpperCase() === 'UDP') ?? addresses[0]));
  }

  /** A UDP "connection" for the transaction layer: fills our Via for requests, then sends. */
  private connection(target: Target): Connection {
    return {
      protocol: 'UDP',
      release: () => undefined,
      send: (m: SipMessage) => {
        if (m.method && m.headers.via?.[0]) {
          const via = m.headers.via[0];
          via.host = this.opts.publicAddress;
          via.port = this.boundPort;
          via.protocol = 'UDP';
          via.params.rport = null;
        }
        const socket = this.socket;
        if (!socket) return;
        const text = sip.stringify(m);
        if (this.trace) this.log.debug({ to: `${target.address}:${target.port}`, message: text }, `SIP → ${text.slice(0, text.indexOf('\r\n'))}`);
        socket.send(Buffer.from(text, 'binary'), target.port, target.address);
      },
    };
  }

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    // Keep-alives (CRLF pings, RFC 5626) and empty datagrams carry nothing.
    if (buf.length < 12) return;
    let m: SipMessage | undefined;
    try {
      m = sip.parse(buf);
    } catch {
      m = undefined;
    }
    if (this.trace) this.log.debug({ from: `${rinfo.address}:${rinfo.port}`, message: buf.toString('binary') }, `SIP ← ${buf.toString('binary', 0, Math.max(0, buf.indexOf('\r\n')))}`);
    if (!m || !wellFormed(m)) {
      if (this.malformed++ < 10) this.log.warn({ from: `${rinfo.address}:${rinfo.port}`, bytes: buf.length }, 'malformed SIP datagram ignored');
      return;
    }
    try {
      if (m.method) this.onRequestDatagram(m, rinfo);
      else this.tl.getClient(m)?.message(m, rinfo);
    } catch (err) {
      this.log.error({ err, method: m.method, status: m.status }, 'SIP message handling failed');
    }
  }

  private onRequestDatagram(m: SipMessage, rinfo: RemoteInfo): void {
    const via = m.headers.via[0]!;
    via.params.received = rinfo.address;
    if (Object.prototype.hasOwnProperty.call(via.params, 'rport')) via.params.rport = String(rinfo.port);
    const remote = { address: rinfo.address, port: rinfo.port };
    const existing = this.tl.getServer(m);
    if (existing) {
      // A retransmission (or the ACK of a non-2xx final): the transaction answers it. An ACK also goes
      // to the dialog: a UA that (wrongly) reuses the INVITE's branch for the ACK of a 2xx must still
      // stop our 2xx retransmissions.
      existing.message(m, remote);
      if (m.method === 'ACK') this.opts.onRequest(m, remote);
      return;
    }
    if (m.method !== 'ACK') {
      // Responses go back to where the request came from (RFC 3581 symmetric response), which also works behind NAT.
      const t = this.tl.createServerTransaction(m, this.connection({ protocol: 'UDP', address: rinfo.address, port: rinfo.port }));
      try {
        this.opts.onRequest(m, remote);
      } catch (err) {
        this.log.error({ err, method: m.method }, 'SIP request handler failed');
        t.send(sip.makeResponse(m, 500, 'Server Internal Error'));
      }
      return;
    }
    this.opts.onRequest(m, remote);
  }
}
