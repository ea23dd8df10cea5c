import { createHash, type Hash } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { IntegrityError } from './errors';

/** Passes bytes through unchanged while counting them and computing their SHA-256 on the fly. */
export class Sha256Meter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private byteCount = 0;
  private digestHex?: string;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.byteCount += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digestHex = this.hash.digest('hex');
    callback();
  }

  get bytes(): number {
    return this.byteCount;
  }

  /** Available once the stream has ended. */
  get sha256(): string {
    if (this.digestHex === undefined) throw new Error('sha256 is only known after the stream has ended');
    return this.digestHex;
  }
}

export interface ExpectedDigest {
  readonly name: string;
  readonly bytes: number;
  readonly sha256: string;
}

/**
 * Passes bytes through and fails at the end, before signalling completion, when the size or SHA-256
 * differs from the manifest. The last chunk is held back until the digest is checked, so a consumer
 * never sees the whole artifact unless it is intact: pg_restore, which can finish without waiting for
 * end of input, never receives the complete final block of a damaged dump and cannot commit it.
 */
export class Sha256Verifier extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private byteCount = 0;
  private held?: Buffer;

  constructor(
    private readonly expected: ExpectedDigest,
    private readonly context: { component?: string; backupId?: string } = {},
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.byteCount += chunk.length;
    if (this.byteCount > this.expected.bytes) {
      callback(this.mismatch(`is longer than the ${this.expected.bytes} bytes in the manifest`));
      return;
    }
    const previous = this.held;
    this.held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.hash.digest('hex');
    if (this.byteCount !== this.expected.bytes) {
      callback(this.mismatch(`has ${this.byteCount} bytes, the manifest says ${this.expected.bytes}`));
    } else if (actual !== this.expected.sha256) {
      callback(this.mismatch(`has SHA-256 ${actual}, the manifest says ${this.expected.sha256}`));
    } else {
      callback(null, this.held);
    }
  }

  private mismatch(detail: string): IntegrityError {
    return new IntegrityError(`artifact ${this.expected.name} ${detail}: the stored copy is damaged.`, {
      ...this.context,
      hint: 'Do not restore this backup; pick an older backup id, or restore from the replica in the recovery region.',
    });
  }
}

/**
 * After a format error in a verified artifact stream, reads the stream to its end: when the bytes were
 * damaged, the digest check says so (IntegrityError naming the artifact and the manifest's digest), which
 * is the better error. Undefined when the rest of the stream is intact.
 */
export async function digestErrorAfter(stream: Readable): Promise<unknown> {
  if (stream.destroyed) return (stream as Readable & { errored?: unknown }).errored ?? undefined;
  try {
    // Iterating reads whatever mode the parser left the stream in (its own iterator, or paused).
    for await (const _chunk of stream) {
      // discarded: only the verifier's verdict at the end matters
    }
    return undefined;
  } catch (error) {
    return error;
  }
}
