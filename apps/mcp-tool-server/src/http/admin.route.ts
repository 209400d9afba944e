import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { describeErrors, validatorFor } from '@switchboard/bus';
import {
  accountSettingsSchema,
  callQueueSchema,
  contactSchema,
  directoryUserSchema,
  ErrorCodes,
  SwitchboardError,
  TOOL_SCOPES,
  type AccountSettings,
  type CallQueue,
  type Contact,
  type DirectoryUser,
} from '@switchboard/contracts';
import type { AccountStore, ApiKeyStore } from '@switchboard/session-store';
import type { NativeContactStore } from '../adapters/contacts.ts';
import type { DirectoryStore } from '../adapters/directory.ts';
import type { LeadStore } from '../adapters/leads.ts';

export interface AdminDeps {
  token: string;
  keys: ApiKeyStore;
  accounts: AccountStore;
  contacts: NativeContactStore;
  directory: DirectoryStore;
  leads: LeadStore;
}

const SCOPES: ReadonlySet<string> = new Set(Object.values(TOOL_SCOPES));

const newKeySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId'],
  properties: {
    accountId: { type: 'string', minLength: 1, maxLength: 64 },
    scopes: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 20 },
    ratePerMin: { type: 'integer', minimum: 1, maximum: 1000000 },
    label: { type: 'string', maxLength: 200 },
  },
} as const;

/** `value` checked against a contract schema (defaults filled), or REQUEST_INVALID naming each problem. */
function valid<T>(schema: object, value: unknown, what: string): T {
  const validate = validatorFor(schema);
  if (!validate(value)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `${what}: ${describeErrors(validate.errors).join('; ')}`);
  return value as T;
}

/** The body with the path's id filled in; a body naming another id is refused. */
function withId(body: unknown, field: string, id: string): Record<string, unknown> {
  const obj = body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  if (obj[field] !== undefined && obj[field] !== id) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `${field} in the body (${String(obj[field])}) differs from the path (${id})`);
  return { ...obj, [field]: id };
}

export function validScopes(scopes: readonly string[]): string[] {
  const bad = scopes.filter((s) => !SCOPES.has(s));
  if (bad.length) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `Unknown scope${bad.length > 1 ? 's' : ''} ${bad.join(', ')} (known: ${[...SCOPES].join(', ')})`);
  return [...new Set(scopes)];
}

export function validTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `timeZone: ${tz} is not an IANA time zone`);
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `/admin/*`: keys, account settings, contacts, directory users, queues and leads, for
 * `Authorization: Bearer <ADMIN_TOKEN>`. Registered only when ADMIN_TOKEN is set.
 */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const expected = digest(deps.token);
  app.addHook('onRequest', async (req: FastifyRequest, reply) => {
    const auth = req.headers.authorization;
    const given = typeof auth === 'string' && auth.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : '';
    if (!given || !timingSafeEqual(digest(given), expected)) {
      return reply.status(401).send({ code: ErrorCodes.AUTH_INVALID_KEY, message: 'Admin token missing or wrong', retryable: false });
    }
  });

  type AccountParams = { Params: { accountId: string; id: string } };

  app.post('/admin/keys', async (req, reply) => {
    const body = valid<{ accountId: string; scopes?: string[]; ratePerMin?: number; label?: string }>(newKeySchema, req.body, 'key');
    const created = await deps.keys.create(body.accountId, validScopes(body.scopes ?? ['*']), { ...(body.ratePerMin ? { ratePerMin: body.ratePerMin } : {}), ...(body.label ? { label: body.label } : {}) });
    return reply.status(201).send(created);
  });
  app.get<{ Querystring: { accountId?: string } }>('/admin/keys', async (req) => ({ keys: await deps.keys.list(req.query.accountId) }));
  app.delete<{ Params: { id: string } }>('/admin/keys/:id', async (req, reply) => reply.status((await deps.keys.revoke(req.params.id)) ? 204 : 404).send());

  app.get<AccountParams>('/admin/accounts/:accountId/settings', async (req) => deps.accounts.get(req.params.accountId));
  app.put<AccountParams>('/admin/accounts/:accountId/settings', async (req) => {
    const settings = valid<AccountSettings>(accountSettingsSchema, withId(req.body, 'accountId', req.params.accountId), 'settings');
    validTimeZone(settings.timeZone ?? 'UTC');
    await deps.accounts.put(settings);
    return deps.accounts.get(settings.accountId);
  });

  app.put<AccountParams>('/admin/accounts/:accountId/contacts/:id', async (req) => {
    const contact = valid<Contact>(contactSchema, withId(req.body, 'id', req.params.id), 'contact');
    await deps.contacts.put(req.params.accountId, contact);
    return contact;
  });
  app.delete<AccountParams>('/admin/accounts/:accountId/contacts/:id', async (req, reply) => reply.status((await deps.contacts.remove(req.params.accountId, req.params.id)) ? 204 : 404).send());

  app.put<AccountParams>('/admin/accounts/:accountId/users/:id', async (req) => {
    const user = valid<DirectoryUser>(directoryUserSchema, withId(req.body, 'id', req.params.id), 'user');
    await deps.directory.putUser(req.params.accountId, user);
    return user;
  });
  app.delete<AccountParams>('/admin/accounts/:accountId/users/:id', async (req, reply) => reply.status((await deps.directory.removeUser(req.params.accountId, req.params.id)) ? 204 : 404).send());

  app.put<AccountParams>('/admin/accounts/:accountId/queues/:id', async (req) => {
    const queue = valid<CallQueue>(callQueueSchema, withId(req.body, 'id', req.params.id), 'queue');
    await deps.directory.putQueue(req.params.accountId, queue);
    return queue;
  });
  app.delete<AccountParams>('/admin/accounts/:accountId/queues/:id', async (req, reply) => reply.status((await deps.directory.removeQueue(req.params.accountId, req.params.id)) ? 204 : 404).send());

  app.get<AccountParams>('/admin/accounts/:accountId/leads', async (req) => ({ leads: await deps.leads.list(req.params.accountId) }));
}
