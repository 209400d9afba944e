import { beforeAll, describe, expect, it } from 'vitest';
import { infraUrls } from '@switchboard/testing';
import { connectRedis } from '../src/index.ts';

let redisUrl = '';

beforeAll(async () => {
  const infra = await infraUrls();
  console.log(`runtime int tests: Redis ${infra.redisUrl} from ${infra.source}`);
  redisUrl = infra.redisUrl;
});

describe('connectRedis', () => {
  it('connects to the real Redis, names the connection and answers commands', async () => {
    const name = `sb-runtime-test-${process.pid}`;
    const redis = await connectRedis(redisUrl, { name });
    try {
      expect(redis.status).toBe('ready');
      expect(await redis.ping()).toBe('PONG');
      expect(await redis.client('GETNAME')).toBe(name);
    } finally {
      await redis.quit();
    }
  });
});
