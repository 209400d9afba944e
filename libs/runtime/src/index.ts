export { baseEnvProperties, parseConfig } from './config.ts';
export { createLogger, REDACT_PATHS } from './logger.ts';
export { connectRedis } from './redis.ts';
export { createHttp, statusFor, withTimeout } from './http.ts';
export type { ReadinessCheck } from './http.ts';
export { runMain } from './main.ts';
export type { Running } from './main.ts';
