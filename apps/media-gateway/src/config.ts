import { baseEnvProperties, parseConfig } from '@switchboard/runtime';

export const configSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    ...baseEnvProperties,
    /** HTTP port for Twilio webhooks and Media Streams. */
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    /** SIP UDP port (the SIP user agent binds it). */
    SIP_PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 5060 },
    /** The public base URL Twilio reaches (https://…); signatures are computed against it and the stream URL derived from it. */
    PUBLIC_URL: { type: 'string', default: 'http://127.0.0.1:8080' },
    /** Twilio auth token: validates X-Twilio-Signature. Without it webhooks are refused unless validation is off. */
    TWILIO_AUTH_TOKEN: { type: 'string' },
    /** `false` switches signature validation off (development only). */
    TWILIO_VALIDATE_SIGNATURES: { type: 'boolean', default: true },
    /** Secret that signs the short-lived stream token handed to Twilio in <Parameter>. */
    STREAM_TOKEN_SECRET: { type: 'string', minLength: 16, default: 'dev-stream-token-secret-change-me' },
    /** Lifetime of a stream token (s). */
    STREAM_TOKEN_TTL_S: { type: 'integer', minimum: 5, default: 120 },
    /** Agent definitions directory. */
    AGENTS_DIR: { type: 'string', default: 'config/agents' },
    /** How far ahead of real time outbound audio is sent (ms): keeps the far buffer shallow. */
    OUTBOUND_LEAD_MS: { type: 'integer', minimum: 20, maximum: 1000, default: 80 },
    /** Malformed stream frames tolerated before the stream is closed. */
    MAX_BAD_FRAMES: { type: 'integer', minimum: 1, default: 50 },
  },
} as const;

export type GatewayConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
