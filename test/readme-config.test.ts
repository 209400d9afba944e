import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { configSchema as gateway } from '../apps/media-gateway/src/config.ts';
import { configSchema as orchestrator } from '../apps/agent-orchestrator/src/config.ts';
import { configSchema as broker } from '../apps/mcp-broker/src/config.ts';
import { configSchema as toolServer } from '../apps/mcp-tool-server/src/config.ts';
import { configSchema as scheduler } from '../apps/scheduler/src/config.ts';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

/** The README's configuration reference must name every variable a service reads. */
describe('README configuration reference', () => {
  it.each([
    ['media-gateway', gateway],
    ['agent-orchestrator', orchestrator],
    ['mcp-broker', broker],
    ['mcp-tool-server', toolServer],
    ['scheduler', scheduler],
  ])('documents every environment variable of %s', (_name, schema) => {
    const missing = Object.keys(schema.properties).filter((v) => !readme.includes(`\`${v}\``));
    expect(missing).toEqual([]);
  });

  it('puts the two set-up commands first', () => {
    const firstBlock = readme.slice(readme.indexOf('```sh'), readme.indexOf('```', readme.indexOf('```sh') + 5));
    expect(firstBlock).toContain('npm run demo');
    expect(firstBlock).toContain('npm test');
  });
});
