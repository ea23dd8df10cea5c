/**
 * A file's checksum computed while its bytes stream past, in the form an S3 copy of the same size would
 * report it (copy.ts): SHA-256 over the whole file up to the single-copy limit, S3's composite above it
 * (SHA-256 of each part of `partBytes`, then SHA-256 over those digests, with the part count). So a file
 * hashed in a directory, a copy S3 made and a file restored into a directory are compared in one form.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, Writable, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { copyAlgorithm, type CopyLimits } from './copy';
import type { Checksum } from './index-file';

export class ChecksumMeter extends Transform {
  bytes = 0;
  private readonly composite: boolean;
  private part: Hash = createHash('sha256');
  private partFill = 0;
  private readonly parts: Buffer[] = [];

  constructor(
    private readonly size: number,
    private readonly limits: CopyLimits,
  ) {
    super();
    this.composite = copyAlgorithm(size, limits) !== 'sha256';
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    let at = 0;
    while (at < chunk.length) {
      const room = this.composite ? this.limits.partBytes - this.partFill : chunk.length - at;
      const piece = chunk.subarray(at, at + room);
      this.part.update(piece);
      this.partFill += piece.length;
      at += piece.length;
      if (this.composite && this.partFill === this.limits.partBytes) this.closePart();
    }
    done(null, chunk);
  }

  private closePart(): void {
    this.parts.push(this.part.digest());
    this.part = createHash('sha256');
    this.partFill = 0;
  }

  /** The checksum of what passed, once the stream has ended. */
  result(): Checksum {
    const algorithm = copyAlgorithm(this.size, this.limits);
    if (!this.composite) return { algorithm, digest: this.part.copy().digest('hex') };
    const parts = [...this.parts];
    if (this.partFill > 0) parts.push(this.part.copy().digest());
    return { algorithm, digest: `${createHash('sha256').update(Buffer.concat(parts)).digest('hex')}-${parts.length}` };
  }
}

/** The checksum and length of everything `stream` yields, read to its end (nothing kept). */
export async function checksumOf(stream: Readable, size: number, limits: CopyLimits): Promise<{ checksum: Checksum; bytes: number }> {
  const meter = new ChecksumMeter(size, limits);
  await pipeline(stream, meter, new Writable({ write: (_chunk, _encoding, done) => done() }));
  return { checksum: meter.result(), bytes: meter.bytes };
}
