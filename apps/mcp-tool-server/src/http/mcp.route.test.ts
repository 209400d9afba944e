import { describe, expect, it } from 'vitest';
import { originAllowed } from './mcp.route.ts';

const LOCAL = ['http://localhost', 'http://127.0.0.1', 'http://[::1]'];

describe('originAllowed (DNS-rebinding protection)', () => {
  it.each<[string | undefined, readonly string[], boolean]>([
    [undefined, LOCAL, true],
    ['http://localhost:6274', LOCAL, true],
    ['http://LOCALHOST:1', LOCAL, true],
    ['http://127.0.0.1:3000', LOCAL, true],
    ['http://[::1]:3000', LOCAL, true],
    ['https://localhost', LOCAL, false],
    ['http://evil.example.com', LOCAL, false],
    ['http://localhost.evil.example.com', LOCAL, false],
    ['http://127.0.0.1.nip.io', LOCAL, false],
    ['null', LOCAL, false],
    ['not a url', LOCAL, false],
    ['https://app.example.com', ['https://app.example.com'], true],
    ['http://evil.example.com', ['*'], true],
  ])('%s with %j: %s', (origin, allowed, ok) => {
    expect(originAllowed(origin, allowed)).toBe(ok);
  });
});
