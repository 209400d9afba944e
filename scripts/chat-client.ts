// The interactive client of the text test channel: reads lines, posts each to
// `POST /v1/agents/:id/chat` and prints the agent's reply and every tool call it made (server, name,
// arguments, result, latency), like a phone call's transcript. ORCHESTRATOR_URL (default
// http://127.0.0.1:8081) and SWITCHBOARD_API_KEY say where and as whom.
import { createInterface } from 'node:readline/promises';
import { randomBytes } from 'node:crypto';
import type { ChatReply } from '@switchboard/contracts';

const [agentId, sessionArg] = process.argv.slice(2);
if (!agentId || agentId.startsWith('-')) {
  console.error('usage: npm run chat -- <agentId> [sessionId]   (ORCHESTRATOR_URL, SWITCHBOARD_API_KEY from the environment)');
  process.exit(2);
}
const base = (process.env.ORCHESTRATOR_URL ?? 'http://127.0.0.1:8081').replace(/\/$/, '');
const apiKey = process.env.SWITCHBOARD_API_KEY;
if (!apiKey) {
  console.error('chat: set SWITCHBOARD_API_KEY to an API key of the agent\'s account (npm start prints one)');
  process.exit(2);
}
let sessionId = sessionArg ?? `cli_${randomBytes(6).toString('hex')}`;
const tty = process.stdout.isTTY;
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);

async function send(text: string): Promise<ChatReply | undefined> {
  let res: Response;
  try {
    res = await fetch(`${base}/v1/agents/${encodeURIComponent(agentId!)}/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': apiKey! },
      body: JSON.stringify({ sessionId, text }),
      signal: AbortSignal.timeout(120_000),
    });
  } catch (err) {
    console.error(`chat: ${base} unreachable (${(err as Error).message}); is the orchestrator running (npm start)?`);
    return undefined;
  }
  const body = (await res.json().catch(() => ({}))) as ChatReply & { code?: string; message?: string };
  if (!res.ok) {
    console.error(`chat: ${res.status} ${body.code ?? ''} ${body.message ?? ''}`.trim());
    return undefined;
  }
  return body;
}

function show(r: ChatReply): void {
  if (r.greeting) console.log(`agent> ${r.greeting}`);
  for (const t of r.toolCalls) {
    console.log(dim(`  tool  ${t.server}.${t.name}(${JSON.stringify(t.arguments)}) -> ${t.isError ? 'ERROR ' : ''}${t.result.slice(0, 300)}  [${t.latencyMs} ms]`));
  }
  if (r.reply) console.log(`agent> ${r.reply}`);
  if (r.ended) console.log(dim('  (the agent ended the conversation; a new session starts with your next line)'));
}

console.log(dim(`chat with agent ${agentId} at ${base}, session ${sessionId}; /new starts a new session, Ctrl-D quits`));
const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
rl.setPrompt('you> ');
rl.prompt();
for await (const line of rl) {
  const text = line.trim();
  if (text === '/new') {
    sessionId = `cli_${randomBytes(6).toString('hex')}`;
    console.log(dim(`new session ${sessionId}`));
  } else if (text) {
    const r = await send(text);
    if (r) {
      show(r);
      if (r.ended) sessionId = `cli_${randomBytes(6).toString('hex')}`;
    }
  }
  rl.prompt();
}
