import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// `npm run test:containers`: a chosen set of integration suites against NATS and Redis that
// test/containers/global-setup.ts provisions (Testcontainers when a Docker engine is reachable,
// else NATS_URL/REDIS_URL). Aliases as in vitest.config.ts: from tsconfig.base.json paths.
const base = JSON.parse(readFileSync(new URL('./tsconfig.base.json', import.meta.url), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};
const alias = Object.fromEntries(
  Object.entries(base.compilerOptions.paths).map(([name, [target]]) => [
    name,
    fileURLToPath(new URL(`./${target}`, import.meta.url)),
  ]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    name: 'containers',
    include: [
      'libs/bus/test/*.int.test.ts',
      'libs/session-store/test/*.int.test.ts',
      'libs/runtime/test/*.int.test.ts',
      'apps/scheduler/test/*.int.test.ts',
      'apps/mcp-broker/test/*.int.test.ts',
    ],
    globalSetup: ['test/containers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
