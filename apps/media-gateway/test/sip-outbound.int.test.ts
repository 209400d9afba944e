import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alawEncode, mulawDecode, rmsDbfs } from '@switchboard/audio';
import { ErrorCodes, SwitchboardError, contracts, type AccountSettings, type DialReply } from '@switchboard/contracts';
import { AccountStore } from '@switchboard/session-store';
import type { DialRecord } from '../src/calls/call-state.ts';
import { serializeRtp } from '../src/rtp/rtp-packet.ts';
import { describeSipp, reservedUdpPort, rtpReceiver, runSipp, startSipHarness, until, type RtpReceiver, type SipHarness, type SippResult } from './sip-harness.ts';

/**
 * Outbound calls through a SIP trunk (sipp as the trunk, with digest authentication), and transfers:
 * REFER accepted, REFER refused → bridged through the trunk, REFER refused without a trunk → the call
 * stays with the agent.
 */
const CALLEE = '+15550009999';
let h: SipHarness;
/** A gateway without a SIP trunk. */
let bare: SipHarness;
let trunkPort: number;
let accounts: AccountStore;
let previousSettings: AccountSettings | undefined;
const receivers: RtpReceiver[] = [];

async function receiver(): Promise<RtpReceiver> {
  const r = await rtpReceiver();
  receivers.push(r);
  return r;
}

/** Starts sipp as the trunk (UAS on `trunkPort`), gives it a moment to bind, and returns its run (not awaited). */
async function trunk(scenario: string, set: Record<string, string | number> = {}): Promise<{ done: Promise<SippResult> }> {
  const done = runSipp(h, { scenario, target: null, localPort: trunkPort, set, timeoutS: 15 });
  await new Promise((r) => setTimeout(r, 300));
  return { done };
}

beforeAll(async () => {
  trunkPort = await reservedUdpPort();
  [h, bare] = await Promise.all([
    startSipHarness('sip-outbound-int', { SIP_TRUNK_URI: `sip:127.0.0.1:${trunkPort}`, SIP_TRUNK_USERNAME: 'trunkuser', SIP_TRUNK_PASSWORD: 'trunkpass', SIP_FROM_NUMBER: '+15550001234', OUTBOUND_CARRIER: 'sip' }),
    startSipHarness('sip-outbound-bare-int'),
  ]);
  // The dial handler's toll-fraud guard: the demo account may call the test callee (restored afterwards).
  accounts = new AccountStore(h.redis);
  const current = await accounts.get('default');
  previousSettings = current;
  const allowed = current.allowedDestinations ?? [];
  if (!allowed.includes(CALLEE)) await accounts.put({ ...current, allowedDestinations: [...allowed, CALLEE] });
});

afterAll(async () => {
  if (previousSettings) await accounts.put(previousSettings);
  for (const r of receivers) r.close();
  await Promise.all([h?.close(), bare?.close()]);
});

/** A dial record as the dial handler stores it before asking the carrier (handlers/dial.handler.ts). */
function record(callId: string, variables: Record<string, string> = {}): DialRecord {
  return { callId, accountId: 'default', agentId: 'demo', to: CALLEE, from: '+15550001234', carrier: 'sip', variables, createdAt: new Date().toISOString() };
}

describe('outbound through the SIP trunk', () => {
  it('dials with digest authentication (401 → INVITE with Authorization), starts the call, and hangs up with BYE', async () => {
    const rx = await receiver();
    const sipp = await trunk('trunk-digest.xml', { rtpport: rx.port });
    const callId = `call_sipdigest${Date.now()}`;
    const placed = await h.gw.sip!.dial(record(callId, { name: 'Ada', 'sb.goal': 'confirm the delivery' }));
    expect(placed.status).toMatch(/^(ringing|answered)$/);
    const call = await h.callFor((c) => c.started.callId === callId, 'the outbound call');
    expect(call.started).toMatchObject({ direction: 'outbound', carrier: 'sip', to: CALLEE, from: '+15550001234', carrierCallId: placed.carrierCallId });
    expect(call.started.variables).toEqual({ name: 'Ada', 'sb.goal': 'confirm the delivery' });
    // The trunk answered with PCMA only: our RTP follows its answer.
    await until(() => rx.packets.length >= 5, 'RTP to the callee');
    expect(rx.packets.every((p) => p.payloadType === 8)).toBe(true);
    await h.probe.request(contracts.hangup, { reason: 'test' }, { param: callId, timeoutMs: 8000 });
    const r = await sipp.done;
    expect(r.code, describeSipp(r)).toBe(0);
    await until(() => h.ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === callId)?.reason).toBe('agent-hangup');
  });

  it('a trunk that refuses outright (403) fails the dial with CARRIER_FAILED, not retryable', async () => {
    const sipp = await trunk('trunk-forbidden.xml');
    const err = await h.gw.sip!.dial(record(`call_sip403${Date.now()}`)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.CARRIER_FAILED);
    expect((err as SwitchboardError).retryable).toBe(false);
    expect((err as SwitchboardError).message).toMatch(/403/);
    const r = await sipp.done;
    expect(r.code, describeSipp(r)).toBe(0);
  });

  it('busy after the dial was accepted (100, then 486): the call ends as rejected', async () => {
    const sipp = await trunk('trunk-busy.xml');
    const callId = `call_sipbusy${Date.now()}`;
    const placed = await h.gw.sip!.dial(record(callId));
    expect(placed.status).toBe('queued');
    await until(() => h.ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === callId)?.reason).toBe('rejected');
    expect(h.calls.has(callId)).toBe(false);
    const r = await sipp.done;
    expect(r.code, describeSipp(r)).toBe(0);
  });

  it('cmd.media-gateway.dial with carrier sip reaches the SIP dialer (the dial handler stores the record and its variables)', async () => {
    const rx = await receiver();
    const sipp = await trunk('trunk-digest.xml', { rtpport: rx.port });
    // Any gateway on the bus may take a dial (queue group); one without a SIP trunk refuses it at once
    // ("not configured"), so the request is repeated until this test's gateway, the only one with a trunk, takes it.
    let reply: DialReply | undefined;
    for (let attempt = 0; attempt < 40 && !reply; attempt++) {
      try {
        reply = await h.probe.request(contracts.dial, { accountId: 'default', agentId: 'demo', to: CALLEE, carrier: 'sip', variables: { name: 'Ada' }, goal: 'confirm the delivery' }, { timeoutMs: 10_000 });
      } catch (err) {
        if (!(err instanceof SwitchboardError && /not configured/.test(err.message))) throw err;
      }
    }
    expect(reply).toMatchObject({ carrier: 'sip', status: expect.stringMatching(/^(ringing|answered)$/) });
    const call = await h.callFor((c) => c.started.callId === reply!.callId, 'the outbound call');
    expect(call.started.variables).toMatchObject({ name: 'Ada', 'sb.goal': 'confirm the delivery' });
    await h.probe.request(contracts.hangup, { reason: 'test' }, { param: reply!.callId, timeoutMs: 8000 });
    const r = await sipp.done;
    expect(r.code, describeSipp(r)).toBe(0);
  });
});

describe('transfer', () => {
  it('REFER accepted: 202, NOTIFY sipfrag 200, then our BYE; the call ends as transferred', async () => {
    const rx = await receiver();
    const sipp = runSipp(h, { scenario: 'refer-accepted.xml', service: 'refer-ok', set: { rtpport: rx.port } });
    const call = await h.callFor((c) => c.started.to === 'refer-ok', 'the call');
    await until(() => rx.packets.length > 0, 'the call answered (RTP flowing)');
    const reply = await h.probe.request(contracts.transfer, { destination: CALLEE }, { param: call.started.callId, timeoutMs: 10_000 });
    expect(reply.ok).toBe(true);
    const r = await sipp;
    expect(r.code, describeSipp(r)).toBe(0);
    await until(() => h.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('transferred');
  });

  it('REFER refused (501): a bridged call through the trunk relays audio both ways until the target hangs up', { timeout: 30_000 }, async () => {
    const callerRx = await receiver();
    const calleeRx = await receiver();
    const target = await trunk('trunk-answer.xml', { rtpport: calleeRx.port });
    const caller = runSipp(h, { scenario: 'refer-refused.xml', service: 'refer-no', set: { rtpport: callerRx.port } });
    const call = await h.callFor((c) => c.started.to === 'refer-no', 'the call');
    await until(() => callerRx.packets.length > 0, 'the call answered (RTP flowing)');
    const reply = await h.probe.request(contracts.transfer, { destination: CALLEE }, { param: call.started.callId, timeoutMs: 10_000 });
    expect(reply.ok).toBe(true);

    // The bridged leg to the target: our RTP reaches it in its codec (PCMA)…
    await until(() => calleeRx.packets.length >= 5, 'RTP to the transfer target');
    expect(calleeRx.packets.every((p) => p.payloadType === 8)).toBe(true);
    // …and what the target says reaches the caller, transcoded to the caller's PCMU.
    const bridged = () => [...h.gw.sip!.calls.values()].find((c) => c.role === 'uac');
    await until(() => bridged()?.state === 'confirmed', 'the bridged leg');
    const targetPort = bridged()!.rtp.port;
    const tone = alawEncode(Int16Array.from({ length: 160 }, (_, i) => Math.round(9000 * Math.sin((2 * Math.PI * 500 * i) / 8000))));
    const loudBefore = callerRx.packets.length;
    for (let i = 0; i < 15; i++) {
      calleeRx.socket.send(serializeRtp({ marker: i === 0, payloadType: 8, sequenceNumber: i, timestamp: i * 160, ssrc: 4242, payload: tone }), targetPort, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 20));
    }
    await until(() => callerRx.packets.slice(loudBefore).filter((p) => p.payloadType === 0 && rmsDbfs(mulawDecode(p.payload)) > -25).length >= 10, 'the target\'s audio at the caller', 3000);

    const [t, c] = await Promise.all([target.done, caller]);
    expect(t.code, describeSipp(t)).toBe(0);
    expect(c.code, describeSipp(c)).toBe(0);
    await until(() => h.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('transferred');
    await until(() => h.gw.sip!.calls.size === 0, 'both legs released');
  });

  it('REFER refused and no trunk: the transfer fails with CARRIER_FAILED and the caller stays with the agent', async () => {
    const rx = await receiver();
    const sipp = runSipp(bare, { scenario: 'refer-refused.xml', service: 'refer-bare', set: { rtpport: rx.port } });
    const call = await bare.callFor((c) => c.started.to === 'refer-bare', 'the call');
    await until(() => rx.packets.length > 0, 'the call answered (RTP flowing)');
    const err = await bare.probe.request(contracts.transfer, { destination: CALLEE }, { param: call.started.callId, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.CARRIER_FAILED);
    // Still up: RTP keeps flowing and the hang-up command ends it normally.
    const n = rx.packets.length;
    await until(() => rx.packets.length > n + 5, 'RTP after the failed transfer');
    await bare.probe.request(contracts.hangup, { reason: 'test' }, { param: call.started.callId, timeoutMs: 8000 });
    const r = await sipp;
    expect(r.code, describeSipp(r)).toBe(0);
    await until(() => bare.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(bare.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('agent-hangup');
  });
});
