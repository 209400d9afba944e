import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { freePort } from '@switchboard/testing';
import { Bus, describeConnectError } from './index.ts';

describe('Bus.connect', () => {
  it('to a closed port throws one clear line', async () => {
    const port = await freePort();
    const err: unknown = await Bus.connect({ url: `nats://127.0.0.1:${port}`, name: 'bus-test', log: pino({ level: 'silent' }), connectTimeoutMs: 1000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.DEPENDENCY_UNREACHABLE);
    expect((err as SwitchboardError).message).toBe(`NATS unreachable at nats://127.0.0.1:${port} (connection refused)`);
  });
});

describe('describeConnectError', () => {
  it.each<[string, unknown, string]>([
    ['an ECONNREFUSED code', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4222'), { code: 'ECONNREFUSED' }), 'connection refused'],
    ['a wrapped ECONNREFUSED cause', Object.assign(new Error('failed'), { cause: { code: 'ECONNREFUSED' } }), 'connection refused'],
    ['a host not found', Object.assign(new Error('getaddrinfo ENOTFOUND nats'), { code: 'ENOTFOUND' }), 'host not found'],
    ['a timeout', new Error('Connection timeout'), 'timed out'],
    ['anything else', new Error('Authorization Violation'), 'Authorization Violation'],
  ])('describes %s', (_what, err, reason) => {
    expect(describeConnectError(err)).toBe(reason);
  });
});
