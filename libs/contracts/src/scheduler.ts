import type { FromSchema } from 'json-schema-to-ts';
import { command, event, fixed } from './contract.ts';

const e164 = { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' } as const;
const variables = { type: 'object', additionalProperties: { type: 'string', maxLength: 2000 }, maxProperties: 50 } as const;
const isoTime = { type: 'string', minLength: 10 } as const;

/** Subjects a `publish` action may use: under `evt.`, one to eight subject-safe tokens, no wildcards. */
export const PUBLISH_SUBJECT_PATTERN = '^evt(\\.[A-Za-z0-9_-]{1,64}){1,8}$';
const publishSubject = new RegExp(PUBLISH_SUBJECT_PATTERN);

/** When a schedule fires: exactly one of `at`, `delayMs`, `cron` (with an IANA `timeZone`), `everyMs`. */
export const scheduleWhenSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    /** One-off at this instant (ISO 8601 with offset). */
    at: { type: 'string', minLength: 10, maxLength: 40 },
    /** One-off after this delay. */
    delayMs: { type: 'integer', minimum: 0, maximum: 31_536_000_000 },
    /** Five- or six-field cron expression. */
    cron: { type: 'string', minLength: 9, maxLength: 120 },
    /** IANA time zone for `cron` (DST-correct); default UTC. */
    timeZone: { type: 'string', minLength: 1, maxLength: 64 },
    /** Fixed interval. */
    everyMs: { type: 'integer', minimum: 1000, maximum: 31_536_000_000 },
  },
} as const;

/** What a schedule does when it fires. */
export const scheduleActionSchema = {
  oneOf: [
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'agentId', 'to'],
      properties: {
        /** Ask the gateway to dial `to` with the agent. */
        type: { const: 'outbound_call' },
        agentId: { type: 'string', minLength: 1 },
        to: e164,
        from: e164,
        variables,
        goal: { type: 'string', maxLength: 2000 },
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'agentId', 'to', 'reason'],
      properties: {
        /** An outbound call tied to a customer and a reason (the CRM's schedule_callback). */
        type: { const: 'callback' },
        agentId: { type: 'string', minLength: 1 },
        to: e164,
        reason: { type: 'string', minLength: 1, maxLength: 2000 },
        customer: { type: 'object', additionalProperties: false, properties: { id: { type: 'string' }, name: { type: 'string' } } },
        variables,
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'subject', 'payload'],
      properties: {
        /** Publish `payload` on an event subject (agtOS: an event topic and payload). */
        type: { const: 'publish' },
        /** Must be under `evt.` and contain only subject-safe tokens. */
        subject: { type: 'string', pattern: PUBLISH_SUBJECT_PATTERN },
        payload: {},
      },
    },
    {
      type: 'object',
      additionalProperties: false,
      required: ['type', 'agentId', 'server', 'tool'],
      properties: {
        /** Call an MCP tool through the broker, using the named server of the agent's configuration. */
        type: { const: 'tool_call' },
        agentId: { type: 'string', minLength: 1 },
        server: { type: 'string', minLength: 1 },
        tool: { type: 'string', minLength: 1 },
        arguments: { type: 'object', additionalProperties: true },
      },
    },
  ],
} as const;

export const scheduleCreateSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId', 'name', 'when', 'action'],
  properties: {
    accountId: { type: 'string', minLength: 1 },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    when: scheduleWhenSchema,
    action: scheduleActionSchema,
    /** The same key twice (per account) returns the existing schedule instead of creating another. */
    idempotencyKey: { type: 'string', minLength: 1, maxLength: 200 },
    /** A run that fell due while no scheduler was up: fire it late once, or skip it. Default fire-once. */
    missedRunPolicy: { type: 'string', enum: ['fire-once', 'skip'] },
  },
} as const;
export type ScheduleCreate = FromSchema<typeof scheduleCreateSchema>;

export const scheduleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'accountId', 'name', 'status', 'when', 'action', 'runCount', 'createdAt'],
  properties: {
    id: { type: 'string' },
    accountId: { type: 'string' },
    name: { type: 'string' },
    status: { type: 'string', enum: ['active', 'paused', 'cancelled', 'completed', 'failed'] },
    when: scheduleWhenSchema,
    action: scheduleActionSchema,
    idempotencyKey: { type: 'string' },
    missedRunPolicy: { type: 'string', enum: ['fire-once', 'skip'] },
    nextRunAt: { type: 'string' },
    lastRunAt: { type: 'string' },
    runCount: { type: 'integer', minimum: 0 },
    lastError: { type: 'string' },
    /** When a run was last skipped by the `skip` missed-run policy. */
    lastSkippedAt: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;
export type Schedule = FromSchema<typeof scheduleSchema>;

const byId = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId', 'id'],
  properties: { accountId: { type: 'string', minLength: 1 }, id: { type: 'string', minLength: 1 } },
} as const;
export type ScheduleRef = FromSchema<typeof byId>;

export const scheduleListSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId'],
  properties: {
    accountId: { type: 'string', minLength: 1 },
    status: { type: 'string', enum: ['active', 'paused', 'cancelled', 'completed', 'failed'] },
    /** Opaque cursor from the previous page. */
    cursor: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 500 },
  },
} as const;
export type ScheduleList = FromSchema<typeof scheduleListSchema>;

export const schedulePageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: { items: { type: 'array', items: scheduleSchema }, nextCursor: { type: 'string' } },
} as const;
export type SchedulePage = FromSchema<typeof schedulePageSchema>;

const actionType = { type: 'string', enum: ['outbound_call', 'callback', 'publish', 'tool_call'] } as const;

/** `evt.schedule.fired`: a schedule's action ran for one due time (once per due time across instances). */
export const scheduleFiredSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scheduleId', 'accountId', 'name', 'action', 'dueAt', 'firedAt', 'late', 'runCount'],
  properties: {
    /** The schedule that ran. */
    scheduleId: { type: 'string' },
    /** Its account. */
    accountId: { type: 'string' },
    /** Its name. */
    name: { type: 'string' },
    /** The action's type. */
    action: actionType,
    /** The occurrence this run belongs to (ISO 8601, ms precision). */
    dueAt: isoTime,
    /** When the action completed (ISO 8601, ms precision). */
    firedAt: isoTime,
    /** Fired later than the missed-run threshold (the scheduler was down or the run was retried). */
    late: { type: 'boolean' },
    /** The schedule's run count after this run. */
    runCount: { type: 'integer', minimum: 1 },
    /** Outbound calls and callbacks: the call the gateway placed. */
    callId: { type: 'string' },
    /** Tool calls: whether the tool reported failure, and its text (capped). */
    toolResult: {
      type: 'object',
      additionalProperties: false,
      required: ['isError', 'text'],
      properties: {
        /** Always false here: a tool error fails the run (evt.schedule.failed). */
        isError: { type: 'boolean' },
        /** The tool's text result, capped. */
        text: { type: 'string', maxLength: 4000 },
      },
    },
  },
} as const;
export type ScheduleFired = FromSchema<typeof scheduleFiredSchema>;

/** `evt.schedule.failed`: one attempt of a run failed; `final` when no retry follows. */
export const scheduleFailedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scheduleId', 'accountId', 'name', 'action', 'dueAt', 'failedAt', 'attempt', 'final', 'code', 'message'],
  properties: {
    /** The schedule whose run failed. */
    scheduleId: { type: 'string' },
    /** Its account. */
    accountId: { type: 'string' },
    /** Its name. */
    name: { type: 'string' },
    /** The action's type. */
    action: actionType,
    /** The occurrence the attempt belongs to. */
    dueAt: isoTime,
    /** When the attempt failed. */
    failedAt: isoTime,
    /** 1 for the first attempt. */
    attempt: { type: 'integer', minimum: 1 },
    /** No retry follows: a one-off schedule is now `failed`, a recurring one moves to its next occurrence. */
    final: { type: 'boolean' },
    /** Error code (`ErrorCodes`). */
    code: { type: 'string' },
    /** What went wrong, for a person (an unexpected error says only that it was internal). */
    message: { type: 'string' },
  },
} as const;
export type ScheduleFailed = FromSchema<typeof scheduleFailedSchema>;

/** `evt.schedule.skipped`: a run that fell due while no scheduler ran was skipped (`missedRunPolicy: skip`). */
export const scheduleSkippedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['scheduleId', 'accountId', 'name', 'dueAt', 'skippedAt'],
  properties: {
    /** The schedule whose run was skipped. */
    scheduleId: { type: 'string' },
    /** Its account. */
    accountId: { type: 'string' },
    /** Its name. */
    name: { type: 'string' },
    /** The occurrence skipped. */
    dueAt: isoTime,
    /** When the scheduler noticed it and skipped it. */
    skippedAt: isoTime,
    /** The next occurrence, when the schedule recurs. */
    nextRunAt: { type: 'string' },
  },
} as const;
export type ScheduleSkipped = FromSchema<typeof scheduleSkippedSchema>;

/**
 * The subject of a scheduled `publish` action, checked again at publish time (the create schema
 * already checked it): under `evt.`, subject-safe tokens only, so a stored value can never publish
 * on a wildcard or outside the event namespace.
 */
export function scheduledEventSubject(subject: string | undefined): string {
  if (subject === undefined || !publishSubject.test(subject)) throw new Error(`invalid scheduled event subject: ${JSON.stringify(subject)}`);
  return subject;
}

/**
 * The event domains (`call` in `evt.call.ended`) that platform contracts publish on. A scheduled
 * `publish` action may not use them: a tenant must not be able to forge call or tool events.
 */
export function platformEventDomains(all: Record<string, { kind: string; param: string; subject: (p?: string) => string }>): Set<string> {
  const domains = new Set<string>();
  for (const c of Object.values(all)) {
    if (c.kind !== 'event' || c.param === 'subject') continue;
    const [root, domain] = c.subject('x').split('.');
    if (root === 'evt' && domain) domains.add(domain);
  }
  return domains;
}

/** Contracts owned by the scheduler: schedule operations over NATS (queue group), run events, scheduled publishes. */
export const schedulerContracts = {
  scheduleCreate: command('scheduleCreate', 'none', fixed('cmd.scheduler.create'), scheduleCreateSchema, scheduleSchema, 'scheduler'),
  scheduleGet: command('scheduleGet', 'none', fixed('cmd.scheduler.get'), byId, scheduleSchema, 'scheduler'),
  scheduleList: command('scheduleList', 'none', fixed('cmd.scheduler.list'), scheduleListSchema, schedulePageSchema, 'scheduler'),
  scheduleCancel: command('scheduleCancel', 'none', fixed('cmd.scheduler.cancel'), byId, scheduleSchema, 'scheduler'),
  schedulePause: command('schedulePause', 'none', fixed('cmd.scheduler.pause'), byId, scheduleSchema, 'scheduler'),
  scheduleResume: command('scheduleResume', 'none', fixed('cmd.scheduler.resume'), byId, scheduleSchema, 'scheduler'),
  /** Scheduler → all: a run fired (tests, benchmarks and monitors observe runs here). */
  scheduleFired: event('scheduleFired', 'none', fixed('evt.schedule.fired'), scheduleFiredSchema),
  /** Scheduler → all: a run attempt failed. */
  scheduleFailed: event('scheduleFailed', 'none', fixed('evt.schedule.failed'), scheduleFailedSchema),
  /** Scheduler → all: a missed run was skipped. */
  scheduleSkipped: event('scheduleSkipped', 'none', fixed('evt.schedule.skipped'), scheduleSkippedSchema),
  /**
   * Scheduler → anyone: a `publish` action's payload (any JSON) on the schedule's own `evt.*` subject
   * (`{ param: subject }`), as agtOS fires a schedule by publishing its event topic and payload.
   */
  scheduledEvent: event('scheduledEvent', 'subject', scheduledEventSubject, {}),
} as const;
