import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { ApiKeyStore, CallStore } from '@switchboard/session-store';
import type { Bus } from '@switchboard/bus';
import { registerCallControlTools } from '../tools/call-control.ts';
import type { ToolContext } from '../tools/context.ts';

export interface McpRouteDeps {
  keys: ApiKeyStore;
  calls: CallStore;
  bus: Bus;
  maxBodyBytes: number;
}

/** Body that failed to parse as JSON: answered with a JSON-RPC parse error, not a 500. */
const PARSE_ERROR = Symbol('parse-error');

const rpcError = (reply: FastifyReply, status: number, code: number, message: string) =>
  reply.status(status).type('application/json').send({ jsonrpc: '2.0', error: { code, message }, id: null });

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v.length ? v : undefined;
}

/** The presented key: `X-API-Key` (seed 001) or `Authorization: Bearer`. */
function presentedKey(req: FastifyRequest): string | undefined {
  const auth = header(req, 'authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return header(req, 'x-api-key');
}

export function buildToolServer(ctx: ToolContext, deps: McpRouteDeps): McpServer {
  const server = new McpServer({ name: 'switchboard', version: '0.1.0' }, { capabilities: { tools: {} } });
  registerCallControlTools(server, ctx, deps);
  return server;
}

/** `POST /mcp`: stateless streamable HTTP, a fresh server and transport per request (agtOS). */
export async function mcpRoutes(app: FastifyInstance, deps: McpRouteDeps): Promise<void> {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: deps.maxBodyBytes }, (_req, body, done) => {
    try {
      done(null, JSON.parse(body as string));
    } catch {
      done(null, PARSE_ERROR);
    }
  });

  app.post('/mcp', async (req, reply) => {
    const key = presentedKey(req);
    if (!key) return rpcError(reply, 401, -32001, 'Missing API key: send X-API-Key or Authorization: Bearer');
    const record = await deps.keys.verify(key);
    if (!record) return rpcError(reply, 401, -32001, 'Invalid API key');
    if (req.body === PARSE_ERROR) return rpcError(reply, 400, -32700, 'Parse error: body is not valid JSON');
    const accountId = header(req, 'account_id');
    const personaId = header(req, 'persona_id');
    if (!accountId || !personaId) return rpcError(reply, 400, -32602, 'Headers account_id and persona_id are required');
    if (accountId !== record.accountId) return rpcError(reply, 403, -32003, 'This key does not belong to that account');

    const ctx: ToolContext = { key: record, accountId, personaId, callId: header(req, 'call_id'), callerIdNumber: header(req, 'caller_id_number') };
    const server = buildToolServer(ctx, deps);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    reply.hijack();
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req.raw, reply.raw, req.body);
  });

  const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) => {
    void reply.header('allow', 'POST');
    return rpcError(reply, 405, -32000, 'Method not allowed: this server is stateless');
  };
  app.get('/mcp', notAllowed);
  app.delete('/mcp', notAllowed);
}
