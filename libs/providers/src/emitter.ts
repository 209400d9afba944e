import { EventEmitter } from 'node:events';
import type { ProviderEvents } from './types.ts';

type AnyListener = (...args: unknown[]) => void;

/**
 * The typed event surface of provider sessions, backed by Node's EventEmitter. One difference: an
 * `error` with no listener is dropped instead of thrown, because an unobserved provider failure must
 * not crash a process that carries live calls (the `closed` event that follows still says it ended).
 */
export class ProviderEmitter<Events extends Record<string, unknown[]>> implements ProviderEvents<Events> {
  readonly #ee = new EventEmitter();

  on<E extends keyof Events & string>(event: E, listener: (...args: Events[E]) => void): this {
    this.#ee.on(event, listener as AnyListener);
    return this;
  }

  once<E extends keyof Events & string>(event: E, listener: (...args: Events[E]) => void): this {
    this.#ee.once(event, listener as AnyListener);
    return this;
  }

  off<E extends keyof Events & string>(event: E, listener: (...args: Events[E]) => void): this {
    this.#ee.off(event, listener as AnyListener);
    return this;
  }

  protected emit<E extends keyof Events & string>(event: E, ...args: Events[E]): void {
    if (event === 'error' && this.#ee.listenerCount('error') === 0) return;
    this.#ee.emit(event, ...args);
  }
}
