import type { FromSchema } from 'json-schema-to-ts';
import { command, fixed } from './contract.ts';

const e164 = { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' } as const;
const variables = { type: 'object', additionalProperties: { type: 'string', maxLength: 2000 }, maxProperties: 50 } as const;

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
        subject: { type: 'string', pattern: '^evt(\\.[A-Za-z0-9_-]{1,64}){1,8}$' },
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

/** Contracts owned by the scheduler: schedule operations over NATS (queue group). */
export const schedulerContracts = {
  scheduleCreate: command('scheduleCreate', 'none', fixed('cmd.scheduler.create'), scheduleCreateSchema, scheduleSchema, 'scheduler'),
  scheduleGet: command('scheduleGet', 'none', fixed('cmd.scheduler.get'), byId, scheduleSchema, 'scheduler'),
  scheduleList: command('scheduleList', 'none', fixed('cmd.scheduler.list'), scheduleListSchema, schedulePageSchema, 'scheduler'),
  scheduleCancel: command('scheduleCancel', 'none', fixed('cmd.scheduler.cancel'), byId, scheduleSchema, 'scheduler'),
  schedulePause: command('schedulePause', 'none', fixed('cmd.scheduler.pause'), byId, scheduleSchema, 'scheduler'),
  scheduleResume: command('scheduleResume', 'none', fixed('cmd.scheduler.resume'), byId, scheduleSchema, 'scheduler'),
} as const;
