export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** First wait before a half-open probe (ms); doubles after each failed probe up to `maxCooldownMs`. */
  cooldownMs: number;
  maxCooldownMs: number;
  /** A probe that reports nothing for this long no longer blocks the next one (ms). */
  probeTimeoutMs?: number;
  now?: () => number;
}

/** What a request may do: go ahead, go ahead as the one half-open probe, or fail fast. */
export type Admission = 'pass' | 'probe' | 'reject';

/**
 * A circuit breaker for one MCP server identity. Closed: everything passes; `failureThreshold`
 * consecutive failures open it. Open: requests fail fast (the dead server costs a call nothing)
 * until the cooldown has passed; then it is half-open and exactly one request goes through as a
 * probe. A probe that succeeds closes it; one that fails opens it again with twice the cooldown
 * (backoff up to `maxCooldownMs`).
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  private cooldown: number;
  private probeStartedAt: number | undefined;
  /** Called on every state change. */
  onTransition: ((from: BreakerState, to: BreakerState) => void) | undefined;

  constructor(private readonly opts: BreakerOptions) {
    this.cooldown = opts.cooldownMs;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Consecutive failures so far (reset by a success). */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Milliseconds until an open circuit lets a probe through (0 when it would now). */
  get retryInMs(): number {
    return this.current === 'open' ? Math.max(0, this.openedAt + this.cooldown - this.now()) : 0;
  }

  private to(next: BreakerState): void {
    if (next === this.current) return;
    const from = this.current;
    this.current = next;
    this.onTransition?.(from, next);
  }

  admit(): Admission {
    if (this.current === 'closed') return 'pass';
    const now = this.now();
    if (this.current === 'open') {
      if (now < this.openedAt + this.cooldown) return 'reject';
      this.to('half-open');
    }
    if (this.probeStartedAt !== undefined && now - this.probeStartedAt < (this.opts.probeTimeoutMs ?? 30_000)) return 'reject';
    this.probeStartedAt = now;
    return 'probe';
  }

  /** The server answered (a JSON-RPC error counts: the server is alive). */
  success(): void {
    this.failures = 0;
    this.probeStartedAt = undefined;
    this.cooldown = this.opts.cooldownMs;
    this.to('closed');
  }

  /** The server failed (unreachable, transport broke, timed out, malformed answer, credentials refused). */
  failure(): void {
    this.probeStartedAt = undefined;
    if (this.current === 'half-open') {
      this.cooldown = Math.min(this.cooldown * 2, this.opts.maxCooldownMs);
      this.openedAt = this.now();
      this.to('open');
      return;
    }
    this.failures++;
    if (this.current === 'closed' && this.failures >= this.opts.failureThreshold) {
      this.cooldown = this.opts.cooldownMs;
      this.openedAt = this.now();
      this.to('open');
    }
  }

  /** The request ended saying nothing about the server (cancelled by us): a probe slot is freed. */
  neutral(): void {
    this.probeStartedAt = undefined;
  }
}
