import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** BullMQ scores a delayed job `timestamp * 0x1000 + n` (n orders jobs due in the same millisecond). */
const SCORE_PER_MS = 0x1000;

/**
 * Wakes the queue's workers when a delayed job falls due.
 *
 * BullMQ's worker waits for the next delayed job with a blocking `BZPOPMIN` on the queue's marker
 * key whose timeout is the time left until that job. Redis expires blocking timeouts in its server
 * cron, `hz` times a second (10 by default), so a delayed job starts up to 100 ms late, about 50 ms
 * on average. Writing to the marker key, by contrast, unblocks the waiting worker at once. So each
 * instance keeps one timer for the earliest delayed job it knows of (from its own enqueues and
 * deferrals, and from reading the delayed set every `pollMs`) and, when it fires, adds the
 * "job ready" marker BullMQ itself uses (`ZADD <marker> 0 "0"`); the worker wakes, promotes every
 * due delayed job and takes them. BullMQ's own timeout stays as the fallback.
 */
export class DueWaker {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  /** The last time a wake-up was sent for: jobs due at or before it have been signalled. */
  private signalledUpTo = 0;
  private poller: NodeJS.Timeout | undefined;
  private closed = false;
  /** Wake-ups sent (for health details and tests). */
  wakeups = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: { delayed: string; marker: string },
    private readonly log: Logger,
    private readonly pollMs = 1000,
  ) {}

  start(): void {
    void this.refresh();
    this.poller = setInterval(() => void this.refresh(), this.pollMs);
    this.poller.unref();
  }

  /** A job will fall due at `ms`: wake the workers then, unless an earlier wake-up is already set. */
  consider(ms: number): void {
    if (this.closed || ms <= this.signalledUpTo || ms >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = ms;
    this.timer = setTimeout(() => void this.fire(ms), Math.max(0, ms - Date.now()));
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.poller);
  }

  private async fire(ms: number): Promise<void> {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    // A timer may run a millisecond before the wall clock reaches its time; the worker would then
    // find nothing due and fall back to its coarse wait.
    if (Date.now() < ms) return this.consider(ms);
    this.signalledUpTo = Math.max(this.signalledUpTo, ms);
    try {
      await this.redis.zadd(this.keys.marker, 0, '0');
      this.wakeups++;
    } catch (err) {
      this.log.warn({ err }, 'could not wake the scheduler workers');
    }
    await this.refresh();
  }

  /** Reads the earliest delayed job not yet signalled and arms the timer for it. */
  private async refresh(): Promise<void> {
    if (this.closed) return;
    try {
      const after = Math.max(this.signalledUpTo, Date.now());
      const [, score] = await this.redis.zrangebyscore(this.keys.delayed, (after + 1) * SCORE_PER_MS, '+inf', 'WITHSCORES', 'LIMIT', 0, 1);
      if (score !== undefined) this.consider(Math.floor(Number(score) / SCORE_PER_MS));
    } catch (err) {
      if (!this.closed) this.log.debug({ err }, 'reading the next delayed job failed');
    }
  }
}
