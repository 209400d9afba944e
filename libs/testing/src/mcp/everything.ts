import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort } from '../stack/ports.ts';

/** The reference MCP server (`@modelcontextprotocol/server-everything`) entry point. */
export const EVERYTHING_ENTRY = fileURLToPath(new URL('../../../../node_modules/@modelcontextprotocol/server-everything/dist/index.js', import.meta.url));

/**
 * Command, arguments and environment that run the reference server over stdio (for a stdio MCP server
 * config). The environment carries an instance id, so each config is a server identity of its own.
 */
export function everythingStdio(): { command: string; args: string[]; env: Record<string, string> } {
  return { command: process.execPath, args: [EVERYTHING_ENTRY, 'stdio'], env: { EVERYTHING_INSTANCE: randomUUID().slice(0, 8) } };
}

export interface EverythingServer {
  /** `http://127.0.0.1:<port>/mcp` (streamable HTTP) or `/sse` (legacy SSE). */
  url: string;
  proc: ChildProcess;
  close(): Promise<void>;
}

/**
 * Starts the reference server as a child process over streamable HTTP or legacy SSE on a free port,
 * and waits until it says it listens. It binds every interface; tests only talk to 127.0.0.1.
 */
export async function startEverythingServer(transport: 'streamableHttp' | 'sse', timeoutMs = 15_000): Promise<EverythingServer> {
  const port = await freePort();
  const proc = spawn(process.execPath, [EVERYTHING_ENTRY, transport], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const started = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server-everything (${transport}) did not start within ${timeoutMs} ms: ${out.slice(-500)}`)), timeoutMs);
    const onData = (c: Buffer) => {
      out += c.toString('utf8');
      if (/(listening|running) on port/i.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything (${transport}) exited with ${code}: ${out.slice(-500)}`));
    });
  });
  try {
    await started;
  } catch (err) {
    proc.kill('SIGKILL');
    throw err;
  }
  return {
    // The query string (ignored by the server) makes each instance's URL unique: a tool-list cache
    // keyed by URL must not confuse it with whatever listened on that port before.
    url: `http://127.0.0.1:${port}/${transport === 'sse' ? 'sse' : 'mcp'}?instance=${randomUUID().slice(0, 8)}`,
    proc,
    async close() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
