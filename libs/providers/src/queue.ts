/**
 * An unbounded single-consumer async queue: the producer pushes, ends or fails it; the consumer
 * iterates. Used to turn socket callbacks into the `AsyncIterable` the speech interfaces return.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiter: (() => void) | undefined;
  #ended = false;
  #error: unknown;
  #failed = false;

  push(item: T): void {
    if (this.#ended || this.#failed) return;
    this.#items.push(item);
    this.#wake();
  }

  /** No more items: the iterator finishes after the queued ones. */
  end(): void {
    this.#ended = true;
    this.#wake();
  }

  /** The iterator throws `err` after the queued items. Ignored once ended or failed. */
  fail(err: unknown): void {
    if (this.#ended || this.#failed) return;
    this.#failed = true;
    this.#error = err;
    this.#wake();
  }

  get done(): boolean {
    return this.#ended || this.#failed;
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.#items.length > 0) {
        yield this.#items.shift() as T;
        continue;
      }
      if (this.#failed) throw this.#error;
      if (this.#ended) return;
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
    }
  }
}
