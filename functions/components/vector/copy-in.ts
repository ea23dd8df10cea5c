/**
 * COPY ... FROM STDIN over the pg client's own copy-in protocol support: pg-copy-streams is not among
 * the project's dependencies, and the pg client already routes CopyInResponse to the active query and
 * exposes CopyData / CopyDone / CopyFail on its connection. This is the submittable the client expects
 * (submit + handle* callbacks), driven by an async iterable instead of a Writable.
 *
 * A failure on either side ends the COPY: a server error (a value the type refuses, a terminated
 * session) rejects with that error; a failure of the input (a damaged artifact) sends CopyFail so the
 * server aborts the statement, and rejects with the input's error. Either way the caller's transaction
 * is aborted and rolls back.
 */
import { once } from 'node:events';
import type { Client } from 'pg';

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  readonly stream: NodeJS.WritableStream & { writableNeedDrain?: boolean };
}

class CopyInQuery {
  private connection?: CopyConnection;
  private failure?: { error: unknown };
  private resolveStarted!: () => void;
  private rejectStarted!: (error: unknown) => void;
  private resolveDone!: () => void;
  private rejectDone!: (error: unknown) => void;
  /** Resolves when the server is ready for data. */
  readonly started = new Promise<void>((resolve, reject) => ((this.resolveStarted = resolve), (this.rejectStarted = reject)));
  /** Resolves when the server has committed the statement's rows to the transaction. */
  readonly done = new Promise<void>((resolve, reject) => ((this.resolveDone = resolve), (this.rejectDone = reject)));
  rows = 0;

  constructor(readonly text: string) {
    this.started.catch(() => undefined);
    this.done.catch(() => undefined);
  }

  get failed(): { error: unknown } | undefined {
    return this.failure;
  }

  get channel(): CopyConnection {
    return this.connection!;
  }

  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    this.connection = connection;
    this.resolveStarted();
  }

  handleCommandComplete(message: { text?: string }): void {
    const count = /^COPY (\d+)$/.exec(message.text ?? '');
    if (count) this.rows = Number(count[1]);
  }

  handleReadyForQuery(): void {
    this.resolveDone();
  }

  handleError(error: unknown): void {
    this.failure ??= { error };
    this.rejectStarted(error);
    this.rejectDone(error);
  }

  // A COPY FROM answers none of these; the client calls them only for other statements.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCopyData(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
}

/**
 * Runs `sql` (a COPY ... FROM STDIN) and sends `data` as its input, a chunk at a time, waiting for the
 * socket to drain so memory holds a chunk or two whatever the input's size. Returns the rows copied.
 */
export async function copyIn(client: Client, sql: string, data: AsyncIterable<Buffer>): Promise<number> {
  const copy = new CopyInQuery(sql);
  (client as unknown as { query(q: CopyInQuery): void }).query(copy);
  await copy.started;
  const connection = copy.channel;
  try {
    for await (const chunk of data) {
      if (copy.failed) break;
      connection.sendCopyFromChunk(chunk);
      if (connection.stream.writableNeedDrain) {
        await Promise.race([once(connection.stream as NodeJS.EventEmitter, 'drain'), copy.done.then(() => undefined, () => undefined)]);
      }
    }
  } catch (error) {
    if (!copy.failed) connection.sendCopyFail(`input failed: ${(error as Error).message ?? String(error)}`.slice(0, 200));
    // The server answers CopyFail with an error; wait for it so the connection is idle (in an aborted transaction).
    await copy.done.catch(() => undefined);
    throw error;
  }
  if (copy.failed) throw copy.failed.error;
  connection.endCopyFrom();
  await copy.done;
  return copy.rows;
}
