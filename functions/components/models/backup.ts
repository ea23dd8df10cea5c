/**
 * A models backup: every listed file ends up referenced by a content-addressed blob, and is stored only when
 * no blob holds its content yet.
 *
 * - Unchanged since the previous backup (same size and ETag and version id in S3; same size and mtime in a
 *   directory) and its blob still there: referenced, nothing read or copied.
 * - An S3 object stored with a whole-object SHA-256: its digest is known, so it is copied server-side
 *   straight to its blob (or referenced when that blob exists), and the copy's checksum must equal it.
 * - Any other S3 object: copied server-side to a scratch key of this backup, whose checksum S3 computes; then
 *   referenced (blob exists) or copied on to its blob; the scratch copy is deleted.
 * - A directory file: hashed once; referenced, or uploaded to a scratch key while hashed again (a file that
 *   changed between the two reads fails the backup, naming it), then copied to its blob.
 * A blob key therefore only ever receives bytes whose checksum was verified to be its name.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { IntegrityError, InvalidInputError } from '../../core/errors';
import { forEachLimit } from '../../core/parallel';
import { classifyS3Error, isMissingObject, s3FailureKind } from '../../core/s3-errors';
import type { ArtifactSink, BlobStore, Logger } from '../types';
import { ChecksumMeter, checksumOf } from './checksum';
import { serverSideCopy, type CopyLimits } from './copy';
import { headSource, listFiles, locate, type ListedFile } from './files';
import { INDEX_ARTIFACT, readIndex, type Checksum, type ModelFile } from './index-file';
import { locationUrl, type ModelsSourceConfig } from './source';

const COMPONENT = 'models';

export interface ModelsTarget {
  readonly source: ModelsSourceConfig;
  /** The worker's S3 client: reaches the source buckets and the vault. */
  readonly s3: S3Client;
  readonly limits: CopyLimits;
  /** Files copied at once. */
  readonly concurrency: number;
}

export interface BackupStats {
  files: number;
  bytes: number;
  /** Files whose content was stored now (a new blob). */
  storedFiles: number;
  storedBytes: number;
  /** Files referenced without reading them (unchanged since the previous backup). */
  unchangedFiles: number;
  /** Files whose content an existing blob already held. */
  dedupedFiles: number;
}

const fileKey = (location: string, path: string) => `${location}\u0000${path}`;

/**
 * Whether the vault holds a blob, asked once per blob per backup, and the one place a blob is stored: two
 * files with the same content in one backup store it once (the second waits for the first).
 */
function blobPresence(blobs: BlobStore) {
  const known = new Map<string, Promise<boolean>>();
  const storing = new Map<string, Promise<unknown>>();
  const has = (checksum: Checksum): Promise<boolean> => {
    const key = blobs.key(checksum.algorithm, checksum.digest);
    let found = known.get(key);
    if (!found) {
      found = blobs.client.send(new HeadObjectCommand({ Bucket: blobs.bucket, Key: key })).then(
        () => true,
        (error: unknown) => {
          if (isMissingObject(error)) return false;
          throw classifyS3Error(error, `checking for blob s3://${blobs.bucket}/${key}`, { component: COMPONENT });
        },
      );
      known.set(key, found);
    }
    return found;
  };
  return {
    has,
    /** Stores the blob with `store` unless it is held or being stored; true when this call stored it. */
    async ensure(checksum: Checksum, store: () => Promise<void>): Promise<boolean> {
      const key = blobs.key(checksum.algorithm, checksum.digest);
      const before = storing.get(key);
      if (before) {
        await before;
        return false;
      }
      const mine = (async () => {
        if (await has(checksum)) return false;
        await store();
        known.set(key, Promise.resolve(true));
        return true;
      })();
      storing.set(key, mine.catch(() => undefined));
      return mine;
    },
  };
}

async function deleteScratch(blobs: BlobStore, key: string, log: Logger): Promise<void> {
  await blobs.client.send(new DeleteObjectCommand({ Bucket: blobs.bucket, Key: key })).catch((error: unknown) => {
    // The janitor removes scratch copies a backup left behind.
    log.warn('could not delete a scratch copy; the janitor removes it', { component: COMPONENT, key, error: (error as Error).message });
  });
}

export async function backupFiles(target: ModelsTarget, sink: ArtifactSink, log: Logger): Promise<{ files: ModelFile[]; stats: BackupStats; skipped: string[] }> {
  const blobs = sink.blobs;
  if (!blobs) throw new InvalidInputError('a models backup stores blobs: the engine gave it no blob store.', { component: COMPONENT });
  const previous = new Map<string, ModelFile>();
  const before = await sink.previous?.();
  const index = before?.artifacts.find((a) => a.name === INDEX_ARTIFACT);
  if (before && index) {
    for (const file of await readIndex(before.open(INDEX_ARTIFACT), { component: COMPONENT, backupId: before.backup?.backupId })) previous.set(fileKey(file.location, file.path), file);
  }
  const { files: listed, skipped } = await listFiles(target.s3, target.source);
  for (const path of skipped) log.warn('not a regular file: skipped', { component: COMPONENT, path });
  log.info('models listed', { component: COMPONENT, files: listed.length, bytes: listed.reduce((n, f) => n + f.size, 0), previousBackup: before?.backup?.backupId ?? null });

  const presence = blobPresence(blobs);
  const stats: BackupStats = { files: 0, bytes: 0, storedFiles: 0, storedBytes: 0, unchangedFiles: 0, dedupedFiles: 0 };
  const results: ModelFile[] = new Array(listed.length);
  const vaultWrite = { ...blobs.encryption };
  const failure = (file: ListedFile, error: unknown): Error =>
    error instanceof Error && 'component' in error ? error : classifyS3Error(error, `backing up ${locationUrl(file.location)}${file.path}`, { component: COMPONENT });

  /** Copies a scratch copy on to its blob (unless held), checking the checksum again, and drops the scratch copy. */
  const promote = async (scratch: string, checksum: Checksum, size: number): Promise<boolean> => {
    const stored = await presence.ensure(checksum, async () => {
      const copied = await serverSideCopy(target.s3, { from: { bucket: blobs.bucket, key: scratch }, to: { bucket: blobs.bucket, key: blobs.key(checksum.algorithm, checksum.digest) }, size, writeParams: vaultWrite }, target.limits);
      if (copied.digest !== checksum.digest) throw new IntegrityError(`the blob copy's checksum ${copied.digest} differs from its scratch copy's ${checksum.digest}.`, { component: COMPONENT });
    });
    await deleteScratch(blobs, scratch, log);
    return stored;
  };

  const backupOne = async (file: ListedFile, i: number): Promise<void> => {
    const location = locationUrl(file.location);
    const before = previous.get(fileKey(location, file.path));
    const where = locate(file.location, file.path);
    let entry: ModelFile;
    let stored = false;
    let unchanged = false;
    if (file.location.kind === 's3') {
      const head = await headSource(target.s3, file.location.bucket, where);
      const sourceFacts = { etag: head.etag, ...(head.versionId ? { versionId: head.versionId } : {}), lastModified: file.lastModified?.toISOString() };
      if (before && before.size === head.size && before.source.etag === head.etag && before.source.versionId === head.versionId && (await presence.has(before.checksum))) {
        entry = { location, path: file.path, size: head.size, checksum: before.checksum, source: sourceFacts };
        unchanged = true;
      } else {
        const from = { bucket: file.location.bucket, key: where, ...(head.versionId ? { versionId: head.versionId } : {}) };
        let checksum: Checksum;
        if (head.sha256 && head.size <= target.limits.copyLimitBytes) {
          const known: Checksum = { algorithm: 'sha256', digest: head.sha256 };
          checksum = known;
          stored = await presence.ensure(known, async () => {
            const copied = await serverSideCopy(target.s3, { from, to: { bucket: blobs.bucket, key: blobs.key(known.algorithm, known.digest) }, size: head.size, ifMatch: head.etag, writeParams: vaultWrite }, target.limits);
            if (copied.digest !== known.digest) throw new IntegrityError(`${location}${file.path}: the copy's SHA-256 ${copied.digest} differs from the source object's ${known.digest}; the source changed or was damaged in transit.`, { component: COMPONENT });
          });
        } else {
          const scratch = blobs.stagingKey(String(i));
          checksum = await serverSideCopy(target.s3, { from, to: { bucket: blobs.bucket, key: scratch }, size: head.size, ifMatch: head.etag, writeParams: vaultWrite }, target.limits);
          stored = await promote(scratch, checksum, head.size);
        }
        entry = { location, path: file.path, size: head.size, checksum, source: sourceFacts };
      }
    } else {
      const sourceFacts = { mtimeMs: file.mtimeMs };
      if (before && before.size === file.size && before.source.mtimeMs === file.mtimeMs && (await presence.has(before.checksum))) {
        entry = { location, path: file.path, size: file.size, checksum: before.checksum, source: sourceFacts };
        unchanged = true;
      } else {
        const { checksum } = await checksumOf(createReadStream(where), file.size, target.limits);
        if (!(await presence.has(checksum))) {
          const scratch = blobs.stagingKey(String(i));
          const meter = new ChecksumMeter(file.size, target.limits);
          const upload = new Upload({ client: target.s3, params: { Bucket: blobs.bucket, Key: scratch, Body: meter, ...vaultWrite }, leavePartsOnError: false });
          await Promise.all([pipeline(createReadStream(where), meter), upload.done()]);
          const again = meter.result();
          if (again.digest !== checksum.digest || meter.bytes !== file.size) {
            await deleteScratch(blobs, scratch, log);
            throw new IntegrityError(`${where} changed while it was backed up (its checksum or size differs between two reads); run the backup again once it is stable.`, { component: COMPONENT });
          }
          stored = await promote(scratch, checksum, file.size);
        }
        entry = { location, path: file.path, size: file.size, checksum, source: sourceFacts };
      }
    }
    results[i] = entry;
    stats.files++;
    stats.bytes += entry.size;
    if (stored) {
      stats.storedFiles++;
      stats.storedBytes += entry.size;
    } else if (unchanged) stats.unchangedFiles++;
    else stats.dedupedFiles++;
  };

  await forEachLimit(listed, target.concurrency, async (file, i) => {
    try {
      await backupOne(file, i);
    } catch (error) {
      if (s3FailureKind(error) === 'denied' || !(error instanceof Error && 'component' in error)) throw failure(file, error);
      throw error;
    }
  });
  return { files: results, stats, skipped };
}
