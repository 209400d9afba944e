import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';

/** One function of the Plati protocol: its `/tools` entry and what `/call` answers. */
export interface HttpFunction {
  name: string;
  description?: string;
  /** Sent as `input_schema` (the seed's spelling). */
  input_schema?: unknown;
  /** Returns the HTTP status and JSON body `/call` answers with (default 200). */
  handler?: (args: Record<string, unknown>) => Promise<{ status?: number; body: unknown }> | { status?: number; body: unknown };
}

export interface HttpFunctionsServerOptions {
  functions?: HttpFunction[];
  /** `Authorization` value required on every request (the seed's "always authenticate"); others get 401. */
  authorization?: string;
  /** Delay before `/call` answers (ms). */
  callLatencyMs?: number;
  /** Base path the protocol lives under; default `/<random>`, so no two servers ever share a URL. */
  basePath?: string;
}

export interface HttpFunctionsServer {
  /** The URL to register: `http://127.0.0.1:<port><basePath>`. */
  url: string;
  /** `/call` requests that reached a function, by name. */
  calls: Record<string, number>;
  /** Requests by path (`GET /tools`, `POST /call`). */
  requests: Record<string, number>;
  /** Every request's `authorization` header. */
  seenAuthorization: Array<string | undefined>;
  /** Answer every request with this status and body until cleared (`undefined`). */
  setFault(fault: { status: number; body?: string } | undefined): void;
  /** `/call` requests whose client went away before the answer (aborted). */
  readonly aborted: number;
  close(): Promise<void>;
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        resolve(undefined);
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/**
 * The simple HTTP function protocol of the Plati seed over a real socket: `GET /tools` lists
 * `{ name, description, input_schema }`, `POST /call` `{ name, arguments }` runs one and answers
 * `{ success, data }` / `{ success: false, error }`, or 404 `{ "error": "Function not found" }`.
 */
export async function startHttpFunctionsServer(opts: HttpFunctionsServerOptions = {}): Promise<HttpFunctionsServer> {
  const functions = opts.functions ?? [];
  const base = (opts.basePath ?? `/${randomUUID().slice(0, 8)}`).replace(/\/$/, '');
  const calls: Record<string, number> = {};
  const requests: Record<string, number> = {};
  const seenAuthorization: Array<string | undefined> = [];
  let fault: { status: number; body?: string } | undefined;
  let aborted = 0;

  const http = createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (!path.startsWith(`${base}/`)) return send(res, 404, { error: 'not found' });
      const key = `${req.method ?? 'GET'} ${path.slice(base.length)}`;
      requests[key] = (requests[key] ?? 0) + 1;
      seenAuthorization.push(req.headers.authorization);
      if (fault) {
        res.writeHead(fault.status, { 'content-type': 'text/plain' }).end(fault.body ?? `injected HTTP ${fault.status}`);
        return;
      }
      if (opts.authorization && req.headers.authorization !== opts.authorization) return send(res, 401, { error: 'Unauthorized' });
      if (key === 'GET /tools') {
        return send(res, 200, { tools: functions.map((f) => ({ name: f.name, ...(f.description !== undefined ? { description: f.description } : {}), ...(f.input_schema !== undefined ? { input_schema: f.input_schema } : {}) })) });
      }
      if (key === 'POST /call') {
        const body = (await readJson(req)) as { name?: string; arguments?: Record<string, unknown> } | undefined;
        const fn = functions.find((f) => f.name === body?.name);
        if (!fn) return send(res, 404, { error: 'Function not found' });
        let gone = false;
        res.on('close', () => {
          if (!res.writableFinished) {
            gone = true;
            aborted++;
          }
        });
        if (opts.callLatencyMs) await new Promise((r) => setTimeout(r, opts.callLatencyMs));
        if (gone) return;
        calls[fn.name] = (calls[fn.name] ?? 0) + 1;
        const out = fn.handler ? await fn.handler(body?.arguments ?? {}) : { body: { success: true, data: { function: fn.name, arguments: body?.arguments ?? {} } } };
        return send(res, out.status ?? 200, out.body);
      }
      return send(res, 404, { error: 'not found' });
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (http.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${base}`,
    calls,
    requests,
    seenAuthorization,
    setFault(f) {
      fault = f;
    },
    get aborted() {
      return aborted;
    },
    async close() {
      http.closeAllConnections();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
}
