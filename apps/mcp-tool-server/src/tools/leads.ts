import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { LEAD_CLASSIFICATIONS } from '@switchboard/contracts';
import { callOfAccount, type ToolContext, type ToolServices } from './context.ts';
import { toE164 } from './phone.ts';
import { asResult, data } from './result.ts';

const leadOutput = {
  leadId: z.string(),
  caseId: z.string(),
  existingLead: z.boolean().describe('A lead with this phone number existed: the new case is linked to it'),
  phoneNumber: z.string().optional(),
  classification: z.enum(LEAD_CLASSIFICATIONS),
  cases: z.number().int().describe("The lead's number of cases"),
};

const createLeadInput = {
  name: z.string().min(1).max(200).describe("Caller's name"),
  intent: z.string().min(1).max(2000).describe('The purpose of the call'),
  classification: z.enum(LEAD_CLASSIFICATIONS).optional().describe('One of: lead, customer, spam, other'),
  summary: z.string().max(8000).optional().describe('Summary of the conversation'),
  notes: z.string().max(8000).optional().describe('Additional notes'),
};

/** Seed 001 `create_lead`: one lead per phone number; a repeat caller gets a new case on the same lead. */
export function registerLeadTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  server.registerTool(
    'create_lead',
    {
      title: 'Create a lead',
      description: 'Creates a new lead from the current call. If a lead with the same phone number already exists, a new case is created and linked to the existing lead.',
      inputSchema: createLeadInput,
      outputSchema: leadOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    (args) =>
      asResult(svc.log, 'create_lead', async () => {
        // The caller's number: the caller_id_number header, else the call's own caller id.
        // A call_id of another account is refused, not silently recorded on the case.
        const call = ctx.callId ? await callOfAccount(ctx, svc.calls, ctx.callId) : undefined;
        const raw = ctx.callerIdNumber ?? (call ? (call.direction === 'inbound' ? call.from : call.to) : undefined);
        const phoneNumber = raw ? toE164(raw, svc.phoneRegion) : undefined;
        const { lead, leadCase, existing } = await svc.leads.create(ctx.accountId, {
          name: args.name,
          phoneNumber,
          classification: args.classification,
          case: {
            intent: args.intent,
            ...(args.summary !== undefined ? { summary: args.summary } : {}),
            ...(args.notes !== undefined ? { notes: args.notes } : {}),
            ...(ctx.callId ? { callId: ctx.callId } : {}),
            personaId: ctx.personaId,
          },
        });
        const structured = { leadId: lead.id, caseId: leadCase.id, existingLead: existing, ...(lead.phoneNumber ? { phoneNumber: lead.phoneNumber } : {}), classification: lead.classification, cases: lead.cases.length };
        return data(
          existing ? `A lead with ${lead.phoneNumber} already exists (${lead.id}): created case ${leadCase.id} and linked it to that lead` : `Lead created (${lead.id}) with case ${leadCase.id}`,
          structured,
        );
      }),
  );
}
