/**
 * A models restore: the backup's files (or those matching `paths`) from their blobs to their original
 * locations or to one `target`. Everything that can be checked first is checked before the first write:
 * every blob exists with the file's size, no two files land on one key, and no destination lies inside the
 * vault. Then S3 destinations get server-side copies whose SHA-256 must equal the file's checksum, and
 * directory destinations a stream into a temporary file beside the destination, hashed on the way and
 * renamed into place only when its SHA-256 and size are right: neither needs the worker's disk or memory
 * for more than a buffer.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { globPattern } from '../../../config/globs';
import { BackupNotFoundError, IntegrityError, InvalidInputError } from '../../core/errors';
import { forEachLimit } from '../../core/parallel';
import { classifyS3Error, isMissingObject } from '../../core/s3-errors';
import type { BlobStore, Logger } from '../types';
import type { ModelsTarget } from './backup';
import { ChecksumMeter } from './checksum';
import { hexChecksum, limitsOf, serverSideCopy } from './copy';
import { locate } from './files';
import type { ModelFile } from './index-file';
import { locationUrl, type ModelsLocation, type ModelsRestoreOptions } from './source';

const COMPONENT = 'models';

/** Where one file goes. */
export interface Placement {
  readonly file: ModelFile;
  readonly location: ModelsLocation;
  /** The S3 key or the file path. */
  readonly destination: string;
}

/** Parses a location as written in an index (`s3://bucket/prefix/` or `/dir`). */
export function parseLocationUrl(url: string): ModelsLocation | undefined {
  const s3 = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (s3) return { kind: 's3', bucket: s3[1], prefix: s3[2] };
  return url.startsWith('/') ? { kind: 'directory', path: url } : undefined;
}

/** The files selected and where each goes; refuses, naming it, a file two selections put on one destination. */
export function placeFiles(files: readonly ModelFile[], options: ModelsRestoreOptions, where: { backupId?: string }): Placement[] {
  const patterns = options.paths?.map(globPattern);
  const selected = patterns ? files.filter((f) => patterns.some((p) => p.test(f.path))) : [...files];
  if (selected.length === 0) {
    throw new InvalidInputError(`no file of backup ${where.backupId ?? ''} matches options.paths ${JSON.stringify(options.paths)}.`, { component: COMPONENT, backupId: where.backupId });
  }
  const placements = selected.map((file): Placement => {
    const location = options.target ?? parseLocationUrl(file.location);
    if (!location) throw new IntegrityError(`the file index names an unknown location ${JSON.stringify(file.location)}.`, { component: COMPONENT, backupId: where.backupId });
    return { file, location, destination: locate(location, file.path) };
  });
  const seen = new Map<string, ModelFile>();
  for (const p of placements) {
    const at = `${locationUrl(p.location)}\u0000${p.destination}`;
    const other = seen.get(at);
    if (other) {
      throw new InvalidInputError(`${other.location}${other.path} and ${p.file.location}${p.file.path} would both be restored to ${p.destination}.`, {
        component: COMPONENT,
        backupId: where.backupId,
        hint: 'Restore them in two runs, each with options.paths naming one of them.',
      });
    }
    seen.set(at, p.file);
  }
  return placements;
}

/** Refuses a destination inside the vault's bucket and prefix: a restore must never write over backups. */
export function refuseVaultOverlap(placements: readonly Placement[], blobs: BlobStore): void {
  const vaultPrefix = blobs.prefix;
  for (const p of placements) {
    if (p.location.kind !== 's3' || p.location.bucket !== blobs.bucket) continue;
    if (p.destination.startsWith(vaultPrefix) || vaultPrefix.startsWith(p.location.prefix)) {
      throw new InvalidInputError(`s3://${p.location.bucket}/${p.location.prefix} overlaps the vault (s3://${blobs.bucket}/${vaultPrefix}): a restore never writes there.`, {
        component: COMPONENT,
        hint: 'Give options.target a prefix outside the vault.',
      });
    }
  }
}

/**
 * Refuses, before anything is written, a file whose blob is missing, has another size, or whose SHA-256 as S3
 * stored it is not the file's: every blob is written by a copy that asks S3 for that checksum, so a blob
 * without one, or with another, was replaced by someone else.
 */
export async function checkBlobs(target: ModelsTarget, blobs: BlobStore, placements: readonly Placement[], backupId?: string): Promise<void> {
  await forEachLimit(placements, 16, async ({ file }) => {
    const key = blobs.key(file.checksum.algorithm, file.checksum.digest);
    const where = `${file.location}${file.path}`;
    let head;
    try {
      head = await target.s3.send(new HeadObjectCommand({ Bucket: blobs.bucket, Key: key, ChecksumMode: 'ENABLED' }));
    } catch (error) {
      if (!isMissingObject(error)) throw classifyS3Error(error, `checking blob ${key}`, { component: COMPONENT, backupId });
      throw new BackupNotFoundError(`${where}: its blob ${key} is missing from the vault; nothing was restored.`, {
        component: COMPONENT,
        backupId,
        hint: 'Restore an older backup, or restore the other files with options.paths.',
      });
    }
    if (head.ContentLength !== file.size) throw new IntegrityError(`${where}: its blob ${key} holds ${head.ContentLength} bytes, the index says ${file.size}; nothing was restored.`, { component: COMPONENT, backupId });
    const stored = head.ChecksumSHA256 ? hexChecksum(head.ChecksumSHA256) : undefined;
    if (stored !== file.checksum.digest) {
      throw new IntegrityError(`${where}: its blob ${key} ${stored ? `has SHA-256 ${stored}` : 'has no SHA-256 checksum'} in S3, not the file's ${file.checksum.digest}: it was replaced after the backup; nothing was restored.`, { component: COMPONENT, backupId });
    }
  });
}

function blobStream(target: ModelsTarget, blobs: BlobStore, file: ModelFile): Promise<Readable> {
  const key = blobs.key(file.checksum.algorithm, file.checksum.digest);
  return target.s3.send(new GetObjectCommand({ Bucket: blobs.bucket, Key: key })).then((out) => out.Body as Readable);
}

/** Writes one file; S3: server-side copy checked by checksum; directory: temp file checked, then renamed. */
async function restoreOne(target: ModelsTarget, blobs: BlobStore, placement: Placement, backupId?: string): Promise<void> {
  const { file, location, destination } = placement;
  const blob = { bucket: blobs.bucket, key: blobs.key(file.checksum.algorithm, file.checksum.digest) };
  if (location.kind === 's3') {
    const copied = await serverSideCopy(target.s3, { from: blob, to: { bucket: location.bucket, key: destination }, size: file.size }, limitsOf(file.checksum, target.limits));
    if (copied.algorithm !== file.checksum.algorithm || copied.digest !== file.checksum.digest) {
      throw new IntegrityError(`s3://${location.bucket}/${destination}: the restored copy's checksum ${copied.algorithm}:${copied.digest} differs from the backup's ${file.checksum.algorithm}:${file.checksum.digest}.`, { component: COMPONENT, backupId });
    }
    return;
  }
  await mkdir(dirname(destination), { recursive: true });
  const temporary = `${dirname(destination)}/.${randomBytes(6).toString('hex')}.nca-restore`;
  const meter = new ChecksumMeter(file.size, limitsOf(file.checksum, target.limits));
  try {
    await pipeline(await blobStream(target, blobs, file), meter, createWriteStream(temporary, { flags: 'wx' }));
    const read = meter.result();
    if (read.algorithm !== file.checksum.algorithm || read.digest !== file.checksum.digest || meter.bytes !== file.size) {
      throw new IntegrityError(`${destination}: the blob read back has ${read.algorithm} ${read.digest} and ${meter.bytes} bytes, the backup says ${file.checksum.algorithm} ${file.checksum.digest} and ${file.size}; the file was not replaced.`, { component: COMPONENT, backupId });
    }
    await rename(temporary, destination);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

export interface RestoreProgress {
  readonly files: number;
  readonly bytes: number;
}

export async function restoreFiles(target: ModelsTarget, blobs: BlobStore, placements: readonly Placement[], log: Logger, backupId?: string): Promise<RestoreProgress> {
  let files = 0;
  let bytes = 0;
  const written: string[] = [];
  try {
    await forEachLimit(placements, target.concurrency, async (placement) => {
      await restoreOne(target, blobs, placement, backupId);
      written.push(`${locationUrl(placement.location)}${placement.file.path}`);
      files++;
      bytes += placement.file.size;
    });
  } catch (error) {
    if (error instanceof Error && written.length > 0) {
      log.warn('restore stopped; files already written stay in place', { component: COMPONENT, backupId, written: written.length, first: written.slice(0, 20) });
      error.message += ` ${written.length} file(s) were restored before the failure (the first: ${written.slice(0, 5).join(', ')}).`;
    }
    throw error;
  }
  return { files, bytes };
}
