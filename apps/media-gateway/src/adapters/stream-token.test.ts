import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signStreamToken, verifyStreamToken } from './stream-token.ts';
import type { StreamClaims } from './stream-token.ts';

const SECRET = 'test-stream-token-secret-0123456789';
const NOW = 1_750_000_000;
const claims: StreamClaims = { callId: 'call_abc123', agentId: 'demo', accountId: 'default', exp: NOW + 120 };

/** Replaces the character at `i` with a different base64url character. */
function flip(s: string, i: number): string {
  const c = s[i] === 'A' ? 'B' : 'A';
  return s.slice(0, i) + c + s.slice(i + 1);
}

describe('stream token', () => {
  it('verifies what it signed and returns the claims', () => {
    const token = signStreamToken(claims, SECRET);
    expect(token).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifyStreamToken(token, SECRET, NOW)).toEqual(claims);
  });

  it('is valid up to and including its exp second', () => {
    const token = signStreamToken(claims, SECRET);
    expect(verifyStreamToken(token, SECRET, claims.exp)).toEqual(claims);
    expect(verifyStreamToken(token, SECRET, claims.exp + 1)).toBeUndefined();
  });

  it('rejects an expired token', () => {
    const token = signStreamToken({ ...claims, exp: NOW - 1 }, SECRET);
    expect(verifyStreamToken(token, SECRET, NOW)).toBeUndefined();
  });

  it('rejects a token signed with another secret', () => {
    expect(verifyStreamToken(signStreamToken(claims, 'another-secret-0123456789'), SECRET, NOW)).toBeUndefined();
  });

  it('rejects a tampered body (other claims, original mac)', () => {
    const [, mac] = signStreamToken(claims, SECRET).split('.');
    const forged = Buffer.from(JSON.stringify({ ...claims, accountId: 'someone-else' })).toString('base64url');
    expect(verifyStreamToken(`${forged}.${mac}`, SECRET, NOW)).toBeUndefined();
  });

  it('rejects a body with one character changed', () => {
    const [body, mac] = signStreamToken(claims, SECRET).split('.') as [string, string];
    expect(verifyStreamToken(`${flip(body, 5)}.${mac}`, SECRET, NOW)).toBeUndefined();
  });

  it('rejects a tampered mac', () => {
    const [body, mac] = signStreamToken(claims, SECRET).split('.') as [string, string];
    expect(verifyStreamToken(`${body}.${flip(mac, 10)}`, SECRET, NOW)).toBeUndefined();
    expect(verifyStreamToken(`${body}.${mac.slice(0, -4)}`, SECRET, NOW)).toBeUndefined();
  });

  it('rejects a correctly signed body without a numeric exp', () => {
    const { exp: _exp, ...noExp } = claims;
    expect(verifyStreamToken(signStreamToken(noExp as StreamClaims, SECRET), SECRET, NOW)).toBeUndefined();
  });

  it('rejects a correctly signed body that is not JSON', () => {
    const body = Buffer.from('not json').toString('base64url');
    const mac = createHmac('sha256', SECRET).update(body).digest('base64url');
    expect(verifyStreamToken(`${body}.${mac}`, SECRET, NOW)).toBeUndefined();
  });

  it.each<[string, string | undefined]>([
    ['undefined', undefined],
    ['empty', ''],
    ['no dot', 'abcdef'],
    ['only a dot', '.'],
    ['empty mac', 'abc.'],
    ['empty body', '.abc'],
    ['garbage', '%%%.$$$'],
  ])('rejects garbage: %s', (_name, token) => {
    expect(verifyStreamToken(token, SECRET, NOW)).toBeUndefined();
  });

  it("carries the voice webhook's traceparent, signed (the stream's work joins the call's trace)", () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const token = signStreamToken({ callId: 'call_t', agentId: 'demo', accountId: 'default', exp: NOW + 60, traceparent }, SECRET);
    expect(verifyStreamToken(token, SECRET, NOW)?.traceparent).toBe(traceparent);
    // Another trace cannot be slipped in: the claims are under the MAC.
    const [body, mac] = token.split('.') as [string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), traceparent: '00-ffffffffffffffffffffffffffffffff-00f067aa0ba902b7-01' })).toString('base64url');
    expect(verifyStreamToken(`${forged}.${mac}`, SECRET, NOW)).toBeUndefined();
  });
});
