/**
 * The file index of a models backup: one gzip JSON Lines artifact, a line per file, mapping its path (in
 * its configured location) to the blob holding its bytes, with its size, checksum and where it came from.
 * It is an artifact like any other (SHA-256 in the MACed manifest), and still read like input: a path that
 * could leave its target, or a checksum that could name another key, is refused with the line that holds it.
 */
import { createGunzip, createGzip } from 'node:zlib';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { IntegrityError } from '../../core/errors';
import type { Fingerprint } from '../types';

export const INDEX_ARTIFACT = 'files.jsonl.gz';
export const INDEX_CONTENT_TYPE = 'application/vnd.nca-backup.models-index+jsonl';

/** A content checksum: `sha256` (hex, the whole object) or `sha256-composite-<part bytes>` (hex of S3's composite, then `-<parts>`). */
export interface Checksum {
  readonly algorithm: string;
  readonly digest: string;
}

export interface ModelFile {
  /** The configured location, as written (`s3://bucket/prefix/` or `/dir`). */
  readonly location: string;
  /** Relative to the location, `/`-separated. */
  readonly path: string;
  readonly size: number;
  readonly checksum: Checksum;
  /** What the source said about the file when it was read. */
  readonly source: { readonly etag?: string; readonly versionId?: string; readonly lastModified?: string; readonly mtimeMs?: number };
}

const ALGORITHM = /^sha256(-composite-[1-9][0-9]{0,11})?$/;
const DIGEST = /^[0-9a-f]{64}(-[1-9][0-9]{0,4})?$/;

/** A relative path that stays inside whatever it is joined to. */
export function isSafePath(path: string): boolean {
  if (path.length === 0 || path.length > 4096 || path.startsWith('/') || /[\u0000]/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

export function isChecksum(value: unknown): value is Checksum {
  const c = value as Checksum;
  return typeof c === 'object' && c !== null && typeof c.algorithm === 'string' && ALGORITHM.test(c.algorithm) && typeof c.digest === 'string' && DIGEST.test(c.digest) && (c.algorithm === 'sha256') === !c.digest.includes('-');
}

export function writeIndex(files: readonly ModelFile[]): Readable {
  return Readable.from((function* () {
    for (const f of files) yield `${JSON.stringify(f)}\n`;
  })()).pipe(createGzip());
}

export async function readIndex(stream: Readable, where: { component: string; backupId?: string }): Promise<ModelFile[]> {
  const files: ModelFile[] = [];
  const lines = createInterface({ input: stream.pipe(createGunzip()), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line === '') continue;
    const refuse = (why: string) => new IntegrityError(`the file index's line ${n} ${why}; nothing was restored from it.`, where);
    let value: ModelFile;
    try {
      value = JSON.parse(line) as ModelFile;
    } catch {
      throw refuse('is not JSON');
    }
    if (typeof value.location !== 'string' || typeof value.path !== 'string' || !isSafePath(value.path)) throw refuse(`names a path that could leave its location (${JSON.stringify(String(value.path)).slice(0, 200)})`);
    if (!Number.isSafeInteger(value.size) || value.size < 0) throw refuse('has no valid size');
    if (!isChecksum(value.checksum)) throw refuse('has no valid checksum');
    files.push(value);
  }
  return files;
}

/** Per location: how many files, and a digest over each file's path, size and checksum (the set of (path, size, checksum)). */
export function fingerprintFiles(files: readonly ModelFile[]): Fingerprint {
  const byLocation = new Map<string, ModelFile[]>();
  for (const file of files) byLocation.set(file.location, [...(byLocation.get(file.location) ?? []), file]);
  const fingerprint: Fingerprint = {};
  for (const [location, list] of [...byLocation].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const hash = createHash('sha256');
    for (const f of [...list].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))) hash.update(`${JSON.stringify([f.path, f.size, f.checksum.algorithm, f.checksum.digest])}\n`);
    fingerprint[location] = { count: list.length, digest: hash.digest('hex') };
  }
  return fingerprint;
}
