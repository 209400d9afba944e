import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCodes, SwitchboardError, scheduleCreateSchema, scheduleListSchema, type ScheduleCreate, type ScheduleList } from '@switchboard/contracts';
import { describeErrors, validatorFor } from '@switchboard/bus';
import type { ApiKeyRecord, ApiKeyStore } from '@switchboard/session-store';
import type { ScheduleService } from '../schedules/service.ts';

export interface SchedulesRouteDeps {
  service: ScheduleService;
  keys: ApiKeyStore;
}

/** Key scopes that may manage schedules. */
const SCOPES = new Set(['*', 'schedules']);

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' && v.length ? v : undefined;
}

/** The presented key (`X-API-Key` or `Authorization: Bearer`), verified against the hashed keys in Redis. */
async function authenticate(req: FastifyRequest, keys: ApiKeyStore): Promise<ApiKeyRecord> {
  const auth = header(req, 'authorization');
  const key = auth?.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : header(req, 'x-api-key');
  if (!key) throw new SwitchboardError(ErrorCodes.AUTH_MISSING_KEY, 'Missing API key: send X-API-Key or Authorization: Bearer');
  const record = await keys.verify(key);
  if (!record) throw new SwitchboardError(ErrorCodes.AUTH_INVALID_KEY, 'Invalid API key');
  if (!record.scopes.some((s) => SCOPES.has(s))) throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, 'This key may not manage schedules (scope "schedules" needed)');
  return record;
}

function assertBody<T>(schema: object, value: unknown, what: string): T {
  const validate = validatorFor(schema);
  if (!validate(value)) {
    const problems = describeErrors(validate.errors);
    throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, `${what}: ${problems.join('; ')}`, { details: { problems } });
  }
  return value as T;
}

/** The account a request acts for is the key's; a body or query naming another account is refused. */
function accountOf(key: ApiKeyRecord, named: unknown): string {
  if (named !== undefined && named !== key.accountId) throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, 'This key does not belong to that account');
  return key.accountId;
}

/**
 * `/v1/schedules`: create (POST), list (GET ?status&cursor&limit), get (GET /:id), and
 * cancel/pause/resume (POST /:id/<op>; DELETE /:id cancels too). A key sees only its own account's
 * schedules: another account's id answers 404 like an unknown one.
 */
export async function schedulesRoutes(app: FastifyInstance, deps: SchedulesRouteDeps): Promise<void> {
  const { service, keys } = deps;

  app.post('/v1/schedules', async (req, reply) => {
    const key = await authenticate(req, keys);
    const body = req.body;
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new SwitchboardError(ErrorCodes.REQUEST_INVALID, 'body: a JSON object is required');
    const accountId = accountOf(key, (body as { accountId?: unknown }).accountId);
    const create = assertBody<ScheduleCreate>(scheduleCreateSchema, { ...body, accountId }, 'body');
    const { schedule, created } = await service.create(create);
    return reply.status(created ? 201 : 200).send(schedule);
  });

  app.get('/v1/schedules', async (req) => {
    const key = await authenticate(req, keys);
    const q = req.query as Record<string, string | undefined>;
    const accountId = accountOf(key, q.accountId);
    const list: Record<string, unknown> = { accountId };
    if (q.status !== undefined) list.status = q.status;
    if (q.cursor !== undefined) list.cursor = q.cursor;
    if (q.limit !== undefined) list.limit = /^\d+$/.test(q.limit) ? Number(q.limit) : q.limit;
    return service.list(assertBody<ScheduleList>(scheduleListSchema, list, 'query'));
  });

  app.get('/v1/schedules/:id', async (req) => {
    const key = await authenticate(req, keys);
    return service.get({ accountId: key.accountId, id: (req.params as { id: string }).id });
  });

  const ops = { cancel: service.cancel.bind(service), pause: service.pause.bind(service), resume: service.resume.bind(service) } as const;
  for (const [op, run] of Object.entries(ops)) {
    app.post(`/v1/schedules/:id/${op}`, async (req) => {
      const key = await authenticate(req, keys);
      return run({ accountId: key.accountId, id: (req.params as { id: string }).id });
    });
  }
  app.delete('/v1/schedules/:id', async (req) => {
    const key = await authenticate(req, keys);
    return service.cancel({ accountId: key.accountId, id: (req.params as { id: string }).id });
  });
}
