import { Queue, Worker, type Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { contracts } from '@switchboard/contracts';
import type { Bus } from '@switchboard/bus';
import { createHttp } from '@switchboard/runtime';
import type { SchedulerConfig } from './config.ts';

export interface SchedulerDeps {
  config: SchedulerConfig;
  bus: Bus;
  redis: Redis;
  log: Logger;
  instanceId: string;
}

export interface SchedulerApp {
  app: FastifyInstance;
  queue: Queue;
  worker: Worker;
  close(): Promise<void>;
}

/**
 * The scheduler process: a BullMQ queue and worker on the shared Redis, with health on the bus.
 * Schedule operations and actions are defined by the scheduler issue; until then the worker fails
 * any job with a clear reason instead of silently dropping it.
 */
export async function buildApp(deps: SchedulerDeps): Promise<SchedulerApp> {
  const { config, bus, redis, log, instanceId } = deps;
  // BullMQ never closes a connection it is given: close() below closes these two.
  const connection = redis.duplicate({ maxRetriesPerRequest: null });
  const workerConnection = redis.duplicate({ maxRetriesPerRequest: null });
  const queue = new Queue(config.SCHEDULER_QUEUE, { connection });
  const worker = new Worker(
    config.SCHEDULER_QUEUE,
    async (job: Job) => {
      throw new Error(`no handler for job ${job.name}: schedule actions are not implemented yet`);
    },
    { connection: workerConnection, concurrency: config.SCHEDULER_CONCURRENCY, autorun: true },
  );
  worker.on('failed', (job, err) => log.warn({ job: job?.id, name: job?.name }, err.message));
  const app = createHttp(log, [
    { name: 'nats', check: () => bus.ping() },
    { name: 'redis', check: () => redis.ping() },
  ]);
  const startedAt = Date.now();
  bus.handle(contracts.health, async () => ({ service: 'scheduler', instanceId, status: 'ok' as const, uptimeS: (Date.now() - startedAt) / 1000, details: { waiting: await queue.getWaitingCount() } }), { param: 'scheduler', queue: false });
  return {
    app,
    queue,
    worker,
    async close() {
      await worker.close();
      await queue.close();
      await Promise.all([connection.quit(), workerConnection.quit()]);
    },
  };
}
