import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { contracts, ErrorCodes, SwitchboardError, type Schedule, type ScheduleCreate } from '@switchboard/contracts';
import { assertDestinationAllowed } from './call-control.ts';
import { agentOfAccount, type ToolContext, type ToolServices } from './context.ts';
import { toE164 } from './phone.ts';
import { ask, asResult, data } from './result.ts';

const scheduleSummary = z.object({
  id: z.string(),
  name: z.string(),
  status: z.string().describe('active, paused, cancelled, completed or failed'),
  action: z.string().describe('outbound_call, callback, publish or tool_call'),
  nextRunAt: z.string().optional(),
  lastRunAt: z.string().optional(),
  runCount: z.number().int(),
  createdAt: z.string(),
});
type Summary = z.infer<typeof scheduleSummary>;

function summarize(s: Schedule): Summary {
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    action: (s.action as { type: string }).type,
    ...(s.nextRunAt ? { nextRunAt: s.nextRunAt } : {}),
    ...(s.lastRunAt ? { lastRunAt: s.lastRunAt } : {}),
    runCount: s.runCount,
    createdAt: s.createdAt,
  };
}

const describeSchedule = (s: Summary) => `${s.name} (${s.id}): ${s.action}, ${s.status}${s.nextRunAt ? `, next run ${s.nextRunAt}` : ''}`;

const variables = z.record(z.string().max(2000)).optional().describe('Prompt variables of the call ({{name}})');
const actionArg = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('outbound_call'),
    phone_number: z.string().min(1).max(40),
    agent_id: z.string().min(1).max(64).optional().describe('Default: this persona'),
    goal: z.string().max(2000).optional(),
    variables,
  }),
  z.object({
    type: z.literal('callback'),
    phone_number: z.string().min(1).max(40),
    reason: z.string().min(1).max(2000),
    agent_id: z.string().min(1).max(64).optional().describe('Default: this persona'),
    customer_id: z.string().max(200).optional(),
    customer_name: z.string().max(200).optional(),
    variables,
  }),
  z.object({
    type: z.literal('publish'),
    subject: z.string().regex(/^evt(\.[A-Za-z0-9_-]{1,64}){1,8}$/, 'must be an event subject under evt., e.g. evt.reminder.due'),
    payload: z.unknown().optional(),
  }),
  z.object({
    type: z.literal('tool_call'),
    server: z.string().min(1).describe("An MCP server name of the agent's configuration"),
    tool: z.string().min(1),
    arguments: z.record(z.unknown()).optional(),
    agent_id: z.string().min(1).max(64).optional().describe('Default: this persona'),
  }),
]);

type ActionArg = z.infer<typeof actionArg>;

async function toAction(ctx: ToolContext, svc: ToolServices, a: ActionArg): Promise<ScheduleCreate['action']> {
  if (a.type === 'publish') return { type: 'publish', subject: a.subject, payload: a.payload ?? null };
  const agentId = a.agent_id ?? ctx.personaId;
  agentOfAccount(ctx, svc.agents, agentId);
  if (a.type === 'tool_call') return { type: 'tool_call', agentId, server: a.server, tool: a.tool, ...(a.arguments ? { arguments: a.arguments } : {}) };
  const to = toE164(a.phone_number, svc.phoneRegion);
  if (!to) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `${a.phone_number} is not a valid phone number`);
  await assertDestinationAllowed(ctx, svc, to, 'outbound');
  if (a.type === 'outbound_call') return { type: 'outbound_call', agentId, to, ...(a.goal ? { goal: a.goal } : {}), ...(a.variables ? { variables: a.variables } : {}) };
  const customer = { ...(a.customer_id ? { id: a.customer_id } : {}), ...(a.customer_name ? { name: a.customer_name } : {}) };
  return { type: 'callback', agentId, to, reason: a.reason, ...(Object.keys(customer).length ? { customer } : {}), ...(a.variables ? { variables: a.variables } : {}) };
}

const scheduleCreateInput = {
  name: z.string().min(1).max(200),
  schedule_type: z.enum(['once', 'cron', 'interval']),
  at: z.string().min(10).max(40).optional().describe('once: ISO 8601 time with offset, e.g. 2030-01-01T09:00:00+01:00'),
  delay_ms: z.number().int().min(0).max(31_536_000_000).optional().describe('once: run after this delay instead of at a time'),
  cron: z.string().min(9).max(120).optional().describe('cron: five- or six-field expression'),
  time_zone: z.string().min(1).max(64).optional().describe('cron: IANA time zone; default the account time zone'),
  interval_ms: z.number().int().min(1000).max(31_536_000_000).optional().describe('interval: run every this many ms'),
  action: actionArg,
  idempotency_key: z.string().min(1).max(200).optional().describe('The same key twice returns the existing schedule'),
  missed_run_policy: z.enum(['fire-once', 'skip']).optional(),
};

const scheduleCreateOutput = { schedule: scheduleSummary };

const scheduleListInput = {
  status: z.enum(['active', 'paused', 'cancelled', 'completed', 'failed']).optional(),
  cursor: z.string().optional().describe('next_cursor of the previous page'),
  limit: z.number().int().min(1).max(500).optional(),
};

const scheduleListOutput = { schedules: z.array(scheduleSummary), next_cursor: z.string().optional() };

const scheduleCancelInput = { schedule_id: z.string().min(1).max(200) };

const scheduleCancelOutput = { schedule: scheduleSummary };

/** agtOS `schedule.create`, `schedule.list`, `schedule.cancel`, through the scheduler's contracts. */
export function registerScheduleTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  server.registerTool(
    'schedule.create',
    {
      title: 'Create a schedule',
      description:
        'Schedules an outbound call, a callback, an event or a tool call: once (at an ISO 8601 time or after delay_ms), on a cron expression (in time_zone, default the account time zone), or every interval_ms.',
      inputSchema: scheduleCreateInput,
      outputSchema: scheduleCreateOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
    },
    (args) =>
      asResult(svc.log, 'schedule.create', async () => {
        let when: ScheduleCreate['when'];
        if (args.schedule_type === 'once') {
          if ((args.at === undefined) === (args.delay_ms === undefined)) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, 'A once schedule needs exactly one of at and delay_ms');
          when = args.at !== undefined ? { at: args.at } : { delayMs: args.delay_ms! };
        } else if (args.schedule_type === 'cron') {
          if (!args.cron) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, 'A cron schedule needs cron');
          when = { cron: args.cron, timeZone: args.time_zone ?? (await svc.accounts.get(ctx.accountId)).timeZone ?? 'UTC' };
        } else {
          if (!args.interval_ms) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, 'An interval schedule needs interval_ms');
          when = { everyMs: args.interval_ms };
        }
        const request: ScheduleCreate = {
          accountId: ctx.accountId,
          name: args.name,
          when,
          action: await toAction(ctx, svc, args.action),
          ...(args.idempotency_key ? { idempotencyKey: args.idempotency_key } : {}),
          ...(args.missed_run_policy ? { missedRunPolicy: args.missed_run_policy } : {}),
        };
        const created = summarize(await ask('scheduler', () => svc.bus.request(contracts.scheduleCreate, request, { timeoutMs: 5000 })));
        return data(`Scheduled ${describeSchedule(created)}`, { schedule: created });
      }),
  );

  server.registerTool(
    'schedule.list',
    {
      title: 'List schedules',
      description: "This account's schedules, newest first, one page at a time.",
      inputSchema: scheduleListInput,
      outputSchema: scheduleListOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    (args) =>
      asResult(svc.log, 'schedule.list', async () => {
        const page = await ask('scheduler', () =>
          svc.bus.request(contracts.scheduleList, { accountId: ctx.accountId, ...(args.status ? { status: args.status } : {}), ...(args.cursor ? { cursor: args.cursor } : {}), ...(args.limit ? { limit: args.limit } : {}) }, { timeoutMs: 5000 }),
        );
        const schedules = page.items.map(summarize);
        const more = page.nextCursor ? `\n(more: cursor ${page.nextCursor})` : '';
        return data(schedules.length ? `${schedules.map(describeSchedule).join('\n')}${more}` : 'No schedules', { schedules, ...(page.nextCursor ? { next_cursor: page.nextCursor } : {}) });
      }),
  );

  server.registerTool(
    'schedule.cancel',
    {
      title: 'Cancel a schedule',
      description: 'Cancels a schedule of this account; it never fires again.',
      inputSchema: scheduleCancelInput,
      outputSchema: scheduleCancelOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ schedule_id }) =>
      asResult(svc.log, 'schedule.cancel', async () => {
        const cancelled = summarize(await ask('scheduler', () => svc.bus.request(contracts.scheduleCancel, { accountId: ctx.accountId, id: schedule_id }, { timeoutMs: 5000 })));
        return data(`Cancelled ${describeSchedule(cancelled)}`, { schedule: cancelled });
      }),
  );
}
