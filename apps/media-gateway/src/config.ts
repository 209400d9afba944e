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
    /** `false` leaves the SIP user agent off (no UDP port, no SIP calls). */
    SIP_ENABLED: { type: 'boolean', default: true },
    /** Address the SIP and RTP sockets bind. */
    SIP_HOST: { type: 'string', default: '0.0.0.0' },
    /** Address put in Via, Contact and the SDP `c=` line; default: SIP_HOST, or the first non-internal IPv4 when that is 0.0.0.0. */
    SIP_PUBLIC_IP: { type: 'string', minLength: 1 },
    /** Lowest RTP port (even ports are used). */
    RTP_PORT_MIN: { type: 'integer', minimum: 1024, maximum: 65534, default: 10000 },
    /** Highest RTP port. */
    RTP_PORT_MAX: { type: 'integer', minimum: 1024, maximum: 65535, default: 20000 },
    /** Longest an inbound RTP packet waits for a missing predecessor (ms) before that one counts as lost. */
    RTP_JITTER_MS: { type: 'integer', minimum: 0, maximum: 500, default: 60 },
    /** A call that receives no RTP for this long (s) while not on hold is ended; 0 never. */
    RTP_TIMEOUT_S: { type: 'integer', minimum: 0, default: 60 },
    /** Estimated delay from sending an RTP packet to the caller hearing it (ms): marks are reported played after it. */
    SIP_PLAYOUT_DELAY_MS: { type: 'integer', minimum: 0, maximum: 2000, default: 60 },
    /** Agent id for SIP calls whose called user is not a routed number (e.g. `sip:service@…`). */
    SIP_DEFAULT_AGENT: { type: 'string', minLength: 1 },
    /** Comma-separated IPs/CIDRs allowed to send INVITEs (your trunk's); unset: anyone. */
    SIP_ALLOWED_SOURCES: { type: 'string' },
    /** SIP trunk for outbound calls and bridged transfers, e.g. `sip:trunk.example.com:5060`. */
    SIP_TRUNK_URI: { type: 'string', pattern: '^sips?:' },
    /** Digest username for the trunk (401/407 challenges). */
    SIP_TRUNK_USERNAME: { type: 'string' },
    /** Digest password for the trunk. */
    SIP_TRUNK_PASSWORD: { type: 'string' },
    /** Caller id (user part of From) for SIP outbound calls when the dial request names none. */
    SIP_FROM_NUMBER: { type: 'string', minLength: 1 },
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
    /** Twilio account SID (`AC…`): with TWILIO_AUTH_TOKEN, enables the REST API (dial, hang-up, transfer). */
    TWILIO_ACCOUNT_SID: { type: 'string', pattern: '^AC[0-9a-fA-F]{32}$' },
    /** Base URL of Twilio's REST API; point it at a fake or a proxy for tests and staging. */
    TWILIO_API_BASE_URL: { type: 'string', pattern: '^https?://', default: 'https://api.twilio.com' },
    /** Carrier for `cmd.media-gateway.dial` requests that name none; unset: Twilio when its REST API is configured, else SIP. */
    OUTBOUND_CARRIER: { type: 'string', enum: ['twilio', 'sip'] },
    /** How long an outbound call rings before it counts as no-answer (s; Twilio `Timeout`). */
    DIAL_RING_TIMEOUT_S: { type: 'integer', minimum: 5, maximum: 600, default: 30 },
    /** Directory for per-call WAV recordings of both legs (`<callId>-caller.wav`, `<callId>-agent.wav`); unset: no recording. */
    RECORDINGS_DIR: { type: 'string', minLength: 1 },
  },
} as const;

export type GatewayConfig = ReturnType<typeof loadConfig>;

export function loadConfig(env: Record<string, string | undefined> = process.env) {
  return parseConfig(configSchema, env);
}
