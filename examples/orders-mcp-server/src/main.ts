import { loadConfig } from './config.ts';
import { startOrdersServer } from './server.ts';
import type { OrdersServerHandle } from './server.ts';

let server: OrdersServerHandle;
try {
  const config = loadConfig();
  server = await startOrdersServer({
    host: config.HOST,
    port: config.PORT,
    latencyMs: config.LATENCY_MS,
    dbPath: config.ORDERS_DB_PATH,
  });
} catch (err) {
  console.error(`orders-mcp-server: failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
console.log(`orders-mcp-server listening on ${server.url}`);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) return;
  stopping = true;
  server.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(`orders-mcp-server: error while closing on ${signal}`, err);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
