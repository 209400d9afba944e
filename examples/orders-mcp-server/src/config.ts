import { z } from 'zod';

/** An empty variable (`PORT=`) means unset, not zero. */
const unsetIfEmpty = (v: unknown): unknown => (v === '' ? undefined : v);

const envSchema = z.object({
  /** Port to listen on; 0 picks a free one. */
  PORT: z.preprocess(unsetIfEmpty, z.coerce.number().int().min(0).max(65535).default(3901)),
  /** Interface to bind. Loopback by default; use 0.0.0.0 inside a container. */
  HOST: z.preprocess(unsetIfEmpty, z.string().default('127.0.0.1')),
  /** Delay in milliseconds added to every tool call, to simulate a slow backend. */
  LATENCY_MS: z.preprocess(unsetIfEmpty, z.coerce.number().int().min(0).default(0)),
  /** SQLite file to load and persist to; unset means a fresh in-memory database. */
  ORDERS_DB_PATH: z.preprocess(unsetIfEmpty, z.string().optional()),
});

export type OrdersServerConfig = Readonly<z.infer<typeof envSchema>>;

/** Parses the environment once at boot; throws naming every invalid variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): OrdersServerConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid environment: ${problems}`);
  }
  return Object.freeze(parsed.data);
}
