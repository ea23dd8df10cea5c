/**
 * The restore's writes in flight: at most `limit` at once and, beyond the first, at most `budget` raw
 * bytes between them, so that parallel insert batches bound the worker's memory as one batch did. The
 * archive is read in one stream: `start` waits for room, which pauses that stream (its backpressure).
 */
export class InsertPool {
  private running = 0;
  private bytes = 0;
  private waiters: (() => void)[] = [];
  private readonly tasks = new Set<Promise<void>>();
  private failure?: { readonly error: unknown };

  constructor(
    private readonly limit: number,
    private readonly budget: number,
  ) {}

  /**
   * Starts `work` (of `bytes` raw bytes) once there is room; resolves when it has started, with `ended`, a
   * promise of its end that never rejects (wrapped: a promise resolved with a promise would wait for it).
   * Throws the pool's first failure instead of starting anything after it.
   */
  async start(bytes: number, work: () => Promise<void>): Promise<{ readonly ended: Promise<void> }> {
    while (!this.failure && this.running > 0 && (this.running >= this.limit || this.bytes + bytes > this.budget)) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.failure) throw this.failure.error;
    this.running++;
    this.bytes += bytes;
    const task: Promise<void> = Promise.resolve()
      .then(work)
      .catch((error: unknown) => void (this.failure ??= { error }))
      .finally(() => {
        this.running--;
        this.bytes -= bytes;
        this.tasks.delete(task);
        this.wake();
      });
    this.tasks.add(task);
    return { ended: task };
  }

  /** Refuses every later start with `error` (a failure outside the pool); running work goes on. */
  close(error: unknown): void {
    this.failure ??= { error };
    this.wake();
  }

  /** Waits until nothing runs, failures or not (what it wrote can then be dropped safely). */
  async settle(): Promise<void> {
    while (this.tasks.size) await Promise.all([...this.tasks]);
  }

  /** Waits until nothing runs; throws the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.failure) throw this.failure.error;
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    waiting.forEach((resolve) => resolve());
  }
}
