import { metrics, trace, type Attributes, type Counter, type Histogram } from '@opentelemetry/api';
import type { TurnMetrics } from '@switchboard/contracts';

/** The per-turn latency fields, in the order they happen. */
export const TURN_FIELDS = ['endpoint_ms', 'stt_ms', 'llm_ttft_ms', 'tts_ttfb_ms', 'tool_ms', 'agent_response_ms'] as const;
export type TurnField = (typeof TURN_FIELDS)[number];

const tracer = trace.getTracer('switchboard-agent-orchestrator');
/** The metrics API has no proxy provider: instruments are made on first use, after the SDK started (a meter taken at import would stay a no-op). */
const meter = () => metrics.getMeter('switchboard-agent-orchestrator');
let made: { histograms: Record<TurnField, Histogram>; turns: Counter } | undefined;
function instruments() {
  made ??= {
    // `agent_response_ms` keeps its own name (the figure the README quotes); the others are `switchboard_turn_<field>`.
    histograms: Object.fromEntries(
      TURN_FIELDS.map((f) => [f, meter().createHistogram(f === 'agent_response_ms' ? f : `switchboard_turn_${f}`, { unit: 'ms', description: `Per caller turn: ${f.replace(/_ms$/, '').replace(/_/g, ' ')}` })]),
    ) as Record<TurnField, Histogram>,
    turns: meter().createCounter('switchboard_turns_total', { description: 'Caller turns answered, by whether the caller barged in' }),
  };
  return made;
}
/** `switchboard_calls_active`: calls this orchestrator runs an agent session for, read from the session map at collection. */
export function observeCallsActive(count: () => number): void {
  meter().createObservableUpDownCounter('switchboard_calls_active', { description: 'Calls with a live agent session in this process' }).addCallback((r) => r.observe(count()));
}

/**
 * Percentile with linear interpolation between closest ranks (type 7, numpy's and Patter's default).
 * NaN for an empty sample.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const h = (sorted.length - 1) * (p / 100);
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

export interface FieldSummary {
  n: number;
  p50: number;
  p95: number;
}

/** p50/p95 per field over turns the caller did not interrupt (Patter's rule: an interrupted turn's latency is not the agent's). */
export function summarizeTurns(turns: readonly TurnMetrics[]): Partial<Record<TurnField, FieldSummary>> {
  const kept = turns.filter((t) => !t.interrupted);
  const out: Partial<Record<TurnField, FieldSummary>> = {};
  for (const f of TURN_FIELDS) {
    const values = kept.map((t) => t[f]).filter((v): v is number => typeof v === 'number');
    if (values.length) out[f] = { n: values.length, p50: round1(percentile(values, 50)), p95: round1(percentile(values, 95)) };
  }
  return out;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

/**
 * Collects one caller turn's timings on the performance clock and, once complete, records them as an
 * OpenTelemetry span (`agent.turn`, one attribute per figure) and histograms keyed by agent.
 */
export class TurnTimer {
  /** Performance-clock time the caller's speech ended (as the VAD judged it). */
  speechEndAt: number;
  endpointAt: number;
  sttStartAt: number | undefined;
  sttEndAt: number | undefined;
  llmStartAt: number | undefined;
  firstTokenAt: number | undefined;
  ttsTtfbMs: number | undefined;
  toolMs = 0;
  firstFrameAt: number | undefined;
  /** Gateway-reported playout start (epoch ms), when the gateway sends `playout-started`. */
  gatewayPlayoutAt: number | undefined;
  interrupted = false;
  modelRounds = 0;
  private finished = false;

  constructor(
    readonly turn: number,
    speechEndAt: number,
    endpointAt: number,
  ) {
    this.speechEndAt = speechEndAt;
    this.endpointAt = endpointAt;
  }

  /** The figures so far. */
  snapshot(): TurnMetrics {
    const ms = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? round1(Math.max(0, b - a)) : undefined);
    const epochSpeechEnd = performance.timeOrigin + this.speechEndAt;
    const viaGateway = this.gatewayPlayoutAt !== undefined ? round1(Math.max(0, this.gatewayPlayoutAt - epochSpeechEnd)) : undefined;
    const out: TurnMetrics = { turn: this.turn, at: new Date(epochSpeechEnd).toISOString(), interrupted: this.interrupted, modelRounds: this.modelRounds };
    const set = (k: TurnField, v: number | undefined) => {
      if (v !== undefined) out[k] = v;
    };
    set('endpoint_ms', ms(this.speechEndAt, this.endpointAt));
    set('stt_ms', ms(this.sttStartAt, this.sttEndAt));
    set('llm_ttft_ms', ms(this.llmStartAt, this.firstTokenAt));
    set('tts_ttfb_ms', this.ttsTtfbMs !== undefined ? round1(this.ttsTtfbMs) : undefined);
    if (this.toolMs > 0) set('tool_ms', round1(this.toolMs));
    const own = ms(this.speechEndAt, this.firstFrameAt);
    set('agent_response_ms', viaGateway ?? own);
    if (viaGateway !== undefined || own !== undefined) out.responseSource = viaGateway !== undefined ? 'gateway' : 'orchestrator';
    return out;
  }

  /** Records the span and histograms once; returns the figures. */
  finish(attrs: Attributes): TurnMetrics {
    const m = this.snapshot();
    if (this.finished) return m;
    this.finished = true;
    const span = tracer.startSpan('agent.turn', { startTime: performance.timeOrigin + this.speechEndAt, attributes: { ...attrs, 'switchboard.turn': m.turn, 'switchboard.turn.interrupted': m.interrupted } });
    for (const f of TURN_FIELDS) {
      const v = m[f];
      if (v === undefined) continue;
      span.setAttribute(f, v);
      instruments().histograms[f].record(v, { ...attrs, interrupted: m.interrupted });
    }
    instruments().turns.add(1, { ...attrs, interrupted: m.interrupted });
    span.end();
    return m;
  }
}
