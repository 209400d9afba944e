import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import type { Subscription } from '@nats-io/nats-core';
import { contracts, platformEventDomains, SwitchboardError } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import type { AgentRegistry } from '@switchboard/agents';
import { createHttp } from '@switchboard/runtime';
import { AccountStore, ApiKeyStore } from '@switchboard/session-store';
import type { SchedulerConfig } from './config.ts';
import { ScheduleStore } from './adapters/schedule-store.ts';
import { OutboundGate } from './adapters/outbound-gate.ts';
import { RunQueue, type RunJobData } from './adapters/run-queue.ts';
import { DueWaker } from './adapters/due-waker.ts';
import { ActionRunner } from './schedules/actions.ts';
import { ScheduleService } from './schedules/service.ts';
import { runSchedule, type RunDeps, type RunJob } from './handlers/run-schedule.job.ts';
import { handleScheduleCommands } from './handlers/schedule-commands.handler.ts';
import { handleCallEnded } from './handlers/call-ended.handler.ts';
import { schedulesRoutes } from './http/schedules.route.ts';

export interface SchedulerDeps {
  config: SchedulerConfig;
  bus: Bus;
  redis: Redis;
  log: Logger;
  instanceId: string;
  /** The agents schedules may name (loaded from AGENTS_DIR by main.ts). */
  agents: AgentRegistry;
}

export interface SchedulerApp {
  app: FastifyInstance;
  queue: Queue;
  worker: Worker;
  service: ScheduleService;
  store: ScheduleStore;
  /** The boot-time reconciliation (runs in the background; tests await it). */
  reconciled: Promise<{ checked: number; requeued: number }>;
  close(): Promise<void>;
}

/** Extra time a run's claim outlives the action's own timeout. */
const CLAIM_MARGIN_MS = 5000;

/**
 * The scheduler: schedule records in Redis, one BullMQ delayed job per pending run, a worker that
 * fires runs (dial, callback, publish, MCP tool call), the `cmd.scheduler.*` operations over NATS and
 * `/v1/schedules` over HTTP.
 */
export async function buildApp(deps: SchedulerDeps): Promise<SchedulerApp> {
  const { config, bus, redis, log, instanceId, agents } = deps;
  // BullMQ never closes a connection it is given: close() below closes these two.
  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const workerConnection = redis.duplicate({ maxRetriesPerRequest: null });
  const queue = new Queue<RunJobData>(config.SCHEDULER_QUEUE, { connection });
  queue.on('error', (err) => log.error({ err }, 'scheduler queue error'));

  const store = new ScheduleStore(redis, config.SCHEDULER_QUEUE);
  const waker = new DueWaker(redis, { delayed: queue.toKey('delayed'), marker: queue.toKey('marker') }, log);
  const runs = new RunQueue(queue, { attempts: config.SCHEDULER_ATTEMPTS, backoffMs: config.SCHEDULER_BACKOFF_MS, keepFailedS: config.SCHEDULER_KEEP_FAILED_S }, (ms) => waker.consider(ms));
  const accounts = new AccountStore(redis);
  const gate = new OutboundGate(redis, config.SCHEDULER_QUEUE, config.SCHEDULER_OUTBOUND_RECHECK_MS);
  const service = new ScheduleService({
    store,
    runs,
    agents,
    accounts,
    reservedEventDomains: platformEventDomains(contracts),
    maxActionBytes: config.SCHEDULER_MAX_ACTION_BYTES,
    log,
  });
  const timeout = config.SCHEDULER_ACTION_TIMEOUT_MS;
  const actions = new ActionRunner(
    {
      dial: (req) => bus.request(contracts.dial, req, { timeoutMs: timeout }),
      callTool: (req) => bus.request(contracts.callTool, req, { timeoutMs: (req.timeoutMs ?? timeout) + 2000 }),
      publish: (subject, payload) => bus.publish(contracts.scheduledEvent, payload, { param: subject }),
    },
    agents,
    timeout,
  );
  const runDeps: RunDeps = {
    store,
    service,
    gate,
    accounts,
    actions,
    events: {
      fired: (e) => bus.publish(contracts.scheduleFired, e),
      failed: (e) => bus.publish(contracts.scheduleFailed, e),
      skipped: (e) => bus.publish(contracts.scheduleSkipped, e),
    },
    misfireThresholdMs: config.SCHEDULER_MISFIRE_THRESHOLD_MS,
    claimLeaseMs: timeout + CLAIM_MARGIN_MS,
    log,
  };

  const jobTracer = trace.getTracer('switchboard-scheduler');
  const worker = new Worker<RunJobData>(
    config.SCHEDULER_QUEUE,
    async (job: Job<RunJobData>, token?: string) => {
      if (job.name !== 'run') throw new UnrecoverableError(`unknown job ${job.name}: the scheduler queue carries only schedule runs`);
      const run: RunJob = {
        data: job.data,
        attemptsMade: job.attemptsMade,
        attempts: job.opts.attempts ?? 1,
        async defer(runAtMs) {
          await job.updateData({ ...job.data, runAtMs });
          await job.moveToDelayed(runAtMs, token);
          waker.consider(runAtMs);
          throw new DelayedError();
        },
      };
      // A consumer span per attempt, child of the span that queued the run (its traceparent rides in the job data).
      const parent = job.data.traceparent ? propagation.extract(ROOT_CONTEXT, { traceparent: job.data.traceparent }) : ROOT_CONTEXT;
      const span = jobTracer.startSpan(`${config.SCHEDULER_QUEUE} process`, { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'bullmq', 'messaging.destination.name': config.SCHEDULER_QUEUE, 'messaging.message.id': job.id ?? '', 'switchboard.schedule_id': job.data.scheduleId } }, parent);
      try {
        return await context.with(trace.setSpan(parent, span), () => runSchedule(run, runDeps));
      } catch (err) {
        if (!(err instanceof DelayedError)) span.setStatus({ code: SpanStatusCode.ERROR });
        // A failure that no retry can fix goes straight to the failed set, kept for inspection.
        if (err instanceof SwitchboardError && !err.retryable) throw new UnrecoverableError(`${err.code}: ${err.message}`);
        throw err;
      } finally {
        span.end();
      }
    },
    { connection: workerConnection, concurrency: config.SCHEDULER_CONCURRENCY, autorun: true },
  );
  worker.on('error', (err) => log.error({ err }, 'scheduler worker error'));
  waker.start();

  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);
  await app.register(schedulesRoutes, { service, keys: new ApiKeyStore(redis) });

  const subs: Subscription[] = [...handleScheduleCommands(bus, service), handleCallEnded(bus, gate)];
  const startedAt = Date.now();
  subs.push(
    bus.handle(
      contracts.health,
      async () => ({
        service: 'scheduler',
        instanceId,
        status: 'ok' as const,
        uptimeS: (Date.now() - startedAt) / 1000,
        details: { ...(await queue.getJobCounts('waiting', 'delayed', 'active', 'failed')), wakeups: waker.wakeups },
      }),
      { param: 'scheduler', queue: false },
    ),
  );

  const reconciled = service.reconcile().catch((err: unknown) => {
    log.error({ err }, 'reconciling schedules failed');
    return { checked: 0, requeued: 0 };
  });

  return {
    app,
    queue,
    worker,
    service,
    store,
    reconciled,
    async close() {
      for (const s of subs) s.unsubscribe();
      waker.close();
      await reconciled;
      // Waits for runs in progress to finish; pending runs stay in Redis for the next instance.
      await worker.close();
      await queue.close();
      await Promise.all([connection.quit(), workerConnection.quit()]);
    },
  };
}
