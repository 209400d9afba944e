import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Runs main.ts under tsx with the given environment; resolves with the child and its first stdout line. */
async function startMain(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { ...process.env, ORDERS_DB_PATH: '', LATENCY_MS: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const firstLine = new Promise<string | undefined>((resolve) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    void exited.then(() => resolve(undefined));
  });
  return { child, exited, firstLine, stderr: () => stderr };
}

describe('main.ts', () => {
  it('prints its URL, serves, and exits 0 on SIGTERM', { timeout: 20_000 }, async () => {
    const { child, exited, firstLine, stderr } = await startMain({ PORT: '0', HOST: '127.0.0.1' });
    try {
      const line = await firstLine;
      expect(line, stderr()).toMatch(/^orders-mcp-server listening on http:\/\/127\.0\.0\.1:\d+\/mcp$/);
      const url = line!.slice('orders-mcp-server listening on '.length);
      expect((await fetch(new URL('/healthz', url))).status).toBe(200);

      child.kill('SIGTERM');
      expect(await exited).toEqual([0, null]);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('exits 1 naming the variable when PORT is invalid', { timeout: 20_000 }, async () => {
    const { exited, stderr } = await startMain({ PORT: 'eighty' });
    expect(await exited).toEqual([1, null]);
    expect(stderr()).toContain('PORT');
  });
});
