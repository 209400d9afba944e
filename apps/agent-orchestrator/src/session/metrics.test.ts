import { describe, expect, it } from 'vitest';
import type { TurnMetrics } from '@switchboard/contracts';
import { TurnTimer, percentile, summarizeTurns } from './metrics.ts';

describe('percentile (type 7, linear between closest ranks)', () => {
  it.each<[number[], number, number]>([
    [[1, 2, 3, 4, 5], 50, 3],
    [[1, 2, 3, 4], 50, 2.5],
    [[10, 20], 95, 19.5],
    [[5, 1, 4, 2, 3], 0, 1],
    [[5, 1, 4, 2, 3], 100, 5],
    [Array.from({ length: 100 }, (_, i) => i + 1), 95, 95.05],
    [[42], 95, 42],
  ])('%j p%i = %d', (values, p, expected) => {
    expect(percentile(values, p)).toBeCloseTo(expected, 6);
  });

  it('is NaN for no samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });
});

describe('summarizeTurns', () => {
  const turn = (n: number, response: number, interrupted = false, extra: Partial<TurnMetrics> = {}): TurnMetrics => ({ turn: n, at: '2025-01-01T00:00:00.000Z', interrupted, agent_response_ms: response, ...extra });

  it('leaves interrupted turns out of the percentiles', () => {
    const s = summarizeTurns([turn(1, 100), turn(2, 200), turn(3, 5000, true), turn(4, 300)]);
    expect(s.agent_response_ms).toEqual({ n: 3, p50: 200, p95: 290 });
  });

  it('summarizes only the fields turns have', () => {
    const s = summarizeTurns([turn(1, 100, false, { tool_ms: 40 }), turn(2, 120)]);
    expect(Object.keys(s).sort()).toEqual(['agent_response_ms', 'tool_ms']);
    expect(s.tool_ms).toEqual({ n: 1, p50: 40, p95: 40 });
  });
});

describe('TurnTimer', () => {
  it('derives each figure from its two instants', () => {
    const t = new TurnTimer(3, 1000, 1500);
    t.sttStartAt = 1500;
    t.sttEndAt = 1560;
    t.llmStartAt = 1562;
    t.firstTokenAt = 1700;
    t.ttsTtfbMs = 80.04;
    t.toolMs = 0;
    t.firstFrameAt = 1790;
    expect(t.snapshot()).toMatchObject({ turn: 3, endpoint_ms: 500, stt_ms: 60, llm_ttft_ms: 138, tts_ttfb_ms: 80, agent_response_ms: 790, responseSource: 'orchestrator', interrupted: false });
    expect(t.snapshot().tool_ms).toBeUndefined();
  });

  it('ends agent_response_ms where the gateway reports playout started when it does', () => {
    const t = new TurnTimer(1, 1000, 1400);
    t.firstFrameAt = 1700;
    t.gatewayPlayoutAt = performance.timeOrigin + 1712;
    expect(t.snapshot()).toMatchObject({ agent_response_ms: 712, responseSource: 'gateway' });
  });

  it('leaves out what did not happen (STT failed, nothing said)', () => {
    const t = new TurnTimer(1, 1000, 1400);
    t.sttStartAt = 1400;
    const m = t.finish({ 'switchboard.agent_id': 'a' });
    expect(m).toEqual({ turn: 1, at: new Date(performance.timeOrigin + 1000).toISOString(), interrupted: false, modelRounds: 0, endpoint_ms: 400 });
  });
});
