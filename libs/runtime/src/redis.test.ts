import { describe, expect, it } from 'vitest';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { freePort } from '@switchboard/testing';
import { connectRedis } from './index.ts';

describe('connectRedis', () => {
  it('to a closed port throws one clear line', async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const err: unknown = await connectRedis(url, { connectTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SwitchboardError);
    expect((err as SwitchboardError).code).toBe(ErrorCodes.DEPENDENCY_UNREACHABLE);
    expect((err as SwitchboardError).message).toBe(`Redis unreachable at redis://127.0.0.1:${port} (connection refused)`);
  });
});
