import type { ServersForAgentReply, ServersForAgentRequest } from '@switchboard/contracts';
import type { ServerRegistry } from '../registry/server-registry.ts';

/** `cmd.mcp-broker.servers-for-agent`: the registered servers attached to an agent, header values withheld. */
export function serversForAgentHandler(registry: ServerRegistry): (req: ServersForAgentRequest) => Promise<ServersForAgentReply> {
  return async (req) => ({ servers: await registry.attachedServers(req.accountId, req.agentId) });
}
