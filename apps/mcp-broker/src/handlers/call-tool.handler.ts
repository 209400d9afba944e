import type { HandlerContext } from '@switchboard/bus';
import type { CallToolReply, CallToolRequest } from '@switchboard/contracts';
import type { Broker } from '../mcp/broker.ts';

/** `cmd.mcp-broker.call-tool`: one invocation; every failure comes back as the `{"error", "fallback": true}` envelope, never as a bus error. */
export function callToolHandler(broker: Broker): (req: CallToolRequest, ctx: HandlerContext) => Promise<CallToolReply> {
  return (req, ctx) => broker.callTool(req, ctx.signal);
}
