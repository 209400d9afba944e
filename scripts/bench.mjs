#!/usr/bin/env node
// `npm run bench`: set-up, then every bench/*.bench.ts in turn; each merges its figures into
// bench/results/latest.json, and the combined table is printed at the end.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, build, ensureDeps, ensureInfra } from './lib/setup.mjs';

ensureDeps();
build();
const infra = await ensureInfra();
console.log(`bench: infrastructure: ${infra.how}`);
const only = process.argv.slice(2);
const files = readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.bench.ts') && (!only.length || only.some((o) => f.includes(o)))).sort();
let failed = 0;
for (const f of files) {
  console.log(`\n== bench/${f}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join('bench', f)], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NATS_URL: infra.natsUrl, REDIS_URL: infra.redisUrl } });
  if (r.status !== 0) failed++;
}
infra.stop();
const latest = join(ROOT, 'bench/results/latest.json');
if (existsSync(latest)) {
  const all = JSON.parse(readFileSync(latest, 'utf8'));
  console.log('\n== all results (bench/results/latest.json)');
  const rows = [];
  for (const [name, r] of Object.entries(all.results ?? all)) {
    if (!r || typeof r !== 'object' || !r.metrics) continue;
    for (const [metric, value] of Object.entries(r.metrics)) rows.push([name, metric, typeof value === 'number' ? value.toFixed(3) : String(value), r.target?.[metric] ?? '']);
  }
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i].length), 6));
  for (const row of rows) console.log(row.map((c, i) => c.padEnd(w[i])).join('  '));
}
process.exit(failed ? 1 : 0);
