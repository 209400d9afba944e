import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { LATEST_PROTOCOL_VERSION, type JSONRPCMessage, type Tool } from '@modelcontextprotocol/sdk/types.js';

/** An HTTP failure of the http-functions protocol; `code` is the HTTP status (the SDK's transports do the same). */
export class HttpFunctionsError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpFunctionsError';
  }
}

type Id = string | number;

/** Largest `/tools` or `/call` body read (a bigger one is refused as malformed). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The simple HTTP function protocol of the Plati seed, spoken as an MCP transport so the SDK client
 * (timeouts, cancellation, request ids) works unchanged on top of it:
 *
 * - `GET <url>/tools` → `{ tools: [{ name, description, input_schema }] }` becomes `tools/list`
 *   (`inputSchema` and `parameters` are accepted too; `annotations` pass through).
 * - `POST <url>/call` `{ name, arguments }` → JSON becomes `tools/call`: a 2xx body is the result
 *   (its text is the body, `structuredContent` its `data` object); `{ success: false, error }`, or
 *   `{ error }` with 400/404/409/422/500 (the function refused or threw), is an `isError` result.
 * - 401/403, other statuses and network failures are transport failures; a body that is not JSON is
 *   a JSON-RPC parse error (malformed).
 * - `notifications/cancelled` aborts the matching HTTP request.
 *
 * `initialize` and `ping` are answered locally (the protocol has neither).
 */
export class HttpFunctionsTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private readonly inflight = new Map<Id, AbortController>();
  private closed = false;
  private readonly base: string;

  constructor(
    url: string,
    private readonly headers: Record<string, string>,
    private readonly fetchFn: typeof fetch = fetch,
  ) {
    this.base = url.replace(/\/+$/, '');
  }

  async start(): Promise<void> {
    // Stateless HTTP: nothing to open.
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) throw new Error('Not connected');
    if (!('method' in message)) return; // a response to a server request: this protocol has none
    if (!('id' in message) || message.id === undefined) {
      if (message.method === 'notifications/cancelled') {
        const id = (message.params as { requestId?: Id } | undefined)?.requestId;
        if (id !== undefined) this.inflight.get(id)?.abort(new Error('cancelled by the client'));
      }
      return;
    }
    const id = message.id;
    const params = (message.params ?? {}) as Record<string, unknown>;
    switch (message.method) {
      case 'initialize':
        return this.reply(id, {
          protocolVersion: typeof params.protocolVersion === 'string' ? params.protocolVersion : LATEST_PROTOCOL_VERSION,
          capabilities: { tools: {} },
          serverInfo: { name: 'http-functions', version: '1' },
        });
      case 'ping':
        return this.reply(id, {});
      case 'tools/list':
        return this.reply(id, { tools: await this.track(id, (signal) => this.listTools(signal)) });
      case 'tools/call':
        return this.reply(id, await this.track(id, (signal) => this.callTool(String(params.name ?? ''), isObject(params.arguments) ? params.arguments : {}, signal)));
      default:
        return this.replyError(id, -32601, `Method not found: ${message.method}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.inflight.values()) c.abort(new Error('transport closed'));
    this.inflight.clear();
    this.onclose?.();
  }

  private async track<T>(id: Id, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    this.inflight.set(id, ac);
    try {
      return await run(ac.signal);
    } finally {
      this.inflight.delete(id);
    }
  }

  private reply(id: Id, result: Record<string, unknown>): void {
    if (!this.closed) this.onmessage?.({ jsonrpc: '2.0', id, result } as JSONRPCMessage);
  }

  private replyError(id: Id, code: number, message: string): void {
    if (!this.closed) this.onmessage?.({ jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage);
  }

  private async fetchJson(path: string, init: RequestInit, signal: AbortSignal): Promise<{ status: number; body: unknown }> {
    const res = await this.fetchFn(`${this.base}${path}`, { ...init, headers: { accept: 'application/json', ...this.headers, ...(init.headers as Record<string, string> | undefined) }, signal });
    const text = await res.text();
    if (res.status === 401 || res.status === 403) throw new HttpFunctionsError(res.status, `${path}: HTTP ${res.status}`);
    if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw Object.assign(new SyntaxError(`${path}: body larger than ${MAX_BODY_BYTES} bytes`), { status: res.status });
    let body: unknown;
    try {
      body = text.length ? JSON.parse(text) : undefined;
    } catch {
      if (res.ok) throw new SyntaxError(`${path}: HTTP ${res.status} body is not JSON`);
      throw new HttpFunctionsError(res.status, `${path}: HTTP ${res.status}`);
    }
    return { status: res.status, body };
  }

  private async listTools(signal: AbortSignal): Promise<unknown[]> {
    const { status, body } = await this.fetchJson('/tools', { method: 'GET' }, signal);
    if (status < 200 || status >= 300) throw new HttpFunctionsError(status, `/tools: HTTP ${status}`);
    const tools = isObject(body) ? body.tools : undefined;
    if (!Array.isArray(tools)) throw new SyntaxError('/tools: the body has no `tools` array');
    // Shape mapping only; the broker validates each tool (name, schema) like any MCP tool list.
    return tools.map((t: unknown) => {
      if (!isObject(t)) return t;
      const { input_schema: snake, inputSchema, parameters, ...rest } = t;
      return { ...rest, inputSchema: inputSchema ?? snake ?? parameters ?? { type: 'object', properties: {} } } as unknown as Tool;
    });
  }

  private async callTool(name: string, args: Record<string, unknown>, signal: AbortSignal): Promise<Record<string, unknown>> {
    const { status, body } = await this.fetchJson('/call', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, arguments: args }) }, signal);
    const obj = isObject(body) ? body : undefined;
    const errorText = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
    if (status >= 200 && status < 300) {
      if (obj && (obj.success === false || (obj.error !== undefined && obj.success !== true))) {
        return { content: [{ type: 'text', text: errorText(obj.error ?? 'the function reported failure') }], isError: true };
      }
      const text = body === undefined ? '' : JSON.stringify(body);
      const data = obj && isObject(obj.data) ? obj.data : obj;
      return { content: [{ type: 'text', text }], ...(data ? { structuredContent: data } : {}) };
    }
    // The function was reached and refused or threw: the model sees the function's own error.
    if (obj && obj.error !== undefined && [400, 404, 409, 422, 500].includes(status)) {
      return { content: [{ type: 'text', text: errorText(obj.error) }], isError: true };
    }
    throw new HttpFunctionsError(status, `/call: HTTP ${status}`);
  }
}
