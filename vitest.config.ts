import { defineConfig } from 'vitest/config';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Resolve @switchboard/* the same way tsc does: from tsconfig.base.json paths, one source of truth.
const base = JSON.parse(readFileSync(new URL('./tsconfig.base.json', import.meta.url), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
};
const alias = Object.fromEntries(
  Object.entries(base.compilerOptions.paths).map(([name, [target]]) => [
    name,
    fileURLToPath(new URL(`./${target}`, import.meta.url)),
  ]),
);

const common = { resolve: { alias } };

export default defineConfig({
  ...common,
  test: {
    projects: [
      {
        ...common,
        test: {
          name: 'unit',
          include: ['{apps,libs,examples}/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.e2e.test.ts', '**/node_modules/**'],
        },
      },
      {
        ...common,
        test: {
          name: 'int',
          include: ['{apps,libs,examples}/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        ...common,
        test: {
          name: 'e2e',
          include: ['test/**/*.e2e.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
