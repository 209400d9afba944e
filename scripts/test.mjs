#!/usr/bin/env node
// `npm test`: installs what it needs, builds the service bundles, finds (or starts) NATS and Redis,
// then runs the unit, integration and end-to-end suites and prints one summary line.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, build, ensureDeps, ensureDir, ensureInfra } from './lib/setup.mjs';

const extra = process.argv.slice(2);
ensureDeps();
build();
const infra = await ensureInfra();
console.log(`infrastructure: ${infra.how}`);
const env = { ...process.env, NATS_URL: infra.natsUrl, REDIS_URL: infra.redisUrl };
const outDir = ensureDir('results');

// Integration and end-to-end files share one NATS and one Redis (queue groups, fixed subjects), so
// they run one file at a time; unit tests run in parallel.
const suites = [
  { project: 'unit', args: [] },
  { project: 'int', args: ['--no-file-parallelism'] },
  { project: 'e2e', args: ['--no-file-parallelism'] },
];
const totals = { passed: 0, failed: 0, skipped: 0 };
let crashed = false;

// Static checks count as tests: the whole repo typechecks, and lint (with nx module boundaries) is clean.
for (const [name, cmd, args] of [
  ['typecheck', process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit']],
  ['lint', 'npm', ['run', '--silent', 'lint']],
]) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: 'inherit', env });
  console.log(`check ${name}: ${r.status === 0 ? 'passed' : 'FAILED'}`);
  if (r.status === 0) totals.passed++;
  else totals.failed++;
}

for (const s of suites) {
  const out = join(outDir, `vitest-${s.project}.json`);
  rmSync(out, { force: true });
  const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--project', s.project, ...s.args, '--reporter=default', '--reporter=json', `--outputFile=${out}`, '--passWithNoTests', ...extra], { cwd: ROOT, stdio: 'inherit', env });
  if (!existsSync(out)) {
    console.error(`${s.project}: vitest wrote no results (exit ${r.status})`);
    crashed = true;
    continue;
  }
  const j = JSON.parse(readFileSync(out, 'utf8'));
  totals.passed += j.numPassedTests;
  totals.failed += j.numFailedTests;
  totals.skipped += j.numPendingTests + j.numTodoTests;
  if (r.status !== 0 && j.numFailedTests === 0) {
    console.error(`${s.project}: vitest exited ${r.status} with no failed test (a suite failed to load?)`);
    crashed = true;
  }
}
infra.stop();
const failed = totals.failed + (crashed ? 1 : 0);
console.log(`tests: ${totals.passed} passed, ${failed} failed, ${totals.skipped} skipped`);
process.exit(failed > 0 || totals.passed === 0 ? 1 : 0);
