import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHeaders } from '@switchboard/bus';
import { mulawDecode, pcm16ToBuffer, rmsDbfs } from '@switchboard/audio';
import { Headers, audioSubjects, contracts } from '@switchboard/contracts';
import { parseTelephoneEvent } from '../src/rtp/dtmf.ts';
import { describeSipp, rtpReceiver, runSipp, startSipHarness, until, type RtpReceiver, type SipHarness } from './sip-harness.ts';

/**
 * The gateway's SIP user agent against sipp: the built-in `uac` and `uac_pcap` scenarios, and the
 * scenarios in test/sipp/ for OPTIONS, a refused codec, CANCEL, BYE from the gateway, DTMF and hold.
 * Each test uses its own called user (`-s`), so the tests run side by side against one gateway.
 */
let h: SipHarness;
const receivers: RtpReceiver[] = [];

beforeAll(async () => {
  h = await startSipHarness('sip-uas-int');
});

afterAll(async () => {
  for (const r of receivers) r.close();
  await h?.close();
});

async function receiver(): Promise<RtpReceiver> {
  const r = await rtpReceiver();
  receivers.push(r);
  return r;
}

/** A 400 Hz tone at 16 kHz (what the orchestrator publishes), `ms` long. */
function tone16k(ms: number): Int16Array {
  return Int16Array.from({ length: ms * 16 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 16000)));
}

describe.concurrent('sipp against the gateway', () => {
  it('built-in uac: 100/180/200, ACK, BYE from sipp; the call is claimed and ends as caller-hangup', async () => {
    const r = await runSipp(h, { scenario: 'uac', service: 'uac', args: ['-d', '500'] });
    expect(r.code, describeSipp(r)).toBe(0);
    const call = await h.callFor((c) => c.started.to === 'uac', 'the uac call');
    expect(call.started).toMatchObject({ carrier: 'sip', direction: 'inbound', from: 'sipp', agentId: 'demo' });
    await until(() => h.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('caller-hangup');
  });

  it('built-in uac_pcap: 30 ms A-law audio reaches NATS as 20 ms frames, and the RFC 4733 "1" arrives once', { timeout: 30_000 }, async () => {
    const r = await runSipp(h, { scenario: 'uac_pcap', service: 'pcap', timeoutS: 25 });
    expect(r.code, describeSipp(r)).toBe(0);
    const call = await h.callFor((c) => c.started.to === 'pcap', 'the uac_pcap call');
    // g711a.pcap: 236 packets of 30 ms = 7.08 s = 354 frames of 20 ms, most of it speech.
    expect(call.framesIn).toBeGreaterThanOrEqual(350);
    expect(call.loudFrames).toBeGreaterThan(150);
    await until(() => call.events.some((e) => e.type === 'dtmf'), 'the DTMF event');
    expect(call.events.filter((e) => e.type === 'dtmf').map((e) => e.digit)).toEqual(['1']);
  });

  it('OPTIONS is answered 200 with Allow and Accept', async () => {
    const r = await runSipp(h, { scenario: 'options.xml', service: 'options' });
    expect(r.code, describeSipp(r)).toBe(0);
  });

  it('an offer with only G.729 is refused with 488 and a 305 Warning, and no call starts', async () => {
    const before = h.gw.sip!.counters.notAcceptable;
    const r = await runSipp(h, { scenario: 'codec-refused.xml', service: 'g729' });
    expect(r.code, describeSipp(r)).toBe(0);
    expect(h.gw.sip!.counters.notAcceptable).toBe(before + 1);
    expect([...h.calls.values()].some((c) => c.started.to === 'g729')).toBe(false);
  });

  it('CANCEL while ringing: 200 for the CANCEL, 487 for the INVITE; the call ends as caller-hangup', async () => {
    h.claimBehaviour.set('slow', { delayMs: 2500 });
    const r = await runSipp(h, { scenario: 'cancel.xml', service: 'slow' });
    expect(r.code, describeSipp(r)).toBe(0);
    const call = await h.callFor((c) => c.started.to === 'slow', 'the cancelled call');
    await until(() => h.ended.some((e) => e.callId === call.started.callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === call.started.callId)?.reason).toBe('caller-hangup');
    expect(h.gw.sip!.counters.cancelled).toBeGreaterThanOrEqual(1);
  });

  it('DTMF: "1", "#" and a replayed "1" arrive on media.<id>.evt exactly once each', async () => {
    const r = await runSipp(h, { scenario: 'dtmf.xml', service: 'dtmf' });
    expect(r.code, describeSipp(r)).toBe(0);
    const call = await h.callFor((c) => c.started.to === 'dtmf', 'the DTMF call');
    await until(() => call.events.filter((e) => e.type === 'dtmf').length >= 3, 'three digits');
    await new Promise((res) => setTimeout(res, 200));
    expect(call.events.filter((e) => e.type === 'dtmf').map((e) => e.digit)).toEqual(['1', '#', '1']);
  });

  it('BYE from our side: silence, then agent audio and a mark, then DTMF out reach the caller; hang-up sends BYE', { timeout: 20_000 }, async () => {
    const rx = await receiver();
    const sipp = runSipp(h, { scenario: 'bye-from-gateway.xml', service: 'byeus', set: { rtpport: rx.port } });
    const call = await h.callFor((c) => c.started.to === 'byeus', 'the call');
    const callId = call.started.callId;

    // Nothing to say yet: PCMU silence every 20 ms, marker on the first packet.
    await until(() => rx.packets.length >= 10, 'silence packets');
    const first = rx.packets.slice(0, 10);
    expect(first.every((p) => p.payloadType === 0 && p.payload.length === 160)).toBe(true);
    expect(first[0]!.marker).toBe(true);
    expect(first.every((p) => p.payload.every((b) => b === 0xff))).toBe(true);

    // Agent audio with a mark: it reaches the caller as loud PCMU, then the mark is reported played.
    const frames = 25;
    const pcm = tone16k(frames * 20);
    for (let i = 0; i < frames; i++) {
      h.probe.publishRaw(audioSubjects.mediaOut(callId), pcm16ToBuffer(pcm.subarray(i * 320, (i + 1) * 320)), i === frames - 1 ? rawHeaders({ [Headers.mark]: 'greeting' }) : undefined);
    }
    await until(() => call.events.some((e) => e.type === 'mark-played' && e.name === 'greeting'), 'mark-played', 5000);
    const loud = rx.packets.filter((p) => p.payloadType === 0 && rmsDbfs(mulawDecode(p.payload)) > -30);
    expect(loud.length).toBeGreaterThanOrEqual(frames - 1);
    expect(loud.length).toBeLessThanOrEqual(frames + 1);
    const markAt = call.events.find((e) => e.type === 'mark-played')!.at!;
    expect(markAt).toBeGreaterThanOrEqual(Math.floor(performance.timeOrigin + loud.at(-1)!.at) - 5);

    // DTMF out (cmd.media-gateway.send-dtmf.<id>): RFC 4733 events with the offered payload type 101.
    const reply = await h.probe.request(contracts.sendDtmf, { digits: '42' }, { param: callId, timeoutMs: 5000 });
    expect(reply).toEqual({ ok: true, sent: 2 });
    const events = rx.packets.filter((p) => p.payloadType === 101).map((p) => ({ ts: p.timestamp, ...parseTelephoneEvent(p.payload)! }));
    expect([...new Set(events.map((e) => e.event))]).toEqual([4, 2]);
    expect(events.filter((e) => e.end).length).toBe(6);

    // Every packet of the stream: one SSRC, consecutive sequence numbers.
    const seqs = rx.packets.map((p) => p.sequenceNumber);
    for (let i = 1; i < seqs.length; i++) expect((seqs[i]! - seqs[i - 1]!) & 0xffff).toBe(1);
    expect(new Set(rx.packets.map((p) => p.ssrc)).size).toBe(1);

    const hung = await h.probe.request(contracts.hangup, { reason: 'test' }, { param: callId, timeoutMs: 8000 });
    expect(hung.ok).toBe(true);
    const r = await sipp;
    expect(r.code, describeSipp(r)).toBe(0);
    await until(() => h.ended.some((e) => e.callId === callId), 'evt.call.ended');
    expect(h.ended.find((e) => e.callId === callId)?.reason).toBe('agent-hangup');
  });

  it('re-INVITE hold (sendonly → recvonly) stops our RTP, unhold (sendrecv) resumes it', async () => {
    const rx = await receiver();
    const sipp = runSipp(h, { scenario: 'hold.xml', service: 'hold', set: { rtpport: rx.port } });
    await h.callFor((c) => c.started.to === 'hold', 'the call');
    const sipCall = () => [...h.gw.sip!.calls.values()].find((c) => c.leg?.started.to === 'hold');
    await until(() => sipCall()?.rtp.params.send === false, 'hold', 5000);
    await new Promise((r) => setTimeout(r, 100));
    const held = rx.packets.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(rx.packets.length).toBe(held);
    await until(() => sipCall()?.rtp.params.send === true, 'unhold', 5000);
    await until(() => rx.packets.length > held + 5, 'RTP after unhold');
    const r = await sipp;
    expect(r.code, describeSipp(r)).toBe(0);
  });
});
