import type { TestProject } from 'vitest/node';
import { provisionInfra } from './infra.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    natsUrl: string;
    redisUrl: string;
    infraSource: string;
  }
}

/**
 * globalSetup of `npm run test:containers`: provisions NATS and Redis once for the run (containers
 * when a Docker engine is reachable, else NATS_URL/REDIS_URL), says which in one line, and hands the
 * URLs to the workers through the environment — so the suites run unchanged, through `infraUrls()`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const infra = await provisionInfra();
  console.log(`[test:containers] NATS ${infra.natsUrl}, Redis ${infra.redisUrl} from ${infra.source}`);
  process.env['NATS_URL'] = infra.natsUrl;
  process.env['REDIS_URL'] = infra.redisUrl;
  project.provide('natsUrl', infra.natsUrl);
  project.provide('redisUrl', infra.redisUrl);
  project.provide('infraSource', infra.source);
  return () => infra.stop();
}
