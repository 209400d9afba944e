#!/usr/bin/env node
// `npm run demo`: installs and builds when needed, finds or starts NATS and Redis, then runs the
// demo call (scripts/demo-call.ts) against the whole stack.
import { spawnSync } from 'node:child_process';
import { ROOT, build, ensureDeps, ensureInfra } from './lib/setup.mjs';

ensureDeps();
build();
const infra = await ensureInfra();
console.log(`demo: infrastructure: ${infra.how}`);
const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/demo-call.ts'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NATS_URL: infra.natsUrl, REDIS_URL: infra.redisUrl } });
infra.stop();
process.exit(r.status ?? 1);
