import type { Logger } from 'pino';

export interface Running {
  /** Stop taking new work, finish in-flight work, close connections. */
  stop: () => Promise<void>;
}

/**
 * The whole life of a service process: start, then on SIGTERM/SIGINT drain and exit 0. A start
 * failure prints exactly one line (the error's message) on stderr and exits 1.
 */
export function runMain(service: string, start: () => Promise<Running>, getLog: () => Logger | undefined): void {
  let running: Running | undefined;
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    getLog()?.info({ signal }, `${service} draining`);
    try {
      await running?.stop();
      getLog()?.info(`${service} stopped`);
      process.exit(0);
    } catch (err) {
      getLog()?.error({ err }, 'drain failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  start().then(
    (r) => {
      running = r;
    },
    (err: unknown) => {
      process.stderr.write(`${service}: ${(err as Error)?.message ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
