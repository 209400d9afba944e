import { GenericContainer, Wait, getContainerRuntimeClient, type StartedTestContainer } from 'testcontainers';
import { reachable } from '../../libs/testing/src/stack/ports.ts';

/** NATS and Redis for one integration run: where they came from, their URLs, and how to let them go. */
export interface Infra {
  source: 'testcontainers' | 'environment' | 'machine defaults';
  natsUrl: string;
  redisUrl: string;
  stop(): Promise<void>;
}

/** The images the container branch starts (the same ones docker-compose.yml runs). */
export const NATS_IMAGE = 'nats:2.11-alpine';
export const REDIS_IMAGE = 'redis:7-alpine';

/** What a run should use, decided from the engine probe and the environment (pure, unit-tested). */
export type InfraChoice =
  | { use: 'testcontainers' }
  | { use: 'environment' | 'machine defaults'; natsUrl: string; redisUrl: string };

/**
 * A reachable Docker engine wins: the suites get fresh, isolated containers. Without one, the
 * environment's `NATS_URL`/`REDIS_URL` are used, else the machine defaults.
 */
export function chooseInfra(engine: boolean, env: Record<string, string | undefined>): InfraChoice {
  if (engine) return { use: 'testcontainers' };
  const fromEnv = Boolean(env['NATS_URL'] || env['REDIS_URL']);
  return {
    use: fromEnv ? 'environment' : 'machine defaults',
    natsUrl: env['NATS_URL'] || 'nats://127.0.0.1:4222',
    redisUrl: env['REDIS_URL'] || 'redis://127.0.0.1:6379',
  };
}

/** Testcontainers' own engine detection (DOCKER_HOST, ~/.testcontainers.properties, the socket, rootless, ...). */
export async function engineReachable(): Promise<boolean> {
  try {
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** Starts NATS (JetStream) and Redis containers; their URLs use the mapped host ports. */
export async function startContainers(): Promise<Infra> {
  const started: StartedTestContainer[] = [];
  try {
    const [nats, redis] = await Promise.all([
      new GenericContainer(NATS_IMAGE)
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
        .start()
        .then((c) => (started.push(c), c)),
      new GenericContainer(REDIS_IMAGE)
        .withExposedPorts(6379)
        .withWaitStrategy(Wait.forLogMessage(/Ready to accept connections/))
        .start()
        .then((c) => (started.push(c), c)),
    ]);
    return {
      source: 'testcontainers',
      natsUrl: `nats://${nats.getHost()}:${nats.getMappedPort(4222)}`,
      redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
      stop: async () => void (await Promise.all(started.map((c) => c.stop()))),
    };
  } catch (err) {
    await Promise.allSettled(started.map((c) => c.stop()));
    throw err;
  }
}

/** The infrastructure for a run: containers when an engine is reachable, else the given URLs (checked reachable). */
export async function provisionInfra(
  env: Record<string, string | undefined> = process.env,
  probe: () => Promise<boolean> = engineReachable,
): Promise<Infra> {
  const choice = chooseInfra(await probe(), env);
  if (choice.use === 'testcontainers') return startContainers();
  const [n, r] = await Promise.all([reachable(choice.natsUrl), reachable(choice.redisUrl)]);
  if (!n || !r) {
    const down = [!n && `NATS at ${choice.natsUrl}`, !r && `Redis at ${choice.redisUrl}`].filter(Boolean).join(' and ');
    throw new Error(`no Docker engine for Testcontainers, and ${down} unreachable: start them or set NATS_URL/REDIS_URL`);
  }
  return { source: choice.use, natsUrl: choice.natsUrl, redisUrl: choice.redisUrl, stop: async () => {} };
}
