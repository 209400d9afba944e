/**
 * Scheduler fire-time precision and creation throughput.
 *
 *   npx tsx bench/scheduler.bench.ts          (or `npm run bench scheduler`)
 *
 * Needs the real NATS and Redis (`NATS_URL`, `REDIS_URL`, default 127.0.0.1). The scheduler runs as
 * a separate process (`dist/apps/scheduler/main.js` when built, else its source through tsx) on a
 * queue of its own, so this process's event loop (creating schedules, timing events) never competes
 * with it. This process:
 *
 * 1. creates 10,000 one-off `publish` schedules over NATS (`cmd.scheduler.create`, 64 in flight), due
 *    evenly over one minute starting `LEAD_MS` after the first request: creation throughput;
 * 2. listens to `evt.schedule.fired` and takes, per schedule, the time the event arrived minus the
 *    schedule's due time: the fire-time error as a subscriber sees it (p50, p99, max);
 * 3. stops the scheduler and deletes its queue and records.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Bus } from '@switchboard/bus';
import { contracts } from '@switchboard/contracts';
import { recordResults, summarize, cpuSeconds } from './lib.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';

/** Every loop below is bounded by one of these counts and by a deadline. */
const SCHEDULES = 10_000;
const SPREAD_MS = 60_000;
/** Time from the first create to the first due time: creation must stay ahead of the due times. */
const LEAD_MS = 15_000;
const IN_FLIGHT = 64;
/** After the last due time, how long stragglers may still arrive before they count as missing. */
const DRAIN_MS = 5_000;
const STARTUP_TIMEOUT_MS = 20_000;
/** The whole run is abandoned (child stopped, exit 1) past this. */
const RUN_TIMEOUT_MS = 150_000;

const QUEUE = `bench-schedules-${process.pid}`;
const ACCOUNT = `bench-${process.pid}`;
const log = pino({ level: 'warn' });

let child: ChildProcess | undefined;
const tail: string[] = [];

function commandFor(bundle: string, source: string): { args: string[]; from: string } {
  const dist = join(ROOT, 'dist', bundle, 'main.js');
  if (existsSync(dist)) return { args: [dist], from: `dist/${bundle}/main.js` };
  return { args: ['--import', 'tsx', join(ROOT, source)], from: `${source} (tsx)` };
}


async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function startScheduler(): Promise<string> {
  const { args, from } = commandFor('apps/scheduler', 'apps/scheduler/src/main.ts');
  const port = await freePort();
  child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, NATS_URL, REDIS_URL, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', SCHEDULER_QUEUE: QUEUE, INSTANCE_ID: `scheduler-bench-${process.pid}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk: Buffer) => {
    tail.push(...chunk.toString('utf8').split('\n').filter((l) => l.trim()));
    if (tail.length > 40) tail.splice(0, tail.length - 40);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`scheduler exited during startup:\n  ${tail.join('\n  ')}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return from;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`scheduler not ready within ${STARTUP_TIMEOUT_MS} ms:\n  ${tail.join('\n  ')}`);
}

async function stopScheduler(): Promise<void> {
  const c = child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  const exited = new Promise((r) => c.once('exit', r));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Deletes the bench queue's BullMQ keys and schedule records (SCAN + UNLINK, bounded batches). */
async function cleanup(redis: Redis): Promise<number> {
  let deleted = 0;
  for (const match of [`bull:${QUEUE}:*`, `sb:sched:${QUEUE}:*`]) {
    let cursor = '0';
    for (let i = 0; i < 100_000; i++) {
      const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      if (keys.length) deleted += await redis.unlink(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
  }
  return deleted;
}

async function main(): Promise<void> {
  const from = await startScheduler();
  console.log(`scheduler: ${from} on queue ${QUEUE}; NATS ${NATS_URL}, Redis ${REDIS_URL}`);
  const bus = await Bus.connect({ url: NATS_URL, name: `scheduler-bench-${process.pid}`, log });
  const redis = new Redis(REDIS_URL, { lazyConnect: false });

  const dueById = new Map<string, number>();
  const observed = new Map<string, number>();
  const schedulerSide: number[] = [];
  /** (due time, error) in arrival order, for the per-interval breakdown. */
  const timeline: Array<[number, number]> = [];
  let foreign = 0;
  bus.subscribe(contracts.scheduleFired, (e) => {
    const now = Date.now();
    if (e.accountId !== ACCOUNT) return void foreign++;
    if (observed.has(e.scheduleId)) return;
    observed.set(e.scheduleId, now - Date.parse(e.dueAt));
    timeline.push([Date.parse(e.dueAt), now - Date.parse(e.dueAt)]);
    schedulerSide.push(Date.parse(e.firedAt) - Date.parse(e.dueAt));
  });
  await bus.nc.flush();

  // 1. Creation: due times fixed up front, evenly over SPREAD_MS, created in due order.
  const t0 = Date.now();
  const base = t0 + LEAD_MS;
  const step = SPREAD_MS / SCHEDULES;
  const createMs: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError = '';
  const worker = async () => {
    while (next < SCHEDULES && Date.now() - t0 < LEAD_MS + SPREAD_MS) {
      const i = next++;
      const due = Math.round(base + i * step);
      const started = performance.now();
      try {
        const s = await bus.request(contracts.scheduleCreate, { accountId: ACCOUNT, name: `bench-${i}`, when: { at: new Date(due).toISOString() }, action: { type: 'publish', subject: 'evt.bench.tick', payload: { i } } }, { timeoutMs: 10_000 });
        dueById.set(s.id, due);
        createMs.push(performance.now() - started);
      } catch (err) {
        errors++;
        firstError ||= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  const createdIn = Date.now() - t0;
  const perSecond = (dueById.size / createdIn) * 1000;
  console.log(`created ${dueById.size} schedules in ${createdIn} ms (${perSecond.toFixed(0)}/s), ${errors} errors${firstError ? ` (first: ${firstError})` : ''}; first due ${LEAD_MS - createdIn} ms after the last create`);

  // 2. Firing: wait for every schedule's fired event, bounded by the last due time plus a drain.
  await sleep(Math.max(0, base - Date.now()));
  const cpuBefore = cpuSeconds(child?.pid);
  const end = base + SPREAD_MS + DRAIN_MS;
  // The machine's noise floor: how late a bare 5 ms timer in this process runs meanwhile.
  const timerLateness: number[] = [];
  let probeDue = Date.now() + 5;
  const probe = () => {
    timerLateness.push(Date.now() - probeDue);
    probeDue += 5;
    if (Date.now() < base + SPREAD_MS) setTimeout(probe, Math.max(0, probeDue - Date.now()));
  };
  setTimeout(probe, 5);
  while (observed.size < dueById.size && Date.now() < end) await sleep(200);
  const cpuAfter = cpuSeconds(child?.pid);
  const cpuMsPerRun = cpuBefore !== undefined && cpuAfter !== undefined && observed.size ? ((cpuAfter - cpuBefore) * 1000) / observed.size : Number.NaN;
  const fire = summarize([...observed.values()]);
  const floor = summarize(timerLateness);
  const side = summarize(schedulerSide);
  const missing = dueById.size - observed.size;
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`fired ${observed.size}/${dueById.size}; fire-time error p50 ${fire.p50} ms, p99 ${fire.p99} ms, max ${fire.max} ms (scheduler side p99 ${side.p99} ms); scheduler CPU ${cpuMsPerRun.toFixed(2)} ms per run; a bare timer ran p50 ${floor.p50} / p99 ${floor.p99} ms late; load average ${load}`);

  // Where the tail sits: p50/p99 per 10 s of due times (CPU contention shows as bad intervals).
  const buckets = new Map<number, number[]>();
  for (const [due, err] of timeline) {
    const b = Math.floor((due - base) / 10_000);
    buckets.set(b, [...(buckets.get(b) ?? []), err]);
  }
  console.log(`per 10 s of due times (p50/p99 ms): ${[...buckets.entries()].sort((x, y) => x[0] - y[0]).map(([b, v]) => { const s = summarize(v); return `${b * 10}s ${s.p50}/${s.p99}`; }).join(', ')}`);
  const create = summarize(createMs);
  recordResults([
    {
      name: 'scheduler',
      metrics: {
        fire_error_p50_ms: fire.p50,
        fire_error_p99_ms: fire.p99,
        fire_error_max_ms: fire.max,
        fired: observed.size,
        missing,
        create_per_s: Math.round(perSecond),
        create_p50_ms: Number(create.p50.toFixed(2)),
        create_p99_ms: Number(create.p99.toFixed(2)),
        create_errors: errors,
        scheduler_cpu_ms_per_run: Number(cpuMsPerRun.toFixed(2)),
        timer_lateness_p99_ms: floor.p99,
      },
      target: { fire_error_p99_ms: '≤ 50', missing: '≤ 0', create_errors: '≤ 0' },
      notes:
        `${SCHEDULES} one-off publish schedules due evenly over ${SPREAD_MS / 1000} s, created over NATS with ${IN_FLIGHT} in flight; ` +
        `error = arrival of evt.schedule.fired at a subscriber minus the due time. Scheduler: ${from}, default settings (concurrency 64). ` +
        `timer_lateness_p99_ms is how late a bare 5 ms timer in the bench process ran meanwhile (the machine's noise floor). Load average at the end: ${load}.`,
    },
  ]);

  await stopScheduler();
  console.log(`cleanup: ${await cleanup(redis)} keys deleted (${foreign} fired events from other schedulers ignored)`);
  redis.disconnect();
  await bus.drain(2000);
  if (missing > 0 || errors > 0) process.exitCode = 1;
}

const watchdog = setTimeout(() => {
  console.error(`scheduler bench: gave up after ${RUN_TIMEOUT_MS} ms`);
  void stopScheduler().finally(() => process.exit(1));
}, RUN_TIMEOUT_MS);
watchdog.unref();

main()
  .catch(async (err: unknown) => {
    console.error(`scheduler bench failed: ${(err as Error).stack ?? String(err)}`);
    process.exitCode = 1;
    await stopScheduler();
  })
  .finally(() => clearTimeout(watchdog));
