import type { Logger } from 'pino';
import type { Subscription } from '@nats-io/nats-core';
import { Resampler, FrameChunker, bufferToPcm16, pcm16ToBuffer } from '@switchboard/audio';
import { contracts, audioSubjects, ErrorCodes, Headers, SwitchboardError, type CallEnded, type CallStarted } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { Pacer, Paced } from './pacer.ts';
import { CallEvents } from './call-events.ts';
import type { CallRecorder } from './recorder.ts';
import type { RawOutbox } from './outbox.ts';

/** What a carrier connection must do for a call leg (Twilio stream, SIP/RTP session). */
export interface CarrierSink {
  /** One 20 ms frame of 8 kHz PCM16; the carrier encodes it. */
  sendAudio(frame: Int16Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  /** Closes the media side (WebSocket, RTP socket). */
  close(): void;
  /** Ends the call at the carrier (Twilio REST `Status=completed`, SIP BYE). Absent: closing the media ends it. */
  hangup?(): Promise<void>;
  /** Transfers the call (Twilio: update the live call with `<Dial>`; SIP: REFER). Absent: not supported. */
  transfer?(destination: string): Promise<void>;
}

/** Optional parts of a leg. */
export interface CallLegOptions {
  /**
   * Publishes the lifecycle events the leg produces (ended, DTMF) durably and once per call. Default:
   * durable through the leg's bus, without the cross-instance once-only claim.
   */
  events?: CallEvents;
  /** Records both legs to WAV (RECORDINGS_DIR). */
  recorder?: CallRecorder;
  /** Batches caller-audio publishes per event-loop turn. Default: publish each frame at once. */
  outbox?: RawOutbox;
}

type Queued = { kind: 'audio'; frame: Int16Array } | { kind: 'mark'; name: string };

const FRAME_MS = 20;
const CARRIER_RATE = 8000;
const INTERNAL_RATE = 16000;
/** Samples in one 20 ms frame on each side. */
const CARRIER_FRAME = CARRIER_RATE / 50;
const INTERNAL_FRAME = INTERNAL_RATE / 50;

/**
 * An Int16Array over memory from Node's Buffer pool (8 KiB slabs, 8-byte aligned): several times
 * cheaper than a fresh ArrayBuffer for each 20 ms frame, and easier on the garbage collector. The
 * contents are not initialised: the caller writes every sample.
 */
function pooledPcm16(samples: number): Int16Array {
  const b = Buffer.allocUnsafe(samples * 2);
  return new Int16Array(b.buffer, b.byteOffset, samples);
}

function copyToPool(data: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(data.length);
  b.set(data);
  return b;
}

/**
 * One call's media inside the gateway, independent of carrier: caller audio 8 kHz → 16 kHz frames on
 * `media.<id>.in`; agent audio from `media.<id>.out` → 8 kHz frames paced to the carrier with marks;
 * `clear` on the control subject drops the queue at once. Publishes the call's end exactly once.
 */
export class CallLeg implements Paced {
  readonly started: CallStarted;
  private readonly upsampler = new Resampler(CARRIER_RATE, INTERNAL_RATE);
  private readonly downsampler = new Resampler(INTERNAL_RATE, CARRIER_RATE);
  private readonly inChunker = new FrameChunker(INTERNAL_FRAME);
  private readonly outChunker = new FrameChunker(CARRIER_FRAME);
  private readonly queue: Queued[] = [];
  private queueHead = 0;
  private readonly subs: Subscription[] = [];
  /** performance.now() at which everything sent so far will have played at the far end. */
  private playedUntil = 0;
  private ended = false;
  private drainWaiters: Array<() => void> = [];
  private readonly inSubject: string;
  private readonly events: CallEvents;
  private readonly recorder: CallRecorder | undefined;
  private readonly outbox: RawOutbox | undefined;
  /**
   * The end reason of a hang-up or transfer this gateway started: the carrier stopping the stream
   * because of it (Twilio sends `stop`) must not be reported as the caller hanging up.
   */
  private endingAs: CallEnded['reason'] | undefined;
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
    opts: CallLegOptions = {},
  ) {
    this.started = started;
    this.inSubject = audioSubjects.mediaIn(started.callId);
    this.events = opts.events ?? new CallEvents(bus, undefined, log);
    this.recorder = opts.recorder;
    this.outbox = opts.outbox;
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
        this.endingAs = 'agent-hangup';
        try {
          await this.sink.hangup?.();
        } catch (err) {
          this.log.warn({ err }, 'carrier hang-up failed; closing the media side');
        }
        this.end('agent-hangup');
        return { ok: true };
      }, { param: id }),
    );
    this.subs.push(
      this.bus.handle(contracts.transfer, async (req) => {
        if (this.ended) throw new SwitchboardError(ErrorCodes.CALL_ALREADY_ENDED, 'the call has already ended');
        if (!this.sink.transfer) throw new SwitchboardError(ErrorCodes.CARRIER_FAILED, `transfer is not supported for ${this.started.carrier} calls here`, { retryable: false });
        this.log.info({ destination: req.destination }, 'transfer requested');
        await this.waitForPlayout(5000);
        this.endingAs = 'transferred';
        try {
          await this.sink.transfer(req.destination);
        } catch (err) {
          this.endingAs = undefined;
          throw err;
        }
        this.end('transferred');
        return { ok: true };
      }, { param: id }),
    );
    this.pacer.add(this);
  }

  /** Caller audio from the carrier (8 kHz PCM16, any length). */
  onCallerAudio(pcm8k: Int16Array): void {
    if (this.ended) return;
    this.recorder?.callerAudio(pcm8k);
    // A fresh array per frame: NATS holds the bytes until its next flush.
    const up = pooledPcm16(this.upsampler.outputLength(pcm8k.length));
    this.upsampler.processInto(pcm8k, up);
    if (up.length === INTERNAL_FRAME && this.inChunker.buffered === 0) {
      // The carrier's usual 20 ms frame: already one internal frame, no re-cutting.
      this.publishIn(up);
      return;
    }
    for (const frame of this.inChunker.push(up)) this.publishIn(frame);
  }

  private publishIn(frame: Int16Array): void {
    this.framesIn++;
    if (this.outbox) this.outbox.publish(this.inSubject, pcm16ToBuffer(frame));
    else this.bus.publishRaw(this.inSubject, pcm16ToBuffer(frame));
  }

  onMarkPlayed(name: string): void {
    if (this.ended) return;
    this.bus.publish(contracts.mediaEvents, { type: 'mark-played', name, at: Date.now() }, { param: this.callId });
  }

  onDtmf(digit: string): void {
    if (this.ended) return;
    const at = Date.now();
    this.bus.publish(contracts.mediaEvents, { type: 'dtmf', digit, at }, { param: this.callId });
    void this.events.dtmf({ callId: this.callId, accountId: this.started.accountId, agentId: this.started.agentId, digit, at: new Date(at).toISOString() });
  }

  private onAgentAudio(data: Uint8Array, mark: string | undefined): void {
    if (this.ended) return;
    if (data.length > 0) {
      // NATS hands over a view into its read buffer, at any offset: an odd one cannot be an Int16Array view.
      const pcm = data.byteOffset % 2 === 0 ? bufferToPcm16(data) : bufferToPcm16(copyToPool(data));
      const down = pooledPcm16(this.downsampler.outputLength(pcm.length));
      this.downsampler.processInto(pcm, down);
      // The orchestrator's usual 20 ms frame: already one carrier frame, no re-cutting.
      if (down.length === CARRIER_FRAME && this.outChunker.buffered === 0) this.queue.push({ kind: 'audio', frame: down });
      else for (const f of this.outChunker.push(down)) this.queue.push({ kind: 'audio', frame: f });
    }
    if (mark) {
      // A mark closes a segment: pad its last partial frame so the mark follows all of its audio.
      for (const f of this.outChunker.flush(true)) this.queue.push({ kind: 'audio', frame: f });
      this.queue.push({ kind: 'mark', name: mark });
    }
  }

  /** Sends what is due: frames until the far end is `leadMs` ahead of real time. */
  pace(now: number): void {
    // Idle line with something to send: the next frame's grid starts afresh, midway between the
    // pacer's ticks, and the orchestrator learns when the agent's audio started to play. With
    // nothing queued `playedUntil` stays where the last frame ends, so the drain check below sees it.
    if (this.queueHead < this.queue.length && this.playedUntil < now) {
      this.playedUntil = this.pacer.anchor(now);
      if (this.queue[this.queueHead]!.kind === 'audio') this.bus.publish(contracts.mediaEvents, { type: 'playout-started', at: Date.now() }, { param: this.callId });
    }
    while (this.queueHead < this.queue.length && this.playedUntil - now < this.leadMs) {
      const item = this.queue[this.queueHead++]!;
      if (item.kind === 'audio') {
        this.recorder?.agentAudio(item.frame, this.playedUntil);
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
  end(cause: CallEnded['reason']): void {
    if (this.ended) return;
    this.ended = true;
    const reason = this.endingAs ?? cause;
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
    void this.events.ended(evt);
    this.log.info({ reason, framesIn: this.framesIn, framesOut: this.framesOut }, 'call ended');
    if (this.recorder) {
      void this.recorder.close().then(
        (files) => this.log.info({ files }, 'call recorded'),
        (err: unknown) => this.log.error({ err }, 'recording could not be finished'),
      );
    }
    this.onEnded(this);
  }

  get isEnded(): boolean {
    return this.ended;
  }
}
