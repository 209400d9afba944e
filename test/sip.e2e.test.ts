import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { mulawDecode, mulawEncode, rmsDbfs } from '@switchboard/audio';
import { contracts, type CallEnded, type TranscriptAppended } from '@switchboard/contracts';
import { infraUrls, startStack, synthesizeSpeech, type Stack } from '@switchboard/testing';

const SCENARIO = fileURLToPath(new URL('../apps/media-gateway/test/sipp/bye-from-gateway.xml', import.meta.url));

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The phone's media side: a UDP socket whose port sipp puts in its SDP. It sends PCMU every 20 ms
 * (silence, or speech queued with `say`) to where the gateway's RTP comes from, and keeps which of the
 * gateway's packets were loud.
 */
class RtpPhone {
  readonly heard: Array<{ at: number; loud: boolean }> = [];
  private gateway: { address: string; port: number } | undefined;
  private pending: Int16Array = new Int16Array(0);
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('message', (buf, rinfo) => {
      this.gateway ??= { address: rinfo.address, port: rinfo.port };
      if (buf.length > 12 && (buf[1]! & 0x7f) === 0) this.heard.push({ at: Date.now(), loud: rmsDbfs(mulawDecode(buf.subarray(12))) > -35 });
    });
    this.timer = setInterval(() => this.tick(), 20);
  }

  static async open(): Promise<RtpPhone> {
    const socket = createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    return new RtpPhone(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  say(pcm8k: Int16Array): void {
    const next = new Int16Array(this.pending.length + pcm8k.length);
    next.set(this.pending);
    next.set(pcm8k, this.pending.length);
    this.pending = next;
  }

  loudMs(since = 0): number {
    return this.heard.filter((h) => h.loud && h.at >= since).length * 20;
  }

  async waitForSilence(ms: number, timeoutMs: number): Promise<void> {
    await until(() => this.pending.length === 0 && this.heard.length > 0 && Date.now() - (this.heard.filter((h) => h.loud).at(-1)?.at ?? 0) >= ms, timeoutMs, `${ms} ms of silence`);
  }

  private tick(): void {
    if (!this.gateway) return;
    const frame = new Int16Array(160);
    frame.set(this.pending.subarray(0, 160));
    this.pending = this.pending.subarray(Math.min(160, this.pending.length));
    const pkt = Buffer.alloc(172);
    pkt[0] = 0x80;
    pkt[1] = 0;
    pkt.writeUInt16BE(this.seq & 0xffff, 2);
    pkt.writeUInt32BE((this.seq * 160) >>> 0, 4);
    pkt.writeUInt32BE(0x5151, 8);
    pkt.set(mulawEncode(frame), 12);
    this.seq++;
    this.socket.send(pkt, this.gateway.port, this.gateway.address);
  }

  close(): void {
    clearInterval(this.timer);
    this.socket.close();
  }
}

/**
 * A SIP call through every service as real processes: sipp places the call (INVITE with an SDP that
 * points at this test's RTP socket), the agent greets over RTP, answers an order question with the
 * orders MCP server, and hangs up with the tool server's hangup_call, which reaches sipp as a BYE.
 */
describe('a SIP call end to end', () => {
  let stack: Stack;
  let bus: Bus;
  const transcript: TranscriptAppended[] = [];
  const ended: CallEnded[] = [];

  beforeAll(async () => {
    const infra = await infraUrls();
    console.log(`e2e infrastructure: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
    stack = await startStack({ natsUrl: infra.natsUrl, redisUrl: infra.redisUrl, fakeOpenAIScript: 'config/demo/model-script.json', env: { VAD: 'energy', SIP_HOST: '127.0.0.1', SIP_PUBLIC_IP: '127.0.0.1' } });
    bus = await Bus.connect({ url: infra.natsUrl, name: 'e2e-sip-observer', log: pino({ level: 'silent' }) });
    bus.subscribe(contracts.transcriptAppended, (t) => void transcript.push(t));
    bus.subscribe(contracts.callEnded, (e) => void ended.push(e));
  });

  afterAll(async () => {
    await bus?.close();
    const codes = await stack?.stop();
    if (codes) for (const [name, code] of Object.entries(codes)) expect(code, `${name} exit code`).toBe(0);
  });

  it('greets over RTP, answers with a tool, and hangs up with a BYE', async () => {
    const health = await bus.requestAll(contracts.health, {}, { param: 'media-gateway', maxWaitMs: 1500 });
    const sipPort = health.map((h) => (h.details as { sip?: { port: number } } | undefined)?.sip?.port).find((p) => p);
    expect(sipPort).toBeGreaterThan(0);
    const phone = await RtpPhone.open();
    // sipp binds its own (unused here) media port: an even free one, not its default 6000.
    const spare = await RtpPhone.open();
    const mediaPort = spare.port - (spare.port % 2);
    spare.close();
    const sipp = spawn('sipp', [`127.0.0.1:${sipPort}`, '-sf', SCENARIO, '-s', '+15550001234', '-i', '127.0.0.1', '-p', '0', '-mp', String(mediaPort), '-m', '1', '-nostdin', '-timeout', '90s', '-timeout_error', '-set', 'rtpport', String(phone.port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    sipp.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    const exited = new Promise<number | null>((r) => sipp.on('exit', r));
    try {
      // 1. The greeting arrives as loud PCMU from the gateway.
      await until(() => phone.loudMs() >= 1000, 20_000, 'the greeting');
      await phone.waitForSilence(700, 20_000);
      const callId = transcript.find((t) => t.role === 'agent')?.callId;
      expect(callId).toBeDefined();

      // 2. The caller asks about an order: STT → LLM → check_order_status → LLM → TTS, back over RTP.
      phone.say(await synthesizeSpeech('Hi, I would like to know where my order is, please.', { engine: 'synthetic' }));
      await until(() => transcript.some((t) => t.callId === callId && t.role === 'agent' && /tracking number/.test(t.text)), 30_000, 'the answer about the order');
      const answerFrom = Date.now();
      await until(() => phone.loudMs(answerFrom - 2000) >= 500, 20_000, 'the answer over RTP');
      await phone.waitForSilence(700, 30_000);

      // 3. Goodbye: the model calls hangup_call; the gateway sends BYE and sipp answers 200.
      phone.say(await synthesizeSpeech('That is all, thank you, goodbye!', { engine: 'synthetic' }));
      const code = await exited;
      expect(code, output).toBe(0);
      await until(() => ended.some((e) => e.callId === callId), 5000, 'evt.call.ended');
      expect(ended.find((e) => e.callId === callId)?.reason).toBe('agent-hangup');
    } finally {
      if (sipp.exitCode === null) sipp.kill('SIGKILL');
      phone.close();
    }
  });
});
