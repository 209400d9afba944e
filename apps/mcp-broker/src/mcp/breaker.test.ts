import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from './breaker.ts';

function breaker() {
  let now = 1_000;
  const transitions: Array<[BreakerState, BreakerState]> = [];
  const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 100, maxCooldownMs: 350, now: () => now });
  b.onTransition = (from, to) => transitions.push([from, to]);
  return { b, transitions, advance: (ms: number) => (now += ms) };
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold, and a success resets the count', () => {
    const { b } = breaker();
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.state).toBe('closed');
    expect(b.admit()).toBe('pass');
  });

  it('opens after the threshold, rejects during the cooldown, then lets exactly one probe through', () => {
    const { b, transitions, advance } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    expect(b.state).toBe('open');
    expect(b.admit()).toBe('reject');
    expect(b.retryInMs).toBe(100);
    advance(99);
    expect(b.admit()).toBe('reject');
    advance(1);
    expect(b.admit()).toBe('probe');
    expect(b.state).toBe('half-open');
    expect(b.admit()).toBe('reject');
    b.success();
    expect(b.state).toBe('closed');
    expect(b.admit()).toBe('pass');
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });

  it('doubles the cooldown after each failed probe, up to the maximum', () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      waits.push(b.retryInMs);
      advance(b.retryInMs);
      expect(b.admit()).toBe('probe');
      b.failure();
      expect(b.state).toBe('open');
    }
    expect(waits).toEqual([100, 200, 350, 350]);
    // A success resets the backoff.
    advance(b.retryInMs);
    expect(b.admit()).toBe('probe');
    b.success();
    for (let i = 0; i < 3; i++) b.failure();
    expect(b.retryInMs).toBe(100);
  });

  it('frees the probe slot when the probe ends neutrally (cancelled)', () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    advance(100);
    expect(b.admit()).toBe('probe');
    expect(b.admit()).toBe('reject');
    b.neutral();
    expect(b.admit()).toBe('probe');
  });

  it('lets another probe through when one never reports back', () => {
    const { b, advance } = breaker();
    for (let i = 0; i < 3; i++) b.failure();
    advance(100);
    expect(b.admit()).toBe('probe');
    advance(29_999);
    expect(b.admit()).toBe('reject');
    advance(1);
    expect(b.admit()).toBe('probe');
  });
});
