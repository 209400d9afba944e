export { initTelemetry } from './sdk.ts';
export type { Telemetry, TelemetryOptions } from './sdk.ts';
