import { reachable } from './ports.ts';

/**
 * NATS and Redis for integration tests: `NATS_URL`/`REDIS_URL` when set (else the machine defaults),
 * checked reachable. Says which it used, so a run's log shows what it tested against.
 */
export async function infraUrls(): Promise<{ natsUrl: string; redisUrl: string; source: string }> {
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const [n, r] = await Promise.all([reachable(natsUrl), reachable(redisUrl)]);
  if (!n) throw new Error(`NATS unreachable at ${natsUrl} (connection refused): start nats-server or set NATS_URL`);
  if (!r) throw new Error(`Redis unreachable at ${redisUrl} (connection refused): start redis-server or set REDIS_URL`);
  return { natsUrl, redisUrl, source: process.env.NATS_URL || process.env.REDIS_URL ? 'environment (NATS_URL/REDIS_URL)' : 'machine defaults' };
}
