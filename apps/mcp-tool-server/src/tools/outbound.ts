import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { contracts, ErrorCodes, SwitchboardError, TOOL_SCOPES } from '@switchboard/contracts';
import { hasScope, type CallRecord } from '@switchboard/session-store';
import { assertDestinationAllowed } from './call-control.ts';
import { agentOfAccount, callOfAccount, type ToolContext, type ToolServices } from './context.ts';
import { toE164 } from './phone.ts';
import { ask, asResult, data } from './result.ts';

const callIdArg = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be a call id such as call_abc123');

const callShape = {
  callId: z.string(),
  agentId: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  from: z.string(),
  to: z.string(),
  state: z.enum(['active', 'ended']),
  startedAt: z.string(),
  endedAt: z.string().optional(),
  endReason: z.string().optional(),
  durationS: z.number().optional().describe('Seconds from start to end (or to now while active)'),
};

const transcriptShape = {
  callId: z.string(),
  entries: z.array(
    z.object({
      role: z.enum(['caller', 'agent', 'tool']),
      text: z.string(),
      at: z.string(),
      interrupted: z.boolean().optional(),
      tool: z.object({ server: z.string(), name: z.string(), isError: z.boolean(), latencyMs: z.number() }).optional(),
    }),
  ),
};

export function describeCall(call: CallRecord, now: Date): z.infer<z.ZodObject<typeof callShape>> {
  const end = call.endedAt ? Date.parse(call.endedAt) : now.getTime();
  const durationS = Math.max(0, Math.round((end - Date.parse(call.startedAt)) / 1000));
  return {
    callId: call.callId,
    agentId: call.agentId,
    direction: call.direction,
    from: call.from,
    to: call.to,
    state: call.state,
    startedAt: call.startedAt,
    ...(call.endedAt ? { endedAt: call.endedAt } : {}),
    ...(call.endReason ? { endReason: call.endReason } : {}),
    ...(Number.isFinite(durationS) ? { durationS } : {}),
  };
}

const makePhoneCallInput = {
  phone_number: z.string().min(1).max(40).describe('The number to call (E.164 preferred, e.g. +15551234567)'),
  agent_id: z.string().min(1).max(64).optional().describe('The agent that runs the call; default: this persona'),
  goal: z.string().max(2000).optional().describe('What the call should achieve; added to the agent prompt'),
  first_message: z.string().max(2000).optional().describe("What the agent says first, instead of its usual greeting"),
  max_duration_sec: z.number().int().min(10).max(14400).optional().describe('Hard limit on the call length in seconds'),
};

const makePhoneCallOutput = { callId: z.string(), status: z.enum(['queued', 'ringing', 'answered']), to: z.string(), agentId: z.string() };

const getCallInput = { call_id: callIdArg.describe('The call id (from make_phone_call or the call_id header)') };

const getTranscriptInput = { call_id: callIdArg.describe('The call id') };

/** Outbound calls (seed 002 `make_phone_call`, Patter's PatterTool) and reading calls back. */
export function registerOutboundTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  if (hasScope(ctx.key, TOOL_SCOPES.outbound)) {
    server.registerTool(
      'make_phone_call',
      {
        title: 'Make a phone call',
        description: 'Places an outbound phone call run by an agent and returns its call id at once; follow it with get_call and get_transcript.',
        inputSchema: makePhoneCallInput,
        outputSchema: makePhoneCallOutput,
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      },
      (args) =>
        asResult(svc.log, 'make_phone_call', async () => {
          const to = toE164(args.phone_number, svc.phoneRegion);
          if (!to) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `${args.phone_number} is not a valid phone number`);
          const agentId = args.agent_id ?? ctx.personaId;
          agentOfAccount(ctx, svc.agents, agentId);
          await assertDestinationAllowed(ctx, svc, to, 'outbound');
          const reply = await ask('media-gateway', () =>
            svc.bus.request(
              contracts.dial,
              {
                accountId: ctx.accountId,
                agentId,
                to,
                ...(args.goal !== undefined ? { goal: args.goal } : {}),
                ...(args.first_message !== undefined ? { firstMessage: args.first_message } : {}),
                ...(args.max_duration_sec !== undefined ? { maxDurationSec: args.max_duration_sec } : {}),
              },
              { timeoutMs: 15000 },
            ),
          );
          return data(`Calling ${to}: call ${reply.callId} is ${reply.status}`, { callId: reply.callId, status: reply.status, to, agentId });
        }),
    );
  }

  if (!hasScope(ctx.key, TOOL_SCOPES.callsRead)) return;

  server.registerTool(
    'get_call',
    {
      title: 'Get a call',
      description: "A call's state: who called whom, which agent, when it started and ended, and why it ended.",
      inputSchema: getCallInput,
      outputSchema: callShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ call_id }) =>
      asResult(svc.log, 'get_call', async () => {
        const call = describeCall(await callOfAccount(ctx, svc.calls, call_id), svc.now());
        const ended = call.state === 'ended' ? `ended ${call.endedAt ?? ''}${call.endReason ? ` (${call.endReason})` : ''}` : 'in progress';
        return data(`Call ${call.callId} (${call.direction}, ${call.from} → ${call.to}, agent ${call.agentId}): ${ended}, ${call.durationS ?? 0} s`, call);
      }),
  );

  server.registerTool(
    'get_transcript',
    {
      title: 'Get a transcript',
      description: 'The transcript of a call so far: caller, agent and tool lines in order.',
      inputSchema: getTranscriptInput,
      outputSchema: transcriptShape,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ call_id }) =>
      asResult(svc.log, 'get_transcript', async () => {
        await callOfAccount(ctx, svc.calls, call_id);
        const entries = (await svc.calls.transcript(call_id)).map((e) => ({
          role: e.role,
          text: e.text,
          at: e.at,
          ...(e.interrupted ? { interrupted: true } : {}),
          ...(e.tool ? { tool: { server: e.tool.server, name: e.tool.name, isError: e.tool.isError, latencyMs: e.tool.latencyMs } } : {}),
        }));
        const lines = entries.map((e) => `${e.role}: ${e.text}${e.interrupted ? ' [interrupted]' : ''}`);
        return data(lines.length ? lines.join('\n') : `No transcript lines for call ${call_id} yet`, { callId: call_id, entries });
      }),
  );
}
