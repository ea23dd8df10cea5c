/**
 * S3 additional checksums (SHA-256 only) for the test S3 proxy: what s3rver 3.7.1 neither checks nor keeps.
 *
 * Where they are held: in memory, in one `ChecksumLedger` per proxy instance, keyed by "/bucket/key" (the
 * path decoded), plus the part digests of each open multipart upload created with ChecksumAlgorithm SHA256
 * (keyed by upload id, dropped at completion or abort). An object's entry is written by a PutObject that
 * carries a SHA-256, a SHA-256 multipart completion or a CopyObject (S3's copy rules), and dropped by
 * DeleteObject, DeleteObjects, and any overwrite without one (PutObject, CopyObject, CompleteMultipartUpload).
 *
 * Limits:
 * - Only writes through the same proxy instance are seen: a write straight to s3rver or through another proxy
 *   leaves a stale or missing entry. The ledger is lost when the proxy stops and has no versions.
 * - Only SHA-256 is verified and kept. CRC32, CRC32C, SHA-1 and CRC64NVME values are not checked nor returned
 *   (their aws-chunked framing is still decoded). Multipart FULL_OBJECT checksums (CRC family) are not modelled.
 * - Real S3 gives every object written without an additional checksum a default CRC64NVME (FULL_OBJECT) and
 *   returns it in checksum mode; the shim returns no checksum for such objects. Code under test must request
 *   SHA-256 explicitly (it must on real S3 too to get a SHA-256) and must not rely on a checksum being absent.
 * - Bodies with a checksum are spooled to a temporary file (bounded memory, disk as large as the body) so a
 *   BadDigest leaves the previous object as S3 does; bodies without one still stream straight through.
 * - A CopyObject that needs a new checksum reads the copy back once (streamed, hashed) after s3rver copied it.
 * - ETags stay s3rver's: the MD5 of the whole object, also for multipart objects (no "-N" suffix).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export type ChecksumType = 'FULL_OBJECT' | 'COMPOSITE';

export interface StoredChecksum {
  /** base64 SHA-256; for COMPOSITE, base64 of the SHA-256 over the parts' binary digests, then "-<parts>". */
  readonly sha256: string;
  readonly type: ChecksumType;
  /** COMPOSITE only: each part's base64 SHA-256, in part order (GetObjectAttributes ObjectParts). */
  readonly parts?: readonly { readonly number: number; readonly sha256: string; readonly size: number }[];
}

interface OpenUpload {
  readonly key: string;
  readonly parts: Map<number, { sha256: string; size: number }>;
}

/** Checksums of objects and of multipart uploads created with ChecksumAlgorithm SHA256. */
export class ChecksumLedger {
  private readonly objects = new Map<string, StoredChecksum>();
  private readonly uploads = new Map<string, OpenUpload>();

  get(key: string): StoredChecksum | undefined {
    return this.objects.get(key);
  }
  set(key: string, checksum: StoredChecksum | undefined): void {
    if (checksum) this.objects.set(key, checksum);
    else this.objects.delete(key);
  }
  openUpload(uploadId: string, key: string): void {
    this.uploads.set(uploadId, { key, parts: new Map() });
  }
  upload(uploadId: string): OpenUpload | undefined {
    return this.uploads.get(uploadId);
  }
  closeUpload(uploadId: string): void {
    this.uploads.delete(uploadId);
  }
}

export function sha256Base64(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('base64');
}

/** S3's composite checksum: SHA-256 over the concatenated binary part digests, base64, then "-<count>". */
export function compositeSha256(partDigests: readonly string[]): string {
  const hash = createHash('sha256');
  for (const digest of partDigests) hash.update(Buffer.from(digest, 'base64'));
  return `${hash.digest('base64')}-${partDigests.length}`;
}

/** Passes bytes through unchanged while hashing them; `digest()` once the stream has ended. */
export class Sha256Meter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }
  digest(): string {
    return this.hash.digest('base64');
  }
}

/**
 * Decodes an aws-chunked body (`<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0\r\n<trailers>\r\n`) into
 * its payload, collecting the trailing headers. Holds at most one chunk header or trailer line in memory.
 */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = {};
  private pending = Buffer.alloc(0);
  private remaining = 0; // payload bytes left in the current chunk
  private state: 'size' | 'data' | 'data-end' | 'trailer' | 'done' = 'size';

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let input = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    try {
      while (input.length) {
        if (this.state === 'data') {
          const take = Math.min(this.remaining, input.length);
          this.push(input.subarray(0, take));
          input = input.subarray(take);
          this.remaining -= take;
          if (this.remaining === 0) this.state = 'data-end';
          continue;
        }
        if (this.state === 'done') break;
        const eol = input.indexOf('\r\n');
        if (eol < 0) {
          if (input.length > 64 * 1024) throw new Error('aws-chunked: line too long');
          this.pending = Buffer.from(input);
          break;
        }
        const line = input.subarray(0, eol).toString('latin1');
        input = input.subarray(eol + 2);
        if (this.state === 'data-end') {
          if (line !== '') throw new Error('aws-chunked: chunk data not followed by CRLF');
          this.state = 'size';
        } else if (this.state === 'size') {
          const size = parseInt(line.split(';')[0]!, 16);
          if (Number.isNaN(size)) throw new Error(`aws-chunked: bad chunk size line ${JSON.stringify(line)}`);
          this.remaining = size;
          this.state = size === 0 ? 'trailer' : 'data';
        } else if (line === '') {
          this.state = 'done';
        } else {
          const colon = line.indexOf(':');
          this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
      }
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.state === 'done' || this.state === 'trailer' ? null : new Error('aws-chunked: body ended inside a chunk'));
  }
}

/** A request body written to a temporary file while hashed, so a bad digest is refused before s3rver sees it. */
export interface SpooledBody {
  readonly size: number;
  readonly sha256: string;
  /** Trailing headers of an aws-chunked body (e.g. x-amz-checksum-sha256), lower-case names. */
  readonly trailers: Record<string, string>;
  open(): Readable;
  discard(): void;
}

export class Spool {
  private readonly dir = mkdtempSync(join(tmpdir(), 'nca-s3-proxy-'));
  private next = 0;

  async take(body: Readable, awsChunked: boolean): Promise<SpooledBody> {
    const file = join(this.dir, String(this.next++));
    const meter = new Sha256Meter();
    const decoder = awsChunked ? new AwsChunkedDecoder() : undefined;
    try {
      if (decoder) await pipeline(body, decoder, meter, createWriteStream(file));
      else await pipeline(body, meter, createWriteStream(file));
    } catch (error) {
      rmSync(file, { force: true });
      throw error;
    }
    return {
      size: meter.bytes,
      sha256: meter.digest(),
      trailers: decoder?.trailers ?? {},
      open: () => createReadStream(file),
      discard: () => {
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      },
    };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function xmlEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export function xmlUnescape(text: string): string {
  return text
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&amp;/g, '&');
}

/** Every `<tag>…</tag>` text in an XML document, unescaped, in document order. */
export function xmlValues(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => xmlUnescape(m[1]!));
}

/** Inserts `elements` before the closing tag of `root` in an s3rver answer. */
export function appendToXml(xml: string, root: string, elements: string): string {
  const close = `</${root}>`;
  const at = xml.lastIndexOf(close);
  return at < 0 ? xml : xml.slice(0, at) + elements + xml.slice(at);
}

export function checksumElements(checksum: StoredChecksum | undefined): string {
  return checksum ? `<ChecksumSHA256>${checksum.sha256}</ChecksumSHA256><ChecksumType>${checksum.type}</ChecksumType>` : '';
}
