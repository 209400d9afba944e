import type { ListToolsReply, ListToolsRequest } from '@switchboard/contracts';
import type { Broker } from '../mcp/broker.ts';

/** `cmd.mcp-broker.list-tools`: a call's tool set within its discovery budget (cached lists at once, cold servers up to the budget). */
export function listToolsHandler(broker: Broker): (req: ListToolsRequest) => Promise<ListToolsReply> {
  return (req) => broker.listTools(req);
}
