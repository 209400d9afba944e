import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Logger } from 'pino';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import type { ResolvedServer } from '../mcp/headers.ts';
import { httpFetch } from './http-fetch.ts';
import { HttpFunctionsTransport } from './http-functions.transport.ts';

/** The transport for a resolved server: streamable HTTP, legacy SSE, stdio or http-functions. */
export function transportFor(rs: ResolvedServer, log: Logger): Transport {
  const { server, headers } = rs;
  const url = rs.url ?? '';
  switch (server.transport) {
    case 'streamable-http':
      return new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: httpFetch });
    case 'sse':
      // The SDK adds requestInit headers to the event-stream GET as well as to each POST.
      return new SSEClientTransport(new URL(url), { requestInit: { headers }, fetch: httpFetch });
    case 'http-functions':
      return new HttpFunctionsTransport(url, headers, httpFetch);
    case 'stdio': {
      const t = new StdioClientTransport({
        command: server.command ?? '',
        args: server.args ?? [],
        env: { ...getDefaultEnvironment(), ...(server.env ?? {}) },
        ...(server.cwd ? { cwd: server.cwd } : {}),
        stderr: 'pipe',
      });
      // Drain the child's stderr (a full pipe would block it) into debug logs, a line at a time.
      t.stderr?.on('data', (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) log.debug({ server: server.name, stderr: line.slice(0, 500) }, 'stdio MCP server stderr');
      });
      return t;
    }
    default:
      throw new SwitchboardError(ErrorCodes.MCP_SERVER_UNAVAILABLE, `transport ${String(server.transport)} is not supported`, { retryable: false });
  }
}
