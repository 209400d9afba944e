import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type WebSocket from 'ws';

/** A rejection of the WebSocket upgrade: an HTTP status with a JSON body, as providers answer it. */
export class UpgradeRejection extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`upgrade rejected with ${status}`);
  }
}

export interface FakeWsServer {
  server: Server;
  /** `host:port` the server listens on. */
  hostPort: string;
  /** Open sockets (for drop-all and close). */
  sockets: Set<WebSocket>;
  close(): Promise<void>;
}

/**
 * A node:http server whose upgrades go through `accept` (throw `UpgradeRejection` to refuse with an
 * HTTP status, the way providers refuse bad keys) and then to a `ws` WebSocketServer.
 * `onHttp` answers plain HTTP requests (404 by default).
 */
export async function startWsServer(opts: {
  host?: string | undefined;
  port?: number | undefined;
  accept: (req: IncomingMessage) => void;
  onConnection: (ws: WebSocket, req: IncomingMessage) => void;
}): Promise<FakeWsServer> {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  const server = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'WebSocket upgrade required' }));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      opts.accept(req);
    } catch (err) {
      const rej = err instanceof UpgradeRejection ? err : new UpgradeRejection(500, { error: 'internal error' });
      const body = JSON.stringify(rej.body);
      const lines = [
        `HTTP/1.1 ${rej.status} ${statusText(rej.status)}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Connection: close',
        ...Object.entries(rej.headers).map(([k, v]) => `${k}: ${v}`),
        '',
        body,
      ];
      socket.end(lines.join('\r\n'));
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => undefined);
      opts.onConnection(ws, req);
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    hostPort: `${host}:${address.port}`,
    sockets,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const ws of sockets) ws.terminate();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function statusText(status: number): string {
  const texts: Record<number, string> = {
    400: 'Bad Request',
    401: 'Unauthorized',
    402: 'Payment Required',
    403: 'Forbidden',
    404: 'Not Found',
    429: 'Too Many Requests',
    500: 'Internal Server Error',
    502: 'Bad Gateway',
    503: 'Service Unavailable',
  };
  return texts[status] ?? 'Error';
}

/** Waits `ms` milliseconds (0: resolves at once). */
export function delay(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
