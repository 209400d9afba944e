/**
 * Shared set-up of the SIP integration tests: the gateway app in-process with SIP on a free UDP port,
 * a stand-in orchestrator on the real bus, UDP receivers standing in for a caller's RTP port, and sipp
 * (Debian `sip-tester`) run as a subprocess against the gateway.
 */
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { Bus, rawHeaders } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { bufferToPcm16, rmsDbfs } from '@switchboard/audio';
import { ErrorCodes, Headers, audioSubjects, contracts, type CallEnded, type CallStarted, type MediaEvent } from '@switchboard/contracts';
import { connectRedis, createLogger } from '@switchboard/runtime';
import { infraUrls } from '@switchboard/testing';
import { buildApp, type Gateway } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { parseRtp, type RtpPacket } from '../src/rtp/rtp-packet.ts';

export const AGENTS_DIR = fileURLToPath(new URL('../../../config/agents', import.meta.url));
export const SCENARIOS = fileURLToPath(new URL('./sipp', import.meta.url));
const PCAPS = '/usr/share/sip-tester';

/** What the stand-in orchestrator saw of one call. */
export interface ObservedCall {
  started: CallStarted;
  /** 20 ms frames received on media.<id>.in, and how many were louder than -50 dBFS. */
  framesIn: number;
  loudFrames: number;
  events: MediaEvent[];
}

export interface SipHarness {
  gw: Gateway;
  /** The test's own NATS connection (plays orchestrator and observer). */
  probe: Bus;
  redis: Redis;
  sipPort: number;
  instanceId: string;
  calls: Map<string, ObservedCall>;
  ended: CallEnded[];
  /** sipp's working directory: `pcap/` holds the sip-tester pcaps (uac_pcap plays pcap/g711a.pcap). */
  workDir: string;
  /** Called user → how the stand-in orchestrator claims: delay (ms) or refuse. */
  claimBehaviour: Map<string, { delayMs?: number; refuse?: boolean }>;
  callFor(pred: (c: ObservedCall) => boolean, what: string, timeoutMs?: number): Promise<ObservedCall>;
  close(): Promise<void>;
}

/** Resolves once `pred` holds; polls every 10 ms. */
export async function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A UDP port to bind later (a sipp trunk the gateway's config points at): above the kernel's ephemeral
 * range (32768-60999 on Linux), so no socket bound to port 0 meanwhile can be handed the same port.
 */
export async function reservedUdpPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 61000 + Math.floor(Math.random() * 4500);
    const s = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => resolve(true));
    });
    s.close();
    if (ok) return port;
  }
  throw new Error('no free UDP port above the ephemeral range');
}

/** A free UDP port on 127.0.0.1 (even, so sipp can use it as a media port), for immediate use. */
export async function freeUdpPort(even = false): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const s = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve(s.address().port));
    });
    s.close();
    if (!even || port % 2 === 0) return port;
  }
  throw new Error('no free UDP port');
}

/** A UDP socket standing in for a phone's RTP port: collects every RTP packet with its arrival time. */
export interface RtpReceiver {
  socket: Socket;
  port: number;
  packets: Array<RtpPacket & { at: number }>;
  close(): void;
}

export async function rtpReceiver(): Promise<RtpReceiver> {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  const packets: RtpReceiver['packets'] = [];
  socket.on('message', (buf) => {
    const p = parseRtp(buf);
    if (p && packets.length < 20_000) packets.push({ ...p, payload: Uint8Array.from(p.payload), at: performance.now() });
  });
  return { socket, port: socket.address().port, packets, close: () => socket.close() };
}

export interface SippResult {
  code: number | null;
  output: string;
  /** sipp's error log (unexpected messages), when it wrote one. */
  errors: string;
}

export interface SippRun {
  /** Built-in scenario name (`uac`, `uac_pcap`, `uas`) or a file in test/sipp/ (`cancel.xml`). */
  scenario: string;
  /** Called user (`-s`). */
  service?: string;
  /** Global scenario variables (`-set name value`). */
  set?: Record<string, string | number>;
  /** Extra sipp arguments. */
  args?: string[];
  /** Whole-run limit in seconds (`-timeout … -timeout_error`). */
  timeoutS?: number;
  /** Where sipp sends to: the gateway (default) or nothing (UAS mode, waiting for calls). */
  target?: string | null;
  /** Local SIP port (default: a free one). */
  localPort?: number;
}

/** Runs sipp once (`-m 1`) and resolves with its exit code (0: every call succeeded). */
export async function runSipp(h: Pick<SipHarness, 'sipPort' | 'workDir'>, run: SippRun): Promise<SippResult> {
  const port = run.localPort ?? (await freeUdpPort());
  const mediaPort = await freeUdpPort(true);
  const scenario = run.scenario.endsWith('.xml') ? ['-sf', join(SCENARIOS, run.scenario)] : ['-sn', run.scenario];
  const errorFile = join(h.workDir, `errors-${port}.log`);
  const target = run.target === undefined ? [`127.0.0.1:${h.sipPort}`] : run.target === null ? [] : [run.target];
  const args = [
    ...target,
    ...scenario,
    '-i', '127.0.0.1',
    '-p', String(port),
    '-mi', '127.0.0.1',
    '-mp', String(mediaPort),
    '-m', '1',
    '-nostdin',
    '-timeout', `${run.timeoutS ?? 15}s`,
    '-timeout_error',
    '-trace_err',
    '-error_file', errorFile,
    ...(run.service ? ['-s', run.service] : []),
    ...Object.entries(run.set ?? {}).flatMap(([k, v]) => ['-set', k, String(v)]),
    ...(run.args ?? []),
  ];
  const child = spawn('sipp', args, { cwd: h.workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  child.stderr.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-20_000)));
  const code = await new Promise<number | null>((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), ((run.timeoutS ?? 15) + 10) * 1000);
    child.on('exit', (c) => {
      clearTimeout(killer);
      resolve(c);
    });
  });
  const errors = existsSync(errorFile) ? readFileSync(errorFile, 'utf8') : '';
  return { code, output, errors };
}

/** sipp's result in a form that shows why it failed. */
export function describeSipp(r: SippResult): string {
  return `sipp exited ${r.code}\n--- errors ---\n${r.errors.slice(-3000)}\n--- output ---\n${r.output.slice(-3000)}`;
}

/** Starts the gateway with SIP on a free port and the stand-in orchestrator. */
export async function startSipHarness(name: string, env: Record<string, string> = {}): Promise<SipHarness> {
  const infra = await infraUrls();
  console.log(`${name}: NATS ${infra.natsUrl}, Redis ${infra.redisUrl} (${infra.source})`);
  const log = createLogger(name, process.env.TEST_LOG_LEVEL ?? 'silent');
  const bus = await Bus.connect({ url: infra.natsUrl, name: `${name}-gateway`, log });
  const probe = await Bus.connect({ url: infra.natsUrl, name: `${name}-probe`, log });
  const redis = await connectRedis(infra.redisUrl, { name });
  const agents = new AgentRegistry(await loadAgents(AGENTS_DIR, {}));
  // Below the ephemeral range, so RTP ports never collide with the port-0 sockets of the tests.
  const rtpBase = 10000 + 2 * Math.floor(Math.random() * 11000);
  const settings: Record<string, string> = {
    TWILIO_VALIDATE_SIGNATURES: 'false',
    AGENTS_DIR,
    LOG_LEVEL: 'silent',
    SIP_HOST: '127.0.0.1',
    SIP_PUBLIC_IP: '127.0.0.1',
    SIP_PORT: '0',
    SIP_DEFAULT_AGENT: 'demo',
    RTP_PORT_MIN: String(rtpBase),
    RTP_PORT_MAX: String(rtpBase + 400),
    ...env,
  };
  // An empty value removes a default above (e.g. SIP_DEFAULT_AGENT: '' for a gateway without one).
  for (const [k, v] of Object.entries(settings)) if (v === '') delete settings[k];
  const config = loadConfig(settings);
  const instanceId = `${name}-${process.pid}`;
  const gw = await buildApp({ config, bus, redis, agents, log, instanceId });
  const sipPort = await gw.sip!.listen(0, '127.0.0.1');

  const workDir = mkdtempSync(join(tmpdir(), `${name}-`));
  mkdirSync(join(workDir, 'pcap'));
  for (const f of readdirSync(PCAPS).filter((f) => f.endsWith('.pcap'))) symlinkSync(join(PCAPS, f), join(workDir, 'pcap', f));

  const calls = new Map<string, ObservedCall>();
  const ended: CallEnded[] = [];
  const claimBehaviour = new Map<string, { delayMs?: number; refuse?: boolean }>();
  // The stand-in orchestrator answers start-session for this gateway's calls only and stays silent for
  // anyone else's: it subscribes outside the orchestrators' queue group, so every request reaches it and
  // it never takes (or refuses) a call of another gateway sharing the NATS, such as another test file's.
  const claimSub = probe.nc.subscribe(contracts.startSession.subject(), {
    callback: (err, msg) => {
      if (err) return;
      let req: CallStarted;
      try {
        req = JSON.parse(new TextDecoder().decode(msg.data)) as CallStarted;
      } catch {
        return;
      }
      if (req.gatewayInstance !== instanceId) return;
      void (async () => {
        let observed = calls.get(req.callId);
        if (!observed) {
          const call: ObservedCall = { started: req, framesIn: 0, loudFrames: 0, events: [] };
          observed = call;
          calls.set(req.callId, call);
          probe.subscribeRaw(audioSubjects.mediaIn(req.callId), (data) => {
            call.framesIn++;
            if (rmsDbfs(bufferToPcm16(data)) > -50) call.loudFrames++;
          });
          probe.subscribe(contracts.mediaEvents, (e) => void call.events.push(e), { param: req.callId });
          await probe.nc.flush();
        }
        const b = claimBehaviour.get(req.to);
        if (b?.delayMs) await new Promise((r) => setTimeout(r, b.delayMs));
        if (b?.refuse) {
          const envelope = { code: ErrorCodes.AGENT_NOT_FOUND, message: 'refused by the test', retryable: false };
          msg.respond(new TextEncoder().encode(JSON.stringify(envelope)), { headers: rawHeaders({ [Headers.status]: 'error' }) });
          return;
        }
        msg.respond(new TextEncoder().encode(JSON.stringify({ callId: req.callId, instanceId: 'fake-orchestrator' })));
      })();
    },
  });
  probe.subscribe(contracts.callEnded, (e) => void ended.push(e), { queue: false });
  await probe.nc.flush();

  return {
    gw,
    probe,
    redis,
    sipPort,
    instanceId,
    calls,
    ended,
    workDir,
    claimBehaviour,
    async callFor(pred, what, timeoutMs = 8000) {
      let found: ObservedCall | undefined;
      await until(() => (found = [...calls.values()].find(pred)) !== undefined, what, timeoutMs);
      return found!;
    },
    async close() {
      claimSub.unsubscribe();
      await gw.app.close();
      await new Promise((r) => setTimeout(r, 100));
      await probe.drain(2000);
      await bus.drain(2000);
      redis.disconnect();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
}
