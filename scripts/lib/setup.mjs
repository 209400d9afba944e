// Set-up shared by `npm test`, `npm run demo`, `npm start` and `npm run bench`. Plain Node with no
// dependencies, because it runs before dependencies are installed.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

const say = (msg) => process.stderr.write(`setup: ${msg}\n`);

/** Runs a command in the repo root, inheriting output; throws on failure. */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: ROOT, stdio: opts.quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', env: { ...process.env, ...(opts.env ?? {}) } });
  if (r.status !== 0) {
    if (opts.quiet) process.stderr.write(`${r.stdout ?? ''}${r.stderr ?? ''}`);
    throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${r.status}`);
  }
  return r;
}

/** Installs npm dependencies when node_modules is missing or older than the lockfile. */
export function ensureDeps() {
  const marker = join(ROOT, 'node_modules/.package-lock.json');
  const lock = join(ROOT, 'package-lock.json');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs + 1000);
  if (!stale) return;
  if (existsSync(lock)) {
    say('installing npm dependencies (npm ci)');
    const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
    if (ci.status === 0) return;
    // Some registries omit other platforms' optional packages, and npm ci then calls the lock out
    // of sync; npm install honours the same lock without that check.
    const reason = (ci.stderr ?? '').split('\n').find((l) => l.startsWith('npm error') && l.length > 12) ?? `exit ${ci.status}`;
    say(`npm ci refused (${reason.replace(/^npm error\s*/, '')}); installing with npm install instead`);
  } else say('installing npm dependencies (npm install)');
  run('npm', ['install', '--no-audit', '--no-fund']);
}

/** Bundles every service into dist/. */
export function build() {
  run(process.execPath, ['scripts/build.mjs'], { quiet: true });
}

export function reachable(url, timeoutMs = 800) {
  const u = new URL(url);
  const port = Number(u.port || (u.protocol === 'redis:' ? 6379 : 4222));
  return new Promise((resolve) => {
    const s = new Socket();
    const done = (ok) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('error', () => done(false));
    s.connect(port, u.hostname, () => done(true));
  });
}

const onPath = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;

async function waitReachable(url, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await reachable(url)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

async function freePort() {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Finds NATS and Redis: NATS_URL/REDIS_URL (or the default ports) when reachable; else starts
 * nats-server / redis-server if installed; else `docker compose up -d nats redis` if a Docker engine
 * answers; else stops with one line naming what to install. Returns the URLs, how they were found,
 * and a `stop()` for anything it started.
 */
export async function ensureInfra() {
  const children = [];
  const found = {};
  const natsUrl = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const docker = () => spawnSync('docker', ['info'], { stdio: 'ignore' }).status === 0;

  if (await reachable(natsUrl)) found.nats = { url: natsUrl, how: process.env.NATS_URL ? 'NATS_URL' : 'already running' };
  else if (onPath('nats-server')) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sb-nats-'));
    children.push(spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir], { stdio: 'ignore' }));
    const url = `nats://127.0.0.1:${port}`;
    if (!(await waitReachable(url, 5000))) throw new Error(`nats-server did not start on ${url}`);
    found.nats = { url, how: 'started nats-server' };
  }
  if (await reachable(redisUrl)) found.redis = { url: redisUrl, how: process.env.REDIS_URL ? 'REDIS_URL' : 'already running' };
  else if (onPath('redis-server')) {
    const port = await freePort();
    children.push(spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
    const url = `redis://127.0.0.1:${port}`;
    if (!(await waitReachable(url, 5000))) throw new Error(`redis-server did not start on ${url}`);
    found.redis = { url, how: 'started redis-server' };
  }
  if ((!found.nats || !found.redis) && docker()) {
    say('starting NATS and Redis with docker compose');
    run('docker', ['compose', 'up', '-d', 'nats', 'redis']);
    if (!found.nats && (await waitReachable('nats://127.0.0.1:4222', 20000))) found.nats = { url: 'nats://127.0.0.1:4222', how: 'docker compose' };
    if (!found.redis && (await waitReachable('redis://127.0.0.1:6379', 20000))) found.redis = { url: 'redis://127.0.0.1:6379', how: 'docker compose' };
  }
  const stop = () => {
    for (const c of children) c.kill('SIGTERM');
  };
  if (!found.nats || !found.redis) {
    stop();
    const missing = [!found.nats && 'NATS (nats-server, with JetStream)', !found.redis && 'Redis (redis-server)'].filter(Boolean).join(' and ');
    throw new Error(`cannot find ${missing}: install it (e.g. apt-get install nats-server redis-server), start Docker, or set NATS_URL/REDIS_URL`);
  }
  process.on('exit', stop);
  return { natsUrl: found.nats.url, redisUrl: found.redis.url, how: `NATS ${found.nats.url} (${found.nats.how}), Redis ${found.redis.url} (${found.redis.how})`, stop };
}

export function ensureDir(rel) {
  const p = join(ROOT, rel);
  mkdirSync(p, { recursive: true });
  return p;
}

export function readJson(rel) {
  return JSON.parse(readFileSync(join(ROOT, rel), 'utf8'));
}
