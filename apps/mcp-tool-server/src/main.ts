import { hostname } from 'node:os';
import { Bus } from '@switchboard/bus';
import { connectRedis, createLogger, runMain } from '@switchboard/runtime';
import { initTelemetry } from '@switchboard/telemetry';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const SERVICE = 'mcp-tool-server';
let log: ReturnType<typeof createLogger> | undefined;

runMain(SERVICE, async () => {
  const config = loadConfig();
  const instanceId = config.INSTANCE_ID ?? `${SERVICE}-${hostname()}-${process.pid}`;
  const telemetry = initTelemetry(SERVICE, { endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, instanceId });
  log = createLogger(SERVICE, config.LOG_LEVEL, instanceId);
  const bus = await Bus.connect({ url: config.NATS_URL, name: instanceId, log });
  const redis = await connectRedis(config.REDIS_URL, { name: instanceId });
  const { app } = await buildApp({ config, bus, redis, log, instanceId });
  const address = await app.listen({ port: config.MCP_PORT, host: config.HOST });
  log.info({ address }, `${SERVICE} listening on ${address}/mcp`);
  return {
    stop: async () => {
      app.markDraining();
      await app.close();
      await bus.drain(config.DRAIN_TIMEOUT_MS);
      redis.disconnect();
      await telemetry.shutdown();
    },
  };
}, () => log);
