import { randomBytes } from 'node:crypto';

/**
 * A random Twilio-shaped SID: a two-letter type prefix and 32 lowercase hex digits, e.g. `CA…` for a
 * call, `AC…` for an account, `MZ…` for a media stream.
 */
export function twilioSid(prefix: 'CA' | 'AC' | 'MZ'): string {
  return prefix + randomBytes(16).toString('hex');
}
