export { initTelemetry, metricsRequestHandler } from './sdk.ts';
export type { Telemetry, TelemetryOptions } from './sdk.ts';
export { registerTelemetry } from './http.ts';
export type { HealthProbe } from './http.ts';
export { traceRedis } from './redis.ts';
