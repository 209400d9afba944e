import { randomBytes } from 'node:crypto';

/** `call_` + 16 letters and digits: safe as a NATS subject token and a Redis key. */
export function newCallId(): string {
  return `call_${randomBytes(12).toString('base64url').replace(/[-_]/g, 'x')}`;
}
