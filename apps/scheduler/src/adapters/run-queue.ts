import { context, propagation } from '@opentelemetry/api';
import type { Queue } from 'bullmq';

/** A run job's data: which schedule, which occurrence, and when it is to start (later when moved). */
export interface RunJobData {
  scheduleId: string;
  /** The occurrence (ms since epoch); with the schedule id it names the job and the run's claim. */
  dueMs: number;
  /** When the run is to start: `dueMs`, or the time calling hours or outbound caps moved it to. */
  runAtMs: number;
  /** W3C traceparent of the request that queued the run: the worker's span continues that trace. */
  traceparent?: string;
}

export interface RunQueueOptions {
  /** Attempts per run (first try included). */
  attempts: number;
  /** First retry delay; doubles each retry. */
  backoffMs: number;
  /** How long failed jobs stay in the queue for inspection. */
  keepFailedS: number;
}

/**
 * The schedules' side of BullMQ: one delayed job per pending run, with the deterministic id
 * `<scheduleId>-<dueMs>`, so adding the same run twice (two instances, a boot-time reconciliation)
 * leaves one job.
 */
export class RunQueue {
  constructor(
    readonly queue: Queue,
    private readonly opts: RunQueueOptions,
    /** Told when a queued run falls due (the DueWaker's timer). */
    private readonly onQueued: (runAtMs: number) => void = () => undefined,
  ) {}

  static jobId(scheduleId: string, dueMs: number): string {
    return `${scheduleId}-${dueMs}`;
  }

  async enqueue(scheduleId: string, dueMs: number, runAtMs = dueMs): Promise<void> {
    const trace: { traceparent?: string } = {};
    propagation.inject(context.active(), trace);
    const data: RunJobData = { scheduleId, dueMs, runAtMs, ...(trace.traceparent ? { traceparent: trace.traceparent } : {}) };
    await this.queue.add('run', data, {
      jobId: RunQueue.jobId(scheduleId, dueMs),
      delay: Math.max(0, runAtMs - Date.now()),
      attempts: this.opts.attempts,
      backoff: { type: 'exponential', delay: this.opts.backoffMs },
      // A completed run is recorded on the schedule (run count, last run) and its claim marks it done,
      // so its job is not needed afterwards; failed jobs are kept for inspection.
      removeOnComplete: true,
      removeOnFail: { age: this.opts.keepFailedS },
    });
    this.onQueued(runAtMs);
  }

  /** Removes a pending run; false when there is none or it is running now (a running run finishes). */
  async remove(scheduleId: string, dueMs: number): Promise<boolean> {
    return (await this.queue.remove(RunQueue.jobId(scheduleId, dueMs))) === 1;
  }

  /** Whether the run's job exists in any state (waiting, delayed, active, completed, failed). */
  async exists(scheduleId: string, dueMs: number): Promise<boolean> {
    return (await this.queue.getJobState(RunQueue.jobId(scheduleId, dueMs))) !== 'unknown';
  }
}
