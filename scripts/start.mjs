#!/usr/bin/env node
// `npm start`: set-up (install, build, NATS/Redis), then the stack in the foreground.
import { spawn } from 'node:child_process';
import { ROOT, build, ensureDeps, ensureInfra } from './lib/setup.mjs';

ensureDeps();
build();
const infra = await ensureInfra();
console.log(`start: infrastructure: ${infra.how}`);
const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start-stack.ts'], { cwd: ROOT, stdio: 'inherit', env: { ...process.env, NATS_URL: infra.natsUrl, REDIS_URL: infra.redisUrl } });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => {
  infra.stop();
  process.exit(code ?? 0);
});
