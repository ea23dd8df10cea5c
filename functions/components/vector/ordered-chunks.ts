/**
 * Hands chunks produced out of order (several readers) to one consumer in index order, with at most
 * `window` chunks produced ahead of the consumer: memory holds `window` chunks whatever the total. The
 * first failure, from either side, ends every wait with that error.
 */
export class OrderedChunks<T> {
  private readonly ready = new Map<number, T>();
  private next = 0;
  private waiters: (() => void)[] = [];
  private failure?: { error: unknown };

  constructor(private readonly window: number) {}

  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private check(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Waits until chunk `index` may be produced (it is within the window). */
  async reserve(index: number): Promise<void> {
    for (;;) {
      this.check();
      if (index < this.next + this.window) return;
      await this.changed();
    }
  }

  put(index: number, chunk: T): void {
    this.check();
    this.ready.set(index, chunk);
    this.notify();
  }

  /** The next chunk in order, once it is there. */
  async take(): Promise<T> {
    for (;;) {
      this.check();
      if (this.ready.has(this.next)) {
        const chunk = this.ready.get(this.next)!;
        this.ready.delete(this.next);
        this.next += 1;
        this.notify();
        return chunk;
      }
      await this.changed();
    }
  }

  /** Ends every wait, now and later, with `error` (the first failure wins). */
  fail(error: unknown): void {
    this.failure ??= { error };
    this.ready.clear();
    this.notify();
  }
}
