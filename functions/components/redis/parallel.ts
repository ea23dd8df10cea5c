/**
 * Reading a key space over several connections fed by one SCAN. Each step waits on a round trip to the
 * server, and on a busy machine every round trip also waits for the scheduler: done one after another
 * (SCAN, read, decode, SCAN, ...), the server and this process mostly idle. Here SCAN runs ahead on its
 * own connection into a bounded queue of keys, each reader connection takes the next batch as soon as
 * its previous one is answered, and batches are handed to the consumer in the order they complete
 * (record order does not matter: the fingerprint is a sum, and a restore writes each key once).
 *
 * Memory stays bounded: at most QUEUED_KEYS keys wait in the queue, and at most one batch per reader is
 * read but not yet consumed (each byte-bounded by BatchSizer). The first failure (SCAN, a reader, the
 * consumer stopping) stops everything, and the generator throws it.
 */
import type Redis from 'ioredis';
import { readDumps } from './dumpread';
import { BatchSizer, type ReadBatch, type ReadOptions } from './reader';
import type { RespConnection } from './resp';
import { scanKeys } from './scan';

/** Keys SCAN may list ahead of the readers (about 150 bytes of heap each while queued). */
const QUEUED_KEYS = 10_000;
/** Keys per read transaction at most; BatchSizer lowers it when values are large. */
const MAX_BATCH_KEYS = 2000;

export interface ParallelHooks {
  /** Called with each SCAN batch before its keys are read (test seam). */
  afterScan?(keys: readonly Buffer[]): Promise<void>;
}

/** A wake-up signal: wait() resolves at the next notify(). */
class Signal {
  private waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/**
 * Every live key of `patterns`, each once, read with `options` over `readers` (one transaction in flight
 * on each); SCAN, and the reads of values that cannot be decoded from their payload, run on `scanner`.
 * Errors are the client's; callers map them with redisFailure.
 */
export async function* readKeySpace(scanner: Redis, readers: readonly RespConnection[], patterns: readonly string[], options: ReadOptions, hooks: ParallelHooks = {}): AsyncGenerator<ReadBatch> {
  if (readers.length === 0) throw new Error('readKeySpace needs at least one reader connection');
  const sizer = new BatchSizer(MAX_BATCH_KEYS);
  let queue: Buffer[] = [];
  let queueAt = 0;
  let scanning = true;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  const done: ReadBatch[] = [];
  const changed = new Signal();
  const fail = (error: unknown) => {
    failure ??= { error };
    changed.notify();
  };
  const queued = () => queue.length - queueAt;

  const scan = async () => {
    try {
      // The whole database: its size now sizes the duplicate filter once (scan.ts), instead of by doublings.
      const expected = patterns.includes('*') ? await scanner.dbsize() : 0;
      for await (const keys of scanKeys(scanner, patterns, undefined, expected)) {
        await hooks.afterScan?.(keys);
        if (queueAt > 0) {
          queue = queue.slice(queueAt);
          queueAt = 0;
        }
        for (const key of keys) queue.push(key);
        changed.notify();
        while (queued() >= QUEUED_KEYS && !failure && !stopped) await changed.wait();
        if (failure || stopped) return;
      }
    } catch (error) {
      fail(error);
    } finally {
      scanning = false;
      changed.notify();
    }
  };

  const read = async (reader: RespConnection) => {
    try {
      for (;;) {
        while (!failure && !stopped && (done.length >= readers.length || (queued() === 0 && scanning))) await changed.wait();
        if (failure || stopped || (queued() === 0 && !scanning)) return;
        const take = Math.min(sizer.next, queued());
        const keys = queue.slice(queueAt, queueAt + take);
        queueAt += take;
        changed.notify();
        const batch = await readDumps(reader, scanner, keys, options);
        sizer.observe(keys.length, batch.bytes);
        done.push(batch);
        changed.notify();
      }
    } catch (error) {
      fail(error);
    }
  };

  let finished = false;
  const workers = Promise.all([scan(), ...readers.map(read)]).then(() => {
    finished = true;
    changed.notify();
  });
  try {
    for (;;) {
      if (failure) throw failure.error;
      const batch = done.shift();
      if (batch) {
        changed.notify();
        yield batch;
      } else if (finished) {
        return;
      } else {
        await changed.wait();
      }
    }
  } finally {
    stopped = true;
    changed.notify();
    // Let in-flight reads settle before the caller closes the connections; their failures are moot now.
    await workers;
  }
}
