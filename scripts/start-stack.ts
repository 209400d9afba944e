// `npm start`: the stack alone, in the foreground, on the documented default ports. Ctrl-C drains
// every service (SIGTERM) and exits.
import { startStack } from '@switchboard/testing';

const realModel = Boolean(process.env.OPENAI_API_KEY || process.env.OPENAI_BASE_URL);
if (!realModel) console.log('start: no OPENAI_API_KEY or OPENAI_BASE_URL set: starting the bundled scripted model server on :4010');
const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => typeof e[1] === 'string'));
const stack = await startStack({
  natsUrl: process.env.NATS_URL!,
  redisUrl: process.env.REDIS_URL!,
  ...(realModel ? { openaiBaseUrl: process.env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1', ...(process.env.OPENAI_API_KEY ? { openaiApiKey: process.env.OPENAI_API_KEY } : {}) } : { fakeOpenAIScript: 'config/demo/model-script.json' }),
  ports: { gateway: 8080, orchestrator: 8081, broker: 8082, scheduler: 8083, toolServer: 4100, orders: 3901, openai: 4010 },
  env,
  echo: process.env.ECHO_LOGS === '1',
  logLevel: process.env.LOG_LEVEL ?? 'info',
});
console.log('Switchboard is running:');
console.log(`  media-gateway       ${stack.urls['media-gateway']}  (POST /twilio/voice, WS /twilio/stream)`);
console.log(`  agent-orchestrator  ${stack.urls['agent-orchestrator']}  (GET /v1/calls/:id)`);
console.log(`  mcp-broker          ${stack.urls['mcp-broker']}  (NATS cmd.mcp-broker.*)`);
console.log(`  mcp-tool-server     ${stack.urls['mcp-tool-server']}/mcp  (API key: ${process.env.SWITCHBOARD_API_KEY ? 'SWITCHBOARD_API_KEY' : stack.apiKey})`);
console.log(`  scheduler           ${stack.urls.scheduler}`);
console.log(`  orders example MCP  ${stack.urls['orders-mcp-server']}`);
console.log(`  model server        ${stack.urls.openai}`);
console.log('Each answers GET /healthz and /readyz. Ctrl-C stops everything.');
const stop = async () => {
  const codes = await stack.stop();
  console.log(`stopped: ${Object.entries(codes).map(([n, c]) => `${n}=${c}`).join(' ')}`);
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
