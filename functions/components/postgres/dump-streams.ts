/**
 * pg_dump processes streamed to the sink, each its own artifact, stopped together: the first one that
 * fails kills every other one (so nothing keeps reading the source) and destroys their streams (so the
 * sink aborts their uploads), and the failure reported is that first one.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { ArtifactRecord, ArtifactSink, UploadBudget } from '../types';
import type { PostgresTarget } from './connection';
import { runTool, type RunningTool } from './tools';

/**
 * Ends the stream only once `exited` settles: a pg_dump that fails after writing part of its output makes
 * the upload fail instead of completing a truncated object.
 */
export class EndsWithProcess extends Transform {
  constructor(private readonly exited: Promise<void>) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, chunk);
  }
  override _flush(callback: TransformCallback): void {
    this.exited.then(() => callback(), callback);
  }
}

export interface StreamedDump {
  readonly dump: RunningTool;
  /** The artifact, once pg_dump exited 0 and the sink stored every byte. */
  readonly finished: Promise<ArtifactRecord>;
}

export class DumpStreams {
  private readonly running = new Set<{ dump: RunningTool; body: Transform }>();
  private readonly started: Promise<unknown>[] = [];
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly target: PostgresTarget,
    private readonly sink: ArtifactSink,
  ) {}

  /** Starts `pg_dump args` into artifact `name`; refused once a stream has failed. */
  start(args: readonly string[], name: string, contentType: string, upload?: UploadBudget): StreamedDump {
    if (this.failure) throw this.failure.error;
    const dump = runTool(this.target, 'pg_dump', args);
    const body = dump.child.stdout!.pipe(new EndsWithProcess(dump.done));
    dump.child.stdout!.on('error', (error) => body.destroy(error));
    const entry = { dump, body };
    this.running.add(entry);
    const written = this.sink.write(name, body, { contentType, ...(upload ? { upload } : {}) });
    const finished = Promise.all([written, dump.done])
      .then(([record]) => record)
      .catch((error: unknown) => {
        this.stop(error);
        throw this.failure!.error;
      })
      .finally(() => this.running.delete(entry));
    // A caller that stops waiting (another stream failed first) must not leave an unhandled rejection.
    finished.catch(() => undefined);
    this.started.push(finished, written.catch(() => undefined));
    return { dump, finished };
  }

  /** Kills every pg_dump still running and destroys its stream; the first error given is the one kept. */
  stop(error: unknown): void {
    this.failure ??= { error };
    for (const { dump, body } of this.running) {
      dump.child.kill('SIGKILL');
      body.destroy(this.failure.error as Error);
    }
  }

  /** Settles once every stream started has ended and its upload finished or aborted, whichever way. */
  async settled(): Promise<void> {
    await Promise.allSettled(this.started);
  }
}
