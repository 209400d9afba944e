import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { isAvailable } from '../adapters/directory.ts';
import type { ToolContext, ToolServices } from './context.ts';
import { officeState } from './office-hours.ts';
import { toE164 } from './phone.ts';
import { asResult, data } from './result.ts';

const officeOutput = {
  open: z.boolean(),
  status: z.enum(['open', 'closed', 'closed_today', 'open_24h']),
  message: z.string(),
  timeZone: z.string(),
  localTime: z.string().describe('Wall-clock time in the account time zone, YYYY-MM-DDTHH:MM'),
  holiday: z.string().optional(),
};

const contactOutput = {
  phoneNumber: z.string().describe('The number searched for, as E.164'),
  found: z.boolean(),
  contacts: z.array(
    z.object({
      name: z.string(),
      phoneNumbers: z.array(z.string()),
      company: z.string().optional(),
      email: z.string().optional(),
      source: z.string(),
    }),
  ),
  failedSources: z.array(z.string()).describe('Sources that could not be searched'),
};

const availabilityOutput = {
  userId: z.string(),
  name: z.string(),
  available: z.boolean(),
  dnd: z.boolean(),
  status: z.enum(['available', 'busy', 'offline']),
};

const lookupContactInput = { phone_number: z.string().min(1).max(40).describe('The phone number to search for') };

const checkUserAvailabilityInput = { user_id: z.string().min(1).max(128).describe('The user ID to check') };

/** Seed 001 `is_office_open`, `lookup_contact`, `check_user_availability`. */
export function registerDirectoryTools(server: McpServer, ctx: ToolContext, svc: ToolServices): void {
  server.registerTool(
    'is_office_open',
    {
      title: 'Is the office open?',
      description: "Checks if the office is currently open based on the persona's configured office hours and the account's timezone.",
      inputSchema: {},
      outputSchema: officeOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () =>
      asResult(svc.log, 'is_office_open', async () => {
        const hours = ctx.persona.officeHours;
        if (!hours) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `No office hours are configured for persona ${ctx.personaId}`);
        const { timeZone = 'UTC' } = await svc.accounts.get(ctx.accountId);
        let state;
        try {
          state = officeState(hours, timeZone, svc.now());
        } catch (err) {
          if (err instanceof RangeError) throw new SwitchboardError(ErrorCodes.CONFIG_INVALID, `The account time zone ${timeZone} is not a valid IANA time zone`);
          throw err;
        }
        return data(state.message, { open: state.status === 'open' || state.status === 'open_24h', ...state });
      }),
  );

  server.registerTool(
    'lookup_contact',
    {
      title: 'Look up a contact',
      description: 'Searches for a contact by phone number across all connected contact sources. Returns the contact name, phone numbers, company and source.',
      inputSchema: lookupContactInput,
      outputSchema: contactOutput,
      annotations: { readOnlyHint: true, openWorldHint: svc.contacts.external },
    },
    ({ phone_number }) =>
      asResult(svc.log, 'lookup_contact', async () => {
        const e164 = toE164(phone_number, svc.phoneRegion);
        if (!e164) throw new SwitchboardError(ErrorCodes.TOOL_INVALID_ARGUMENTS, `${phone_number} is not a valid phone number`);
        const { contacts, failedSources } = await svc.contacts.lookup(ctx.accountId, e164);
        const structured = { phoneNumber: e164, found: contacts.length > 0, contacts, failedSources };
        const unsearched = failedSources.length ? ` (could not search: ${failedSources.join(', ')})` : '';
        if (!contacts.length) return data(`No contact found for ${e164}${unsearched}`, structured);
        const lines = contacts.map((c) => `${c.name}${c.company ? ` (${c.company})` : ''}: ${c.phoneNumbers.join(', ')}; source ${c.source}`);
        return data(`Found ${contacts.length} contact${contacts.length > 1 ? 's' : ''} for ${e164}${unsearched}:\n${lines.join('\n')}`, structured);
      }),
  );

  server.registerTool(
    'check_user_availability',
    {
      title: 'Check user availability',
      description: 'Checks if a user is available to receive calls based on their Do Not Disturb (DND) status.',
      inputSchema: checkUserAvailabilityInput,
      outputSchema: availabilityOutput,
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ user_id }) =>
      asResult(svc.log, 'check_user_availability', async () => {
        const user = await svc.directory.user(ctx.accountId, user_id);
        if (!user) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `No user ${user_id} in this account`);
        const available = isAvailable(user);
        const dnd = user.dnd === true;
        const status = user.status ?? 'available';
        const why = dnd ? 'Do Not Disturb is on' : status === 'offline' ? 'offline' : '';
        return data(available ? `${user.name} is available (Do Not Disturb is off)` : `${user.name} is not available (${why})`, { userId: user.id, name: user.name, available, dnd, status });
      }),
  );
}
