import type { Logger } from 'pino';
import type { Subscription } from '@nats-io/nats-core';
import { Resampler, FrameChunker, bufferToPcm16, pcm16ToBuffer } from '@switchboard/audio';
import { contracts, audioSubjects, Headers, type CallEnded, type CallStarted } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { Pacer, Paced } from './pacer.ts';

/** What a carrier connection must do for a call leg (Twilio stream, SIP/RTP session). */
export interface CarrierSink {
  /** One 20 ms frame of 8 kHz PCM16; the carrier encodes it. */
  sendAudio(frame: Int16Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  close(): void;
}

type Queued = { kind: 'audio'; frame: Int16Array } | { kind: 'mark'; name: string };

const FRAME_MS = 20;
const CARRIER_RATE = 8000;
const INTERNAL_RATE = 16000;

/**
 * One call's media inside the gateway, independent of carrier: caller audio 8 kHz → 16 kHz frames on
 * `media.<id>.in`; agent audio from `media.<id>.out` → 8 kHz frames paced to the carrier with marks;
 * `clear` on the control subject drops the queue at once. Publishes the call's end exactly once.
 */
export class CallLeg implements Paced {
  readonly started: CallStarted;
  private readonly upsampler = new Resampler(CARRIER_RATE, INTERNAL_RATE);
  private readonly downsampler = new Resampler(INTERNAL_RATE, CARRIER_RATE);
  private readonly inChunker = new FrameChunker(INTERNAL_RATE / 50);
  private readonly outChunker = new FrameChunker(CARRIER_RATE / 50);
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private readonly subs: Subscription[] = [];
  /** performance.now() at which everything sent so far will have played at the far end. */
  private playedUntil = 0;
  private ended = false;
  private drainWaiters: Array<() => void> = [];
  private readonly inSubject: string;
  framesIn = 0;
  framesOut = 0;

  constructor(
    started: CallStarted,
    private readonly bus: Bus,
    private readonly sink: CarrierSink,
    private readonly pacer: Pacer,
    private readonly log: Logger,
    private readonly leadMs: number,
    private readonly onEnded: (leg: CallLeg) => void,
  ) {
    this.started = started;
    this.inSubject = audioSubjects.mediaIn(started.callId);
  }

  get callId(): string {
    return this.started.callId;
  }

  /** Subscribes the call's outbound subjects; call before telling the orchestrator. */
  attach(): void {
    const id = this.callId;
    this.subs.push(this.bus.subscribeRaw(audioSubjects.mediaOut(id), (data, headers) => this.onAgentAudio(data, headers?.has(Headers.mark) ? headers.get(Headers.mark) : undefined)));
    this.subs.push(this.bus.subscribe(contracts.mediaControl, (msg) => (msg.type === 'clear' ? this.clear() : undefined), { param: id }));
    this.subs.push(
      this.bus.handle(contracts.hangup, async (req) => {
        if (this.ended) return { ok: true, alreadyEnded: true };
        this.log.info({ reason: req.reason }, 'hang-up requested');
        await this.waitForPlayout(5000);
        this.end('agent-hangup');
        return { ok: true };
      }, { param: id }),
    );
    this.pacer.add(this);
  }

  /** Caller audio from the carrier (8 kHz PCM16, any length). */
  onCallerAudio(pcm8k: Int16Array): void {
    if (this.ended) return;
    for (const frame of this.inChunker.push(this.upsampler.process(pcm8k))) {
      this.framesIn++;
      this.bus.publishRaw(this.inSubject, pcm16ToBuffer(frame));
    }
  }

  onMarkPlayed(name: string): void {
    if (this.ended) return;
    this.bus.publish(contracts.mediaEvents, { type: 'mark-played', name, at: Date.now() }, { param: this.callId });
  }

  onDtmf(digit: string): void {
    if (this.ended) return;
    this.bus.publish(contracts.mediaEvents, { type: 'dtmf', digit, at: Date.now() }, { param: this.callId });
  }

  private onAgentAudio(data: Uint8Array, mark: string | undefined): void {
    if (this.ended) return;
    if (data.length > 0) for (const f of this.outChunker.push(this.downsampler.process(bufferToPcm16(data)))) this.queue.push({ kind: 'audio', frame: f });
    if (mark) {
      // A mark closes a segment: pad its last partial frame so the mark follows all of its audio.
      for (const f of this.outChunker.flush(true)) this.queue.push({ kind: 'audio', frame: f });
      this.queue.push({ kind: 'mark', name: mark });
    }
  }

  /** Sends what is due: frames until the far end is `leadMs` ahead of real time. */
  pace(now: number): void {
    if (this.playedUntil < now) this.playedUntil = now;
    while (this.queueHead < this.queue.length && this.playedUntil - now < this.leadMs) {
      const item = this.queue[this.queueHead++]!;
      if (item.kind === 'audio') {
        this.sink.sendAudio(item.frame);
        this.framesOut++;
        this.playedUntil += FRAME_MS;
      } else {
        this.sink.sendMark(item.name);
      }
    }
    if (this.queueHead > 256 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    if (this.queueHead >= this.queue.length && this.drainWaiters.length && this.playedUntil <= now) {
      const waiters = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Barge-in: drop everything queued, tell the carrier to stop playback; unsent marks are reported as cleared. */
  clear(): void {
    const dropped = this.queue.slice(this.queueHead);
    this.queue.length = 0;
    this.queueHead = 0;
    this.outChunker.flush(false);
    this.downsampler.reset();
    this.playedUntil = performance.now();
    this.sink.sendClear();
    for (const item of dropped) if (item.kind === 'mark') this.bus.publish(contracts.mediaEvents, { type: 'mark-played', name: item.name, cleared: true, at: Date.now() }, { param: this.callId });
  }

  /** Resolves once every queued frame has played (or after `timeoutMs`). */
  waitForPlayout(timeoutMs: number): Promise<void> {
    if (this.queueHead >= this.queue.length && this.playedUntil <= performance.now()) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.drainWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Ends the call once: closes the carrier side, publishes `evt.call.ended`, releases subscriptions. */
  end(reason: CallEnded['reason']): void {
    if (this.ended) return;
    this.ended = true;
    this.pacer.delete(this);
    for (const s of this.subs) s.unsubscribe();
    for (const w of this.drainWaiters) w();
    this.drainWaiters = [];
    try {
      this.sink.close();
    } catch (err) {
      this.log.debug({ err }, 'carrier close failed');
    }
    const endedAt = new Date();
    const evt: CallEnded = {
      callId: this.callId,
      accountId: this.started.accountId,
      agentId: this.started.agentId,
      reason,
      endedAt: endedAt.toISOString(),
      durationMs: Math.max(0, endedAt.getTime() - Date.parse(this.started.startedAt)),
    };
    this.bus.publish(contracts.callEnded, evt, { callId: this.callId });
    this.log.info({ reason, framesIn: this.framesIn, framesOut: this.framesOut }, 'call ended');
    this.onEnded(this);
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
