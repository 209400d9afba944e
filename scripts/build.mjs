#!/usr/bin/env node
// Bundles each service (and the runnable examples and fakes) into dist/ with esbuild: our own
// libraries are inlined, npm dependencies stay external and load from node_modules.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const external = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})].flatMap((d) => [d, `${d}/*`]);

export const entries = {
  'apps/media-gateway': 'apps/media-gateway/src/main.ts',
  'apps/agent-orchestrator': 'apps/agent-orchestrator/src/main.ts',
  'apps/mcp-broker': 'apps/mcp-broker/src/main.ts',
  'apps/mcp-tool-server': 'apps/mcp-tool-server/src/main.ts',
  'apps/mcp-tool-server-stdio': 'apps/mcp-tool-server/src/stdio.ts',
  'apps/scheduler': 'apps/scheduler/src/main.ts',
  'examples/orders-mcp-server': 'examples/orders-mcp-server/src/main.ts',
  'libs/testing/fake-openai': 'libs/testing/src/fake-openai/main.ts',
};

export async function buildAll({ only } = {}) {
  const selected = Object.entries(entries).filter(([name]) => !only || only.includes(name));
  await Promise.all(
    selected.map(([name, entry]) =>
      build({
        absWorkingDir: root,
        entryPoints: [entry],
        outfile: `dist/${name}/main.js`,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        sourcemap: true,
        external,
        tsconfig: 'tsconfig.json',
        logLevel: 'warning',
      }),
    ),
  );
  return selected.map(([name]) => name);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.slice(2);
  const t0 = Date.now();
  const built = await buildAll(only.length ? { only } : {});
  console.log(`built ${built.length} bundle(s) into dist/ in ${Date.now() - t0} ms`);
}
