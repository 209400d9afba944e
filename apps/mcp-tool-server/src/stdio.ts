/**
 * Switchboard's MCP server over stdio, for desktop clients (seed 002): Claude Desktop runs this
 * command and talks MCP on its stdin/stdout. It serves the same tools as `POST /mcp`, on the same
 * NATS and Redis, for the key, account and persona given in the environment:
 *
 *   SWITCHBOARD_API_KEY=sk_… ACCOUNT_ID=default PERSONA_ID=demo AGENTS_DIR=/abs/config/agents \
 *     node dist/apps/mcp-tool-server-stdio/main.js
 *
 * stdout carries only MCP messages; logs go to stderr.
 */
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { Bus } from '@switchboard/bus';
import { ErrorCodes, SwitchboardError } from '@switchboard/contracts';
import { connectRedis, REDACT_PATHS, runMain } from '@switchboard/runtime';
import { buildServices } from './app.ts';
import { loadStdioConfig } from './config.ts';
import { createToolServer } from './tools/registry.ts';

const SERVICE = 'mcp-tool-server-stdio';
let log: Logger | undefined;

runMain(
  SERVICE,
  async () => {
    const config = loadStdioConfig();
    const instanceId = config.INSTANCE_ID ?? `${SERVICE}-${hostname()}-${process.pid}`;
    log = pino({ level: config.LOG_LEVEL, base: { service: SERVICE, instance: instanceId }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2));
    const bus = await Bus.connect({ url: config.NATS_URL, name: instanceId, log });
    const redis = await connectRedis(config.REDIS_URL, { name: instanceId });
    const services = await buildServices({ config, bus, redis, log });
    const key = await services.keys.verify(config.SWITCHBOARD_API_KEY);
    if (!key) throw new SwitchboardError(ErrorCodes.AUTH_INVALID_KEY, 'SWITCHBOARD_API_KEY is not a valid key');
    if (key.accountId !== config.ACCOUNT_ID) throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, `SWITCHBOARD_API_KEY does not belong to account ${config.ACCOUNT_ID}`);
    const persona = services.agents.get(config.PERSONA_ID);
    if (!persona || (persona.accountId ?? 'default') !== config.ACCOUNT_ID) throw new SwitchboardError(ErrorCodes.AUTH_FORBIDDEN, `PERSONA_ID ${config.PERSONA_ID} is not an agent of account ${config.ACCOUNT_ID}`);

    const server = createToolServer(
      { key, accountId: config.ACCOUNT_ID, personaId: config.PERSONA_ID, persona, callId: config.CALL_ID, callerIdNumber: config.CALLER_ID_NUMBER },
      services,
    );
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await server.close().catch(() => undefined);
      await bus.drain(config.DRAIN_TIMEOUT_MS);
      redis.disconnect();
    };
    // The client closing our stdin ends the session.
    process.stdin.once('end', () => void stop().then(() => process.exit(0)));
    await server.connect(new StdioServerTransport());
    log.info({ account: config.ACCOUNT_ID, persona: config.PERSONA_ID }, `${SERVICE} serving MCP on stdio`);
    return { stop };
  },
  () => log,
);
