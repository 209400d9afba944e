import type { FromSchema } from 'json-schema-to-ts';

/**
 * Contracts owned by the mcp-tool-server: API key scopes, the CRM records its tools read and write
 * (contacts, directory users, queues, leads) as stored in Redis and accepted by its admin endpoints,
 * and the workflow definition files of `workflow.run`. It publishes no NATS subjects of its own: its
 * tools speak the gateway, orchestrator, scheduler and broker contracts. Merged into `contracts` in
 * ./subjects.ts.
 */
export const toolServerContracts = {} as const;

const e164 = { type: 'string', pattern: '^\\+[1-9][0-9]{6,14}$' } as const;
const recordId = { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$' } as const;

/**
 * What an API key may do, one scope per tool group; `*` is everything. A key without a tool's scope
 * does not see that tool in `tools/list` and cannot call it.
 */
export const TOOL_SCOPES = {
  /** hangup_call, transfer_call, per-persona transfers, voice.speak, voice.listen. */
  calls: 'calls',
  /** get_call, get_transcript, session.status. */
  callsRead: 'calls:read',
  /** make_phone_call. */
  outbound: 'outbound',
  /** is_office_open, lookup_contact, check_user_availability. */
  directory: 'directory',
  /** create_lead. */
  leads: 'leads',
  /** Per-persona API request tools. */
  api: 'api',
  /** schedule.create, schedule.list, schedule.cancel. */
  schedules: 'schedules',
  /** workflow.run, workflow.list. */
  workflows: 'workflows',
  /** system.health. */
  system: 'system',
  /** Every tool. */
  all: '*',
} as const;
export type ToolScope = (typeof TOOL_SCOPES)[keyof typeof TOOL_SCOPES];

/** A contact of the native contact source (seed 001 `lookup_contact`). */
export const contactSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'phoneNumbers'],
  properties: {
    id: recordId,
    name: { type: 'string', minLength: 1, maxLength: 200 },
    /** E.164; a lookup matches any of them. */
    phoneNumbers: { type: 'array', items: e164, minItems: 1, maxItems: 20 },
    company: { type: 'string', maxLength: 200 },
    email: { type: 'string', maxLength: 320 },
  },
} as const;
export type Contact = FromSchema<typeof contactSchema>;

/** A person calls can be transferred to (seed 001 `check_user_availability`, "Transfer to User"). */
export const directoryUserSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name', 'phoneNumber'],
  properties: {
    id: recordId,
    name: { type: 'string', minLength: 1, maxLength: 200 },
    /** Where a transfer to this user goes. */
    phoneNumber: e164,
    /** Do Not Disturb: the user takes no calls while it is on. */
    dnd: { type: 'boolean', default: false },
    /** Presence; `offline` is unavailable like DND. */
    status: { type: 'string', enum: ['available', 'busy', 'offline'], default: 'available' },
  },
} as const;
export type DirectoryUser = FromSchema<typeof directoryUserSchema>;

/** A call queue (seed 001 "Transfer to Queue"): its own number, or else its members in order. */
export const callQueueSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'name'],
  properties: {
    id: recordId,
    name: { type: 'string', minLength: 1, maxLength: 200 },
    /** The queue's number on the PBX; when set, transfers go here. */
    phoneNumber: e164,
    /** User ids; without `phoneNumber` a transfer goes to the first one available (not DND, not offline). */
    members: { type: 'array', items: recordId, maxItems: 200, default: [] },
  },
} as const;
export type CallQueue = FromSchema<typeof callQueueSchema>;

/** Seed 001 `create_lead` classifications. */
export const LEAD_CLASSIFICATIONS = ['lead', 'customer', 'spam', 'other'] as const;

/** One contact reason of a lead: every `create_lead` adds one. */
export const leadCaseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'intent', 'createdAt'],
  properties: {
    id: { type: 'string' },
    /** The purpose of the call. */
    intent: { type: 'string' },
    summary: { type: 'string' },
    notes: { type: 'string' },
    /** The call it came from, when the request named one. */
    callId: { type: 'string' },
    /** The agent (persona) that created it. */
    personaId: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;
export type LeadCase = FromSchema<typeof leadCaseSchema>;

/** A lead: one per phone number per account; repeat callers get a new case on the same lead. */
export const leadSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'accountId', 'name', 'classification', 'createdAt', 'cases'],
  properties: {
    id: { type: 'string' },
    accountId: { type: 'string' },
    name: { type: 'string' },
    /** E.164, from the caller id; absent when the caller's number was unknown. */
    phoneNumber: e164,
    classification: { type: 'string', enum: LEAD_CLASSIFICATIONS },
    createdAt: { type: 'string' },
    cases: { type: 'array', items: leadCaseSchema },
  },
} as const;
export type Lead = FromSchema<typeof leadSchema>;

const stepId = { type: 'string', pattern: '^[a-zA-Z][a-zA-Z0-9_-]{0,63}$' } as const;
/** A step id to jump to, or `end`. */
const gotoTarget = { type: 'string', pattern: '^(end|[a-zA-Z][a-zA-Z0-9_-]{0,63})$' } as const;
const stepCommon = {
  id: stepId,
  /** Keep going when this step fails (its `ok` is false); by default a failed step fails the run. */
  continueOnError: { type: 'boolean' },
} as const;

/**
 * A named workflow for `workflow.run` (agtOS): ordered steps, each one of speak, listen, tool or
 * branch. Strings may use `{{input.<name>}}`, `{{steps.<id>.text}}`, `{{steps.<id>.ok}}`,
 * `{{call.id}}` and `{{persona.id}}`. Steps run in order unless a branch jumps.
 */
export const workflowDefinitionSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'steps'],
  properties: {
    name: { type: 'string', pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}$' },
    description: { type: 'string', maxLength: 1000 },
    /** Only this account sees and runs it; absent: every account. */
    accountId: { type: 'string', minLength: 1 },
    /** JSON Schema (root object) that `input` must satisfy. */
    input: { type: 'object', additionalProperties: true },
    steps: {
      type: 'array',
      minItems: 1,
      maxItems: 100,
      items: {
        oneOf: [
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'speak'],
            /** Say text on the call of the request (voice.speak). */
            properties: { ...stepCommon, speak: { type: 'string', minLength: 1, maxLength: 4000 } },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'listen'],
            properties: {
              ...stepCommon,
              /** Wait for the caller's next utterance (voice.listen); its text is the step's text. */
              listen: {
                type: 'object',
                additionalProperties: false,
                required: ['timeoutMs'],
                properties: { timeoutMs: { type: 'integer', minimum: 100, maximum: 120000 } },
              },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'tool'],
            properties: {
              ...stepCommon,
              /**
               * Call a tool: without `server`, one of Switchboard's own tools (in-process, same key and
               * context); with `server`, a tool of that MCP server of the persona's configuration, through
               * the broker.
               */
              tool: {
                type: 'object',
                additionalProperties: false,
                required: ['name'],
                properties: {
                  server: { type: 'string', minLength: 1 },
                  name: { type: 'string', minLength: 1 },
                  arguments: { type: 'object', additionalProperties: true },
                  timeoutMs: { type: 'integer', minimum: 1, maximum: 600000 },
                },
              },
            },
          },
          {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'branch'],
            properties: {
              ...stepCommon,
              /** Jump on a value: the first matching case wins, else `default` (else the next step). */
              branch: {
                type: 'object',
                additionalProperties: false,
                required: ['value', 'cases'],
                properties: {
                  value: { type: 'string' },
                  cases: {
                    type: 'array',
                    minItems: 1,
                    maxItems: 32,
                    items: {
                      type: 'object',
                      additionalProperties: false,
                      required: ['goto'],
                      minProperties: 2,
                      properties: {
                        /** Exact match (case-insensitive, trimmed). */
                        equals: { type: 'string' },
                        /** Substring (case-insensitive). */
                        contains: { type: 'string' },
                        /** Regular expression (case-insensitive). */
                        matches: { type: 'string', maxLength: 200 },
                        goto: gotoTarget,
                      },
                    },
                  },
                  default: gotoTarget,
                },
              },
            },
          },
        ],
      },
    },
  },
} as const;
export type WorkflowDefinition = FromSchema<typeof workflowDefinitionSchema>;
export type WorkflowStep = WorkflowDefinition['steps'][number];
