import { metrics, trace, type Meter, type ObservableResult } from '@opentelemetry/api';

const METER = 'switchboard-mcp-broker';

/**
 * The broker's spans and metrics, made through the OpenTelemetry API: without a registered SDK they
 * cost next to nothing, and an exporter configured by the telemetry library picks them up as they are.
 *
 * Spans: `mcp tools/list` (one per server discovery: connect + list) and `mcp tools/call` (one per
 * invocation), with `mcp.server`, `mcp.tool`, `mcp.transport`, `switchboard.call_id`.
 *
 * Metrics (names are the contract with dashboards; attributes in brackets):
 * - `mcp.broker.discovery.duration` histogram, ms [server, outcome]: connect + tools/list of one server.
 * - `mcp.broker.list_tools.duration` histogram, ms [outcome]: one list-tools request, request to reply.
 * - `mcp.broker.tool_call.duration` histogram, ms [server, tool, outcome]: one call-tool request.
 * - `mcp.broker.errors` counter [server, tool, code]: failed discoveries and calls.
 * - `mcp.broker.timeouts` counter [server, tool]: tool calls that hit their timeout.
 * - `mcp.broker.cache.hits` / `mcp.broker.cache.misses` counters [layer: memory|redis]: tool-list cache at call start.
 * - `mcp.broker.retries` counter [server, tool, reason]: automatic re-sends (undelivered, or a safe tool after a transport failure).
 * - `mcp.broker.cancellations` counter [server, tool, reason].
 * - `mcp.broker.collisions` counter [server, with]: tools refused for a name collision.
 * - `mcp.broker.tools.rejected` counter [server]: listed tools left out (invalid schema, no name, duplicate).
 * - `mcp.broker.breaker.transitions` counter [server, to]: circuit-breaker state changes.
 * - `mcp.broker.breaker.state` gauge [server]: 0 closed, 1 half-open, 2 open.
 * - `mcp.broker.selection.tokens_saved` histogram, tokens: estimated tool-definition tokens a selection left out.
 */
export const tracer = trace.getTracer('switchboard-mcp-broker');

function create(meter: Meter) {
  return {
    discoveryDuration: meter.createHistogram('mcp.broker.discovery.duration', { unit: 'ms', description: 'connect + tools/list of one server' }),
    listToolsDuration: meter.createHistogram('mcp.broker.list_tools.duration', { unit: 'ms', description: 'one list-tools request, request to reply' }),
    callDuration: meter.createHistogram('mcp.broker.tool_call.duration', { unit: 'ms', description: 'one call-tool request, request to result' }),
    errors: meter.createCounter('mcp.broker.errors', { description: 'failed discoveries and tool calls' }),
    timeouts: meter.createCounter('mcp.broker.timeouts', { description: 'tool calls that hit their timeout' }),
    cacheHits: meter.createCounter('mcp.broker.cache.hits', { description: 'tool lists served from the cache at call start' }),
    cacheMisses: meter.createCounter('mcp.broker.cache.misses', { description: 'tool lists not in the cache at call start' }),
    retries: meter.createCounter('mcp.broker.retries', { description: 'automatic re-sends of a tool call' }),
    cancellations: meter.createCounter('mcp.broker.cancellations', { description: 'tool calls cancelled (call ended, barge-in)' }),
    collisions: meter.createCounter('mcp.broker.collisions', { description: 'tools refused for a name collision' }),
    rejectedTools: meter.createCounter('mcp.broker.tools.rejected', { description: 'listed tools left out (invalid schema, no name, duplicate)' }),
    breakerTransitions: meter.createCounter('mcp.broker.breaker.transitions', { description: 'circuit-breaker state changes' }),
    tokensSaved: meter.createHistogram('mcp.broker.selection.tokens_saved', { unit: '{token}', description: 'estimated tool-definition tokens a selection left out' }),
  };
}

/**
 * The instruments, from whichever meter provider is registered when {@link bindTelemetry} runs (the
 * metrics API has no proxy provider: a meter taken before the SDK starts stays a no-op).
 */
export const instruments = create(metrics.getMeter(METER));

const STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;
type BreakerStates = () => Iterable<[server: string, state: keyof typeof STATE_VALUE]>;
const breakerSources = new Set<BreakerStates>();
const gauged = new WeakSet<Meter>();

/** Re-creates the instruments on the global meter provider as it is now; the app calls it at build time, after telemetry started. */
export function bindTelemetry(): void {
  const meter = metrics.getMeter(METER);
  Object.assign(instruments, create(meter));
  if (gauged.has(meter)) return;
  gauged.add(meter);
  meter.createObservableGauge('mcp.broker.breaker.state', { description: '0 closed, 1 half-open, 2 open' }).addCallback((r: ObservableResult) => {
    for (const states of breakerSources) for (const [server, state] of states()) r.observe(STATE_VALUE[state], { server });
  });
}

/** Adds a source of breaker states to the `mcp.broker.breaker.state` gauge; returns its removal. */
export function observeBreakers(states: BreakerStates): () => void {
  breakerSources.add(states);
  return () => breakerSources.delete(states);
}
