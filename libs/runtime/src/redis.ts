import { Redis } from 'ioredis';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { traceRedis } from '@switchboard/telemetry';

function reason(err: unknown): string {
  const e = err as { code?: string; message?: string };
  if (e?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(e?.message ?? '')) return 'connection refused';
  if (e?.code === 'ENOTFOUND') return 'host not found';
  return e?.message ?? String(err);
}

/** Connects or throws one clear line: `Redis unreachable at redis://… (connection refused)`. */
export async function connectRedis(url: string, opts: { connectTimeoutMs?: number; name?: string } = {}): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: opts.connectTimeoutMs ?? 3000,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    ...(opts.name ? { connectionName: opts.name } : {}),
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let lastError: unknown;
  redis.on('error', (err) => {
    lastError = err;
  });
  try {
    await redis.connect();
    await redis.ping();
    // Commands sent inside a span (a call's work, a handler) get Redis CLIENT spans.
    return traceRedis(redis);
  } catch (err) {
    redis.disconnect();
    throw new SwitchboardError(ErrorCodes.DEPENDENCY_UNREACHABLE, `Redis unreachable at ${url} (${reason(lastError ?? err)})`, { cause: err });
  }
}
