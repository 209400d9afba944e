import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SecretBox } from './secrets.ts';

const key = randomBytes(32).toString('base64');

describe('SecretBox', () => {
  it('seals and opens a value; the sealed form does not contain it', () => {
    const box = SecretBox.fromBase64(key)!;
    const sealed = box.seal('Bearer sk_live_abc123', 'srv_1|acme');
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(sealed).not.toContain('sk_live_abc123');
    expect(box.open(sealed, 'srv_1|acme')).toBe('Bearer sk_live_abc123');
    // A fresh IV per value: the same plaintext seals differently.
    expect(box.seal('Bearer sk_live_abc123', 'srv_1|acme')).not.toBe(sealed);
  });

  it.each([
    ['another record', (s: string) => SecretBox.fromBase64(key)!.open(s, 'srv_2|acme')],
    ['another key', (s: string) => SecretBox.fromBase64(randomBytes(32).toString('base64'))!.open(s, 'srv_1|acme')],
    ['an altered value', (s: string) => SecretBox.fromBase64(key)!.open(`${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`, 'srv_1|acme')],
  ])('refuses to open a value sealed for %s', (_name, open) => {
    const sealed = SecretBox.fromBase64(key)!.seal('secret', 'srv_1|acme');
    expect(() => open(sealed)).toThrow(/does not open/);
  });

  it('is absent without a key and refuses a key of the wrong size', () => {
    expect(SecretBox.fromBase64(undefined)).toBeUndefined();
    expect(() => SecretBox.fromBase64(randomBytes(16).toString('base64'))).toThrow('SECRETS_KEY must be 32 bytes of base64 (got 16 bytes)');
  });
});
