import type { Bus } from '@switchboard/bus';

/**
 * Batches the gateway's raw audio publishes (`media.<id>.in`) per turn of the event loop. The NATS
 * client flushes its socket in a microtask after the first publish into an empty buffer; caller
 * frames arrive one WebSocket message per callback, so publishing each at once costs one write
 * system call per frame. Queued here and published together from `setImmediate` (after the loop's
 * I/O callbacks, well under a millisecond later), a thousand calls' frames share a few writes.
 * Frames keep their order; each must stay unmodified until published (NATS holds it until it flushes).
 */
export class RawOutbox {
  private subjects: string[] = [];
  private frames: Uint8Array[] = [];
  private scheduled = false;

  constructor(private readonly bus: Bus) {}

  publish(subject: string, data: Uint8Array): void {
    this.subjects.push(subject);
    this.frames.push(data);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Publishes everything queued now. */
  readonly flush = (): void => {
    this.scheduled = false;
    const subjects = this.subjects;
    const frames = this.frames;
    if (subjects.length === 0) return;
    this.subjects = [];
    this.frames = [];
    for (let i = 0; i < subjects.length; i++) this.bus.publishRaw(subjects[i]!, frames[i]!);
  };
}
