import type { FromSchema } from 'json-schema-to-ts';

const e164OrPrefix = { type: 'string', pattern: '^\\+[1-9][0-9]{0,14}\\*?$' } as const;
const hhmm = { type: 'string', pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$' } as const;

/** Per-account (tenant) settings, stored in Redis and shared by every service. */
export const accountSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['accountId'],
  properties: {
    accountId: { type: 'string', minLength: 1, maxLength: 64 },
    name: { type: 'string' },
    /** IANA time zone: office hours, `{{now}}`, calling hours. */
    timeZone: { type: 'string', minLength: 1, default: 'UTC' },
    /** Toll-fraud guard for transfers and outbound calls: E.164 numbers or prefixes ending in `*`. Empty: none allowed. */
    allowedDestinations: { type: 'array', items: e164OrPrefix, maxItems: 1000, default: [] },
    /** Outbound calls only inside these hours (callee's or account's time zone); a call due outside is moved, not dropped. */
    callingHours: {
      type: 'object',
      additionalProperties: false,
      required: ['start', 'end'],
      properties: {
        start: hhmm,
        end: hhmm,
        /** 0 = Sunday … 6 = Saturday; default every day. */
        days: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 6 }, uniqueItems: true },
      },
    },
    /** Cap on concurrent outbound calls. */
    maxConcurrentOutbound: { type: 'integer', minimum: 1, maximum: 10000 },
    /** Pacing: outbound calls started per minute at most. */
    outboundPerMinute: { type: 'integer', minimum: 1, maximum: 100000 },
  },
} as const;
export type AccountSettings = FromSchema<typeof accountSettingsSchema>;
