import { createHmac, timingSafeEqual } from 'node:crypto';

/** What the token binds: a call to its agent and account, until `exp` (epoch s). */
export interface StreamClaims {
  callId: string;
  agentId: string;
  accountId: string;
  exp: number;
  /** `outbound` for a call placed by `cmd.media-gateway.dial` (its dial record holds the variables); absent: inbound. */
  direction?: 'inbound' | 'outbound';
  /** W3C traceparent of the voice webhook that set the stream up: the stream's work joins the call's trace. */
  traceparent?: string;
}

/** `<base64url(claims)>.<base64url(hmac-sha256)>` — short-lived proof that a stream was set up by our webhook. */
export function signStreamToken(claims: StreamClaims, secret: string): string {
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const mac = createHmac('sha256', secret).update(body).digest('base64url');
  return `${body}.${mac}`;
}

export function verifyStreamToken(token: string | undefined, secret: string, nowS = Math.floor(Date.now() / 1000)): StreamClaims | undefined {
  if (!token) return undefined;
  const parts = token.split('.');
  if (parts.length !== 2) return undefined;
  const [body, mac] = parts as [string, string];
  if (!body || !mac) return undefined;
  const expected = createHmac('sha256', secret).update(body).digest();
  // Compare the canonical encoding too, so padding bits of the last character cannot vary.
  if (mac !== expected.toString('base64url')) return undefined;
  const given = Buffer.from(mac, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as StreamClaims;
    if (typeof claims.exp !== 'number' || claims.exp < nowS) return undefined;
    return claims;
  } catch {
    return undefined;
  }
}
