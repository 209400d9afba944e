import { describe, it, expect, afterEach } from 'vitest';
import { createServer, type Server } from 'node:net';
import { chooseInfra, provisionInfra } from '../containers/infra.ts';

/**
 * `npm run test:containers` picks its NATS and Redis in one function: containers when a Docker engine
 * is reachable, else NATS_URL/REDIS_URL (or the machine defaults). The suites then read the URLs from
 * the environment either way, so both branches run the same suite code.
 */
describe('test:containers infrastructure choice', () => {
  it.each([
    ['an engine wins over the environment', true, { NATS_URL: 'nats://n:1', REDIS_URL: 'redis://r:2' }, { use: 'testcontainers' }],
    ['an engine with no environment', true, {}, { use: 'testcontainers' }],
    [
      'no engine: the environment',
      false,
      { NATS_URL: 'nats://n:1', REDIS_URL: 'redis://r:2' },
      { use: 'environment', natsUrl: 'nats://n:1', redisUrl: 'redis://r:2' },
    ],
    [
      'no engine, only NATS_URL: it and the Redis default',
      false,
      { NATS_URL: 'nats://n:1' },
      { use: 'environment', natsUrl: 'nats://n:1', redisUrl: 'redis://127.0.0.1:6379' },
    ],
    [
      'no engine, nothing set: the machine defaults',
      false,
      { NATS_URL: '', REDIS_URL: undefined },
      { use: 'machine defaults', natsUrl: 'nats://127.0.0.1:4222', redisUrl: 'redis://127.0.0.1:6379' },
    ],
  ])('%s', (_case, engine, env, expected) => {
    expect(chooseInfra(engine, env)).toEqual(expected);
  });

  describe('without an engine', () => {
    const servers: Server[] = [];
    afterEach(async () => {
      await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    });
    const listen = async () => {
      const server = createServer((socket) => socket.destroy());
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return (server.address() as { port: number }).port;
    };

    it('uses NATS_URL/REDIS_URL when both accept connections', async () => {
      const [n, r] = [await listen(), await listen()];
      const env = { NATS_URL: `nats://127.0.0.1:${n}`, REDIS_URL: `redis://127.0.0.1:${r}` };
      const infra = await provisionInfra(env, async () => false);
      expect(infra).toMatchObject({ source: 'environment', natsUrl: env.NATS_URL, redisUrl: env.REDIS_URL });
      await infra.stop();
    });

    it('fails with one line naming what is unreachable', async () => {
      const port = await listen();
      await new Promise((r) => servers.pop()!.close(r));
      const env = { NATS_URL: `nats://127.0.0.1:${port}`, REDIS_URL: `redis://127.0.0.1:${port}` };
      await expect(provisionInfra(env, async () => false)).rejects.toThrow(
        `no Docker engine for Testcontainers, and NATS at nats://127.0.0.1:${port} and Redis at redis://127.0.0.1:${port} unreachable`,
      );
    });
  });
});
