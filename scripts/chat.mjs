#!/usr/bin/env node
// `npm run chat -- <agentId> [sessionId]`: the interactive text test channel of an agent (POST
// /v1/agents/:id/chat on the orchestrator). Runs scripts/chat-client.ts through tsx.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/chat-client.ts', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));
