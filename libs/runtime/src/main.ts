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
      process.stderr.write(`${service}: drain failed: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // A promise nobody awaited must not take down every live call in the process: log it loudly and
  // go on. An uncaught exception leaves state unknown, so it is logged and the process exits 1.
  process.on('unhandledRejection', (reason) => {
    const log = getLog();
    if (log) log.error({ err: reason }, 'unhandled promise rejection (the process goes on)');
    else process.stderr.write(`${service}: unhandled promise rejection: ${String((reason as Error)?.stack ?? reason)}\n`);
  });
  process.on('uncaughtException', (err) => {
    getLog()?.fatal({ err }, 'uncaught exception');
    process.stderr.write(`${service}: uncaught exception: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
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
