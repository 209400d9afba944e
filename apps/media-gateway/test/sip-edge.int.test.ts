import { createSocket, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sip, { type SipMessage } from 'sip';
import { serializeRtp } from '../src/rtp/rtp-packet.ts';
import { startSipHarness, until, type SipHarness } from './sip-harness.ts';

/**
 * SIP behaviour sipp's scenarios do not reach, driven by a raw UDP client that builds messages with
 * the `sip` package: retransmissions, refusals (404, 403, 480, 481, 503), INFO DTMF, RTP timeout.
 */
let h: SipHarness;
/** A gateway without SIP_DEFAULT_AGENT and with a 1 s RTP timeout. */
let strict: SipHarness;
/** A gateway that accepts INVITEs only from 192.0.2.0/24. */
let fenced: SipHarness;
const clients: RawSip[] = [];

class RawSip {
  readonly received: Array<SipMessage & { at: number }> = [];
  private constructor(
    readonly socket: Socket,
    readonly port: number,
  ) {
    socket.on('message', (buf) => {
      const m = sip.parse(buf);
      if (m) this.received.push(Object.assign(m, { at: Date.now() }));
    });
  }

  static async open(): Promise<RawSip> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const c = new RawSip(socket, socket.address().port);
    clients.push(c);
    return c;
  }

  send(m: SipMessage | string, port: number): void {
    this.socket.send(Buffer.from(typeof m === 'string' ? m : sip.stringify(m), 'binary'), port, '127.0.0.1');
  }

  responses(callId: string, status?: number): SipMessage[] {
    return this.received.filter((m) => m.status && m.headers['call-id'] === callId && (status === undefined || m.status === status));
  }

  async response(callId: string, status: number, timeoutMs = 5000): Promise<SipMessage> {
    await until(() => this.responses(callId, status).length > 0, `${status} for ${callId}`, timeoutMs);
    return this.responses(callId, status)[0]!;
  }
}

const sdp = (port: number) => ['v=0', 'o=raw 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0', `m=audio ${port} RTP/AVP 0 101`, 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', ''].join('\r\n');

interface Dialog {
  callId: string;
  branch: string;
  fromTag: string;
  user: string;
  invite: SipMessage;
}

function invite(c: RawSip, gwPort: number, user: string, opts: { callId?: string; branch?: string; rtpPort?: number } = {}): Dialog {
  const callId = opts.callId ?? `${randomBytes(6).toString('hex')}@127.0.0.1`;
  const branch = opts.branch ?? `z9hG4bK${randomBytes(6).toString('hex')}`;
  const fromTag = randomBytes(4).toString('hex');
  const m: SipMessage = {
    method: 'INVITE',
    uri: `sip:${user}@127.0.0.1:${gwPort}`,
    headers: {
      via: [{ protocol: 'UDP', host: '127.0.0.1', port: c.port, params: { branch, rport: null } }],
      from: { uri: `sip:raw@127.0.0.1:${c.port}`, params: { tag: fromTag } },
      to: { uri: `sip:${user}@127.0.0.1:${gwPort}`, params: {} },
      'call-id': callId,
      cseq: { seq: 1, method: 'INVITE' },
      contact: [{ uri: `sip:raw@127.0.0.1:${c.port}`, params: {} }],
      'max-forwards': 70,
      'content-type': 'application/sdp',
    },
    content: sdp(opts.rtpPort ?? 9),
  };
  c.send(m, gwPort);
  return { callId, branch, fromTag, user, invite: m };
}

/** An in-dialog request from the raw client (ACK for the 2xx, BYE, INFO), To tag taken from `ok`. */
function inDialog(c: RawSip, gwPort: number, d: Dialog, ok: SipMessage, method: string, seq: number, extra: { headers?: Record<string, unknown>; content?: string } = {}): SipMessage {
  const m: SipMessage = {
    method,
    uri: `sip:${d.user}@127.0.0.1:${gwPort}`,
    headers: {
      via: [{ protocol: 'UDP', host: '127.0.0.1', port: c.port, params: { branch: `z9hG4bK${randomBytes(6).toString('hex')}` } }],
      from: d.invite.headers.from,
      to: ok.headers.to,
      'call-id': d.callId,
      cseq: { seq, method },
      'max-forwards': 70,
      ...(extra.headers ?? {}),
    },
    ...(extra.content !== undefined ? { content: extra.content } : {}),
  };
  c.send(m, gwPort);
  return m;
}

beforeAll(async () => {
  [h, strict, fenced] = await Promise.all([
    startSipHarness('sip-edge-int'),
    startSipHarness('sip-edge-strict-int', { SIP_DEFAULT_AGENT: '', RTP_TIMEOUT_S: '1', SIP_ALLOWED_SOURCES: '127.0.0.0/8' }),
    startSipHarness('sip-edge-fenced-int', { SIP_ALLOWED_SOURCES: '192.0.2.0/24, 2001:db8::/32' }),
  ]);
});

afterAll(async () => {
  for (const c of clients) c.socket.close();
  await Promise.all([h?.close(), strict?.close(), fenced?.close()]);
});

describe('SIP edge cases against a raw UDP client', () => {
  it('retransmits the 200 OK (T1 doubling) until the ACK, then stops', async () => {
    const c = await RawSip.open();
    const d = invite(c, h.sipPort, 'retrans');
    const ok = await c.response(d.callId, 200);
    await until(() => c.responses(d.callId, 200).length >= 3, 'two retransmissions of the 200 (at 0.5 s and 1.5 s)', 3000);
    inDialog(c, h.sipPort, d, ok, 'ACK', 1);
    const count = c.responses(d.callId, 200).length;
    await new Promise((r) => setTimeout(r, 2600));
    expect(c.responses(d.callId, 200).length).toBe(count);
    inDialog(c, h.sipPort, d, ok, 'BYE', 2);
    await until(() => c.responses(d.callId, 200).some((m) => m.headers.cseq.method === 'BYE'), 'the 200 for the BYE');
  });

  it('a retransmitted INVITE (same branch) is absorbed by its transaction: one call, one claim', async () => {
    const c = await RawSip.open();
    h.claimBehaviour.set('twice', { delayMs: 600 });
    const d = invite(c, h.sipPort, 'twice');
    await c.response(d.callId, 180);
    c.send(d.invite, h.sipPort);
    const ok = await c.response(d.callId, 200);
    inDialog(c, h.sipPort, d, ok, 'ACK', 1);
    expect([...h.calls.values()].filter((x) => x.started.carrierCallId === d.callId).length).toBe(1);
    expect(c.responses(d.callId, 100).length + c.responses(d.callId, 180).length).toBeGreaterThanOrEqual(2);
    inDialog(c, h.sipPort, d, ok, 'BYE', 2);
  });

  it('no orchestrator claims the call: 480 Temporarily Unavailable, the call ends as error', async () => {
    const c = await RawSip.open();
    h.claimBehaviour.set('refuse', { refuse: true });
    const d = invite(c, h.sipPort, 'refuse');
    const rs = await c.response(d.callId, 480);
    expect(rs.headers.to.params.tag).toBeTruthy();
    const call = await h.callFor((x) => x.started.carrierCallId === d.callId, 'the refused call');
    await until(() => h.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('error');
  });

  it.each(['BYE', 'INVITE'])('%s in a dialog that does not exist: 481', async (method) => {
    const c = await RawSip.open();
    const callId = `${randomBytes(6).toString('hex')}@127.0.0.1`;
    c.send(
      {
        method,
        uri: `sip:ghost@127.0.0.1:${h.sipPort}`,
        headers: {
          via: [{ protocol: 'UDP', host: '127.0.0.1', port: c.port, params: { branch: `z9hG4bK${randomBytes(6).toString('hex')}` } }],
          from: { uri: `sip:raw@127.0.0.1:${c.port}`, params: { tag: 'a1' } },
          to: { uri: `sip:ghost@127.0.0.1:${h.sipPort}`, params: { tag: 'not-ours' } },
          'call-id': callId,
          cseq: { seq: 5, method },
          'max-forwards': 70,
        },
      },
      h.sipPort,
    );
    await c.response(callId, 481);
  });

  it('INFO with application/dtmf-relay is a DTMF digit', async () => {
    const c = await RawSip.open();
    const d = invite(c, h.sipPort, 'info');
    const ok = await c.response(d.callId, 200);
    inDialog(c, h.sipPort, d, ok, 'ACK', 1);
    const call = await h.callFor((x) => x.started.carrierCallId === d.callId, 'the call');
    inDialog(c, h.sipPort, d, ok, 'INFO', 2, { headers: { 'content-type': 'application/dtmf-relay' }, content: 'Signal=7\r\nDuration=160\r\n' });
    await until(() => call.events.some((e) => e.type === 'dtmf'), 'the digit');
    expect(call.events.filter((e) => e.type === 'dtmf').map((e) => e.digit)).toEqual(['7']);
    inDialog(c, h.sipPort, d, ok, 'BYE', 3);
  });

  it('garbage on the SIP port is counted and ignored; an unknown method gets 501', async () => {
    const c = await RawSip.open();
    const before = h.gw.sip!.stack.malformed;
    c.send('HELLO THERE\r\n\r\nthis is not SIP at all, honestly', h.sipPort);
    await until(() => h.gw.sip!.stack.malformed === before + 1, 'the malformed counter');
    const d = invite(c, h.sipPort, 'x');
    const sub: SipMessage = { ...d.invite, method: 'SUBSCRIBE', uri: d.invite.uri!, headers: { ...d.invite.headers, 'call-id': 'sub@127.0.0.1', cseq: { seq: 1, method: 'SUBSCRIBE' }, via: [{ ...d.invite.headers.via[0]!, params: { branch: 'z9hG4bKsub1' } }] } };
    delete sub.content;
    c.send(sub, h.sipPort);
    await c.response('sub@127.0.0.1', 501);
  });

  it('numbers route by the agent files (with or without +); an unrouted user gets 404 without SIP_DEFAULT_AGENT', async () => {
    const c = await RawSip.open();
    const nobody = invite(c, strict.sipPort, 'nobody');
    await c.response(nobody.callId, 404);
    const demo = invite(c, strict.sipPort, '15550001234');
    const ok = await c.response(demo.callId, 200);
    inDialog(c, strict.sipPort, demo, ok, 'ACK', 1);
    const call = await strict.callFor((x) => x.started.carrierCallId === demo.callId, 'the routed call');
    expect(call.started.agentId).toBe('demo');
    // RTP_TIMEOUT_S=1 and no RTP from us: the gateway gives up, sends BYE, and the call ends as stream-closed.
    await until(() => c.received.some((m) => m.method === 'BYE' && m.headers['call-id'] === demo.callId), 'the BYE after the RTP timeout', 4000);
    await until(() => strict.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(strict.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('stream-closed');
  });

  it('RTP keeps a call alive past the RTP timeout', async () => {
    const c = await RawSip.open();
    const rtp = createSocket('udp4');
    await new Promise<void>((r) => rtp.bind(0, '127.0.0.1', r));
    const d = invite(c, strict.sipPort, '+15550001234', { rtpPort: rtp.address().port });
    const ok = await c.response(d.callId, 200);
    inDialog(c, strict.sipPort, d, ok, 'ACK', 1);
    const gwRtpPort = Number(/m=audio (\d+)/.exec(ok.content ?? '')![1]);
    let seq = 0;
    const t = setInterval(() => rtp.send(serializeRtp({ marker: seq === 0, payloadType: 0, sequenceNumber: seq++, timestamp: seq * 160, ssrc: 77, payload: new Uint8Array(160).fill(0xff) }), gwRtpPort, '127.0.0.1'), 20);
    await new Promise((r) => setTimeout(r, 1600));
    clearInterval(t);
    expect(c.received.some((m) => m.method === 'BYE' && m.headers['call-id'] === d.callId)).toBe(false);
    inDialog(c, strict.sipPort, d, ok, 'BYE', 2);
    rtp.close();
  });

  it('INVITEs from outside SIP_ALLOWED_SOURCES get 403', async () => {
    const c = await RawSip.open();
    const d = invite(c, fenced.sipPort, 'service');
    await c.response(d.callId, 403);
    expect(fenced.calls.size).toBe(0);
  });

  it('while draining, new INVITEs get 503 with Retry-After (runs last: it drains the gateway)', async () => {
    const c = await RawSip.open();
    await h.gw.drain(0);
    const d = invite(c, h.sipPort, 'late');
    const rs = await c.response(d.callId, 503);
    expect(rs.headers['retry-after']).toBe('30');
  });
});
