import { hostname } from 'node:os';
import { Bus } from '@switchboard/bus';
import { loadAgents } from '@switchboard/agents';
import { connectRedis, createLogger, runMain } from '@switchboard/runtime';
import { initTelemetry } from '@switchboard/telemetry';
import { buildApp } from './app.ts';
import { loadConfig } from './config.ts';
import { loadVad } from './adapters/silero-vad.ts';

const SERVICE = 'agent-orchestrator';
let log: ReturnType<typeof createLogger> | undefined;

runMain(SERVICE, async () => {
  const config = loadConfig();
  const instanceId = config.INSTANCE_ID ?? `${SERVICE}-${hostname()}-${process.pid}`;
  const telemetry = initTelemetry(SERVICE, { endpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT, instanceId });
  log = createLogger(SERVICE, config.LOG_LEVEL, instanceId);
  const fileAgents = await loadAgents(config.AGENTS_DIR);
  const { factory: vad, reason } = await loadVad(config.VAD, config.VAD_THRESHOLD);
  if (reason) log.warn({ vad: vad.kind }, `VAD: energy (Silero could not load: ${reason})`);
  else log.info({ vad: vad.kind }, `VAD: ${vad.kind === 'silero' ? 'Silero v5 (onnxruntime-node, CPU)' : 'energy (VAD=energy)'}`);
  const bus = await Bus.connect({ url: config.NATS_URL, name: instanceId, log });
  const redis = await connectRedis(config.REDIS_URL, { name: instanceId });
  const orch = await buildApp({ config, bus, redis, fileAgents, vad, log, instanceId });
  const address = await orch.app.listen({ port: config.PORT, host: config.HOST });
  log.info({ address, agents: fileAgents.map((a) => a.id) }, `${SERVICE} listening on ${address}`);
  return {
    stop: async () => {
      orch.app.markDraining();
      await orch.drain(config.DRAIN_TIMEOUT_MS);
      await orch.app.close();
      await bus.drain(2000);
      redis.disconnect();
      await telemetry.shutdown();
    },
  };
}, () => log);
