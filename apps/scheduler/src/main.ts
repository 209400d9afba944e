import { hostname } from 'node:os';
import { Bus } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { connectRedis, createLogger, runMain } from '@switchboard/runtime';
import { initTelemetry } from '@switchboard/telemetry';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const SERVICE = 'scheduler';
let log: ReturnType<typeof createLogger> | undefined;

runMain(SERVICE, async () => {
  const config = loadConfig();
  const instanceId = config.INSTANCE_ID ?? `${SERVICE}-${hostname()}-${process.pid}`;
  const telemetry = initTelemetry(SERVICE, { endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, instanceId });
  log = createLogger(SERVICE, config.LOG_LEVEL, instanceId);
  const agents = new AgentRegistry(await loadAgents(config.AGENTS_DIR));
  const bus = await Bus.connect({ url: config.NATS_URL, name: instanceId, log });
  const redis = await connectRedis(config.REDIS_URL, { name: instanceId });
  const s = await buildApp({ config, bus, redis, log, instanceId, agents });
  const address = await s.app.listen({ port: config.PORT, host: config.HOST });
  log.info({ address }, `${SERVICE} listening on ${address}`);
  return {
    stop: async () => {
      s.app.markDraining();
      await s.close();
      await s.app.close();
      await bus.drain(config.DRAIN_TIMEOUT_MS);
      redis.disconnect();
      await telemetry.shutdown();
    },
  };
}, () => log);
