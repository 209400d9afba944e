import type { ToolCancelRequested } from '@switchboard/contracts';
import type { Broker } from '../mcp/broker.ts';

/** `evt.tool.cancel-requested.<callId>`: the instance running the invocation aborts it (MCP `notifications/cancelled`); the others ignore it. */
export function toolCancelHandler(broker: Broker, callId: string): (evt: ToolCancelRequested) => void {
  return (evt) => {
    broker.cancel(callId, evt);
  };
}
