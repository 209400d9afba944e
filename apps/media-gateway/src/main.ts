import { hostname } from 'node:os';
import { Bus } from '@switchboard/bus';
import { AgentRegistry, loadAgents } from '@switchboard/agents';
import { connectRedis, createLogger, runMain } from '@switchboard/runtime';
import { initTelemetry } from '@switchboard/telemetry';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';

const SERVICE = 'media-gateway';
let log: ReturnType<typeof createLogger> | undefined;

runMain(SERVICE, async () => {
  const config = loadConfig();
  const instanceId = config.INSTANCE_ID ?? `${SERVICE}-${hostname()}-${process.pid}`;
  const telemetry = initTelemetry(SERVICE, { endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, instanceId });
  log = createLogger(SERVICE, config.LOG_LEVEL, instanceId);
  const agents = new AgentRegistry(await loadAgents(config.AGENTS_DIR));
  const bus = await Bus.connect({ url: config.NATS_URL, name: instanceId, log });
  const redis = await connectRedis(config.REDIS_URL, { name: instanceId });
  const gw = await buildApp({ config, bus, redis, agents, log, instanceId });
  const address = await gw.app.listen({ port: config.PORT, host: config.HOST });
  log.info({ address, agents: agents.list().length }, `${SERVICE} listening on ${address}`);
  if (gw.sip) {
    const sipPort = await gw.sip.listen(config.SIP_PORT, config.SIP_HOST);
    log.info({ sipPort, publicAddress: gw.sip.stack.publicAddress }, `${SERVICE} SIP on udp ${config.SIP_HOST}:${sipPort}`);
  }
  return {
    stop: async () => {
      gw.app.markDraining();
      await gw.drain(config.DRAIN_TIMEOUT_MS);
      await gw.app.close();
      await bus.drain(2000);
      redis.disconnect();
      await telemetry.shutdown();
    },
  };
}, () => log);
