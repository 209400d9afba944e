import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { contracts, ErrorCodes, SwitchboardError, TOOL_SCOPES } from '@switchboard/contracts';
import { hasScope } from '@switchboard/session-store';
import { callOfAccount, type ToolContext, type ToolServices } from './context.ts';
import { describeCall } from './outbound.ts';
import { asResult, data } from './result.ts';

/** The services `system.health` asks, each through `cmd.<service>.health`. */
export const SERVICES = ['media-gateway', 'agent-orchestrator', 'mcp-broker', 'mcp-tool-server', 'scheduler'] as const;

const healthOutput = {
  status: z.enum(['ok', 'degraded']).describe('ok when every service has an instance reporting ok'),
  services: z.array(
    z.object({
      service: z.string(),
      status: z.enum(['ok', 'degraded', 'down']).describe('down: no instance answered'),
      instances: z.array(z.object({ instanceId: z.string(), status: z.enum(['ok', 'degraded']), uptimeS: z.number().optional() })),
    }),
  ),
};

const sessionStatusInput = { call_id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional().describe('The call; default: the call_id header') };

const sessionStatusOutput = {
  callId: z.string(),
  agentId: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  from: z.string(),
  to: z.string(),
  state: z.enum(['active', 'ended']),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  endReason: z.string().optional(),
  durationS: z.number().optional(),
  turns: z.number().int().describe('Transcript lines so far'),
  orchestrator: z.string().optional().describe('The orchestrator instance running the call'),
};

/** agtOS `system.health` and `session.status`. */
export function registerSystemTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  if (hasScope(ctx.key, TOOL_SCOPES.system)) {
    server.registerTool(
      'system.health',
      {
        title: 'System health',
        description: "Each Switchboard service's health as its instances report it on the bus.",
        inputSchema: {},
        outputSchema: healthOutput,
        annotations: { readOnlyHint: true, openWorldHint: false },
      },
      () =>
        asResult(svc.log, 'system.health', async () => {
          const services = await Promise.all(
            SERVICES.map(async (service) => {
              const replies = await svc.bus.requestAll(contracts.health, {}, { param: service, maxWaitMs: 300 }).catch(() => []);
              const instances = replies.map((r) => ({ instanceId: r.instanceId, status: r.status, ...(r.uptimeS !== undefined ? { uptimeS: r.uptimeS } : {}) }));
              const status: 'ok' | 'degraded' | 'down' = instances.length === 0 ? 'down' : instances.some((i) => i.status === 'ok') ? 'ok' : 'degraded';
              return { service, status, instances };
            }),
          );
          const lines = services.map((s) => `${s.service}: ${s.status}${s.instances.length ? ` (${s.instances.length} instance${s.instances.length > 1 ? 's' : ''})` : ' (no instance answered)'}`);
          return data(lines.join('\n'), { status: services.every((s) => s.status === 'ok') ? 'ok' : 'degraded', services });
        }),
    );
  }

  if (!hasScope(ctx.key, TOOL_SCOPES.callsRead)) return;
  server.registerTool(
    'session.status',
    {
      title: 'Session status',
      description: "A call session's live state: its call record, how many transcript lines it has and which orchestrator runs it.",
      inputSchema: sessionStatusInput,
      outputSchema: sessionStatusOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ call_id }) =>
      asResult(svc.log, 'session.status', async () => {
        const id = call_id ?? ctx.callId;
        if (!id) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'Give call_id, or send the call_id header');
        const record = await callOfAccount(ctx, svc.calls, id);
        const turns = (await svc.calls.transcript(id)).length;
        const call = { ...describeCall(record, svc.now()), turns, ...(record.orchestrator ? { orchestrator: record.orchestrator } : {}) };
        return data(`Call ${id} is ${call.state}: ${turns} transcript line${turns === 1 ? '' : 's'}, ${call.durationS ?? 0} s${call.orchestrator ? `, run by ${call.orchestrator}` : ''}`, call);
      }),
  );
}
