/**
 * The files of a configured location that a backup takes: every object under an S3 prefix, or every regular
 * file under a directory, whose path relative to the location matches an `include` glob and no `exclude`
 * glob. S3 "folder" markers (keys ending in "/") are no files; in a directory, symbolic links and special
 * files are skipped and reported (a link could lead outside the location).
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { globPattern } from '../../../config/globs';
import { AccessDeniedError, BackupNotFoundError, StorageError } from '../../core/errors';
import { classifyS3Error } from '../../core/s3-errors';
import { locationUrl, type ModelsLocation, type ModelsSourceConfig } from './source';

const COMPONENT = 'models';

export interface ListedFile {
  readonly location: ModelsLocation;
  /** Relative to the location, `/`-separated. */
  readonly path: string;
  readonly size: number;
  /** S3 only. */
  readonly etag?: string;
  readonly lastModified?: Date;
  /** A directory file's modification time (ms), its quick-check with the size. */
  readonly mtimeMs?: number;
}

export interface Listing {
  readonly files: ListedFile[];
  /** Paths left out because they are not regular files (links, sockets, ...). */
  readonly skipped: string[];
}

/** Whether a relative path is taken: it matches an include glob and no exclude glob. */
export function fileFilter(source: Pick<ModelsSourceConfig, 'include' | 'exclude'>): (path: string) => boolean {
  const include = source.include.map(globPattern);
  const exclude = source.exclude.map(globPattern);
  return (path) => include.some((g) => g.test(path)) && !exclude.some((g) => g.test(path));
}

/** The absolute key of a path in an S3 location, or the file path in a directory location. */
export function locate(location: ModelsLocation, path: string): string {
  return location.kind === 's3' ? `${location.prefix}${path}` : join(location.path, ...path.split('/'));
}

async function listS3(s3: S3Client, location: Extract<ModelsLocation, { kind: 's3' }>, keep: (path: string) => boolean): Promise<ListedFile[]> {
  const files: ListedFile[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await s3.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix || undefined, ContinuationToken: token }));
    } catch (error) {
      throw classifyS3Error(error, `listing ${locationUrl(location)}`, { component: COMPONENT });
    }
    for (const object of page.Contents ?? []) {
      const path = object.Key!.slice(location.prefix.length);
      if (path === '' || path.endsWith('/') || !keep(path)) continue;
      files.push({ location, path, size: object.Size ?? 0, etag: object.ETag, lastModified: object.LastModified });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return files;
}

async function listDirectory(location: Extract<ModelsLocation, { kind: 'directory' }>, keep: (path: string) => boolean, skipped: string[]): Promise<ListedFile[]> {
  const files: ListedFile[] = [];
  const walk = async (relative: string[]): Promise<void> => {
    let entries;
    try {
      entries = await readdir(join(location.path, ...relative), { withFileTypes: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && relative.length === 0) throw new BackupNotFoundError(`the directory ${location.path} does not exist.`, { component: COMPONENT, hint: 'Check backup.sources.models.paths (on Fargate, the EFS mount).' });
      if (code === 'EACCES' || code === 'EPERM') throw new AccessDeniedError(`cannot read ${join(location.path, ...relative)} (${code}).`, { component: COMPONENT });
      throw new StorageError(`cannot list ${join(location.path, ...relative)}: ${(error as Error).message}`, { component: COMPONENT });
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const parts = [...relative, entry.name];
      const path = parts.join('/');
      if (entry.isDirectory()) await walk(parts);
      else if (entry.isFile()) {
        if (!keep(path)) continue;
        const stat = await lstat(join(location.path, ...parts));
        files.push({ location, path, size: stat.size, mtimeMs: stat.mtimeMs });
      } else skipped.push(`${location.path}/${path}`);
    }
  };
  await walk([]);
  return files;
}

export async function listFiles(s3: S3Client, source: ModelsSourceConfig): Promise<Listing> {
  const keep = fileFilter(source);
  const skipped: string[] = [];
  const files: ListedFile[] = [];
  for (const location of source.paths) {
    files.push(...(location.kind === 's3' ? await listS3(s3, location, keep) : await listDirectory(location, keep, skipped)));
  }
  return { files, skipped };
}

/** The source object's version id and SHA-256 (when it was stored with one over the whole object). */
export async function headSource(s3: S3Client, bucket: string, key: string): Promise<{ versionId?: string; etag?: string; sha256?: string; size: number }> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
    const full = head.ChecksumSHA256 && !head.ChecksumSHA256.includes('-') && head.ChecksumType !== 'COMPOSITE';
    return {
      versionId: head.VersionId && head.VersionId !== 'null' ? head.VersionId : undefined,
      etag: head.ETag,
      sha256: full ? Buffer.from(head.ChecksumSHA256!, 'base64').toString('hex') : undefined,
      size: head.ContentLength ?? 0,
    };
  } catch (error) {
    throw classifyS3Error(error, `reading s3://${bucket}/${key}`, { component: COMPONENT });
  }
}
