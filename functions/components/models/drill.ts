/**
 * What a restore drill (core/drill.ts) needs of the models component: a sandbox location beside the
 * configured ones that the restore's own `options.target` writes into, a sample read (a restored file's
 * bytes hashed against the backup's index), and the sandbox's removal.
 *
 * The sandbox: `verification.sandbox.models.target` (an S3 URL or a directory) when configured; else, beside
 * the first configured location, `s3://<its bucket>/nca-drill/<drill id>/` or the directory
 * `<its parent>/nca-drill-<drill id>`. A sandbox that shares a file with a configured location is refused.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { InvalidInputError } from '../../core/errors';
import { classifyS3Error } from '../../core/s3-errors';
import type { ArtifactSource, DrillSampleResult, DrillSandbox } from '../types';
import type { ModelsTarget } from './backup';
import { checksumOf } from './checksum';
import { limitsOf } from './copy';
import { locate } from './files';
import { INDEX_ARTIFACT, readIndex } from './index-file';
import { locationsOverlap, parseModelsLocation } from './options';
import { locationUrl, type ModelsLocation, type ModelsSourceConfig } from './source';

const COMPONENT = 'models';

function sandboxLocation(source: ModelsSourceConfig, drillId: string, configured: unknown): ModelsLocation {
  if (typeof configured === 'string') {
    const location = parseModelsLocation(configured);
    if ('problem' in location) throw new InvalidInputError(`backup.verification.sandbox.models.target '${configured}' ${location.problem}.`, { component: COMPONENT });
    return location;
  }
  const [first] = source.paths;
  if (!first) throw new InvalidInputError('backup.sources.models names no location to put a drill sandbox beside.', { component: COMPONENT });
  const id = drillId.toLowerCase();
  return first.kind === 's3' ? { kind: 's3', bucket: first.bucket, prefix: `nca-drill/${id}/` } : { kind: 'directory', path: join(dirname(first.path), `nca-drill-${id}`) };
}

export function modelsSandbox(request: { readonly drillId: string; readonly source: unknown; readonly override: Readonly<Record<string, unknown>> }): DrillSandbox {
  const source = request.source as ModelsSourceConfig;
  const location = sandboxLocation(source, request.drillId, request.override.target);
  const clash = source.paths.find((path) => locationsOverlap(path, location));
  if (clash) {
    throw new InvalidInputError(`the drill's sandbox ${locationUrl(location)} shares files with the configured location ${locationUrl(clash)}: a drill never writes there. Nothing was written.`, {
      component: COMPONENT,
      hint: 'Set backup.verification.sandbox.models.target to a location outside every configured one.',
    });
  }
  return { name: locationUrl(location), source, options: { target: locationUrl(location) } };
}

/** Each location as a place: a sandbox is refused when it is one of them (overlaps are refused by modelsSandbox). */
export const modelsPlaces = (target: ModelsTarget) => target.source.paths.map((path) => ({ store: 'models location', server: path.kind === 's3' ? 's3' : 'file system', database: locationUrl(path) }));

/** The smallest restored file, read back whole from the sandbox and hashed: its checksum must be the backup index's. */
export async function sampleModels({ target, source }: { readonly target: ModelsTarget; readonly source: ArtifactSource }): Promise<DrillSampleResult> {
  const files = await readIndex(source.open(INDEX_ARTIFACT), { component: COMPONENT, backupId: source.backup?.backupId });
  if (files.length === 0) return { problem: 'the backup holds no model file' };
  const [location] = target.source.paths;
  const file = files.reduce((a, b) => (b.size < a.size ? b : a));
  const where = locate(location, file.path);
  let body: Readable;
  try {
    body = location.kind === 's3' ? ((await target.s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: where }))).Body as Readable) : createReadStream(where);
  } catch (error) {
    throw classifyS3Error(error, `reading ${locationUrl(location)}${file.path} back`, { component: COMPONENT });
  }
  const read = await checksumOf(body, file.size, limitsOf(file.checksum, target.limits));
  if (read.bytes !== file.size || read.checksum.digest !== file.checksum.digest) {
    return { problem: `${file.path} read back as ${read.bytes} bytes with checksum ${read.checksum.digest}; the backup's index says ${file.size} bytes, ${file.checksum.digest}` };
  }
  return { read: `${file.path} (${file.size} bytes) read back, its ${file.checksum.algorithm} as in the backup` };
}

/** Deletes every file under the sandbox location(s): objects under the S3 prefix, or the directory. */
export async function dropModelsSandbox(target: ModelsTarget): Promise<void> {
  for (const location of target.source.paths) {
    if (location.kind === 'directory') {
      if (location.path === '/') throw new InvalidInputError('a drill sandbox is never the root directory.', { component: COMPONENT });
      await rm(location.path, { recursive: true, force: true });
      continue;
    }
    // A whole bucket is never a sandbox: the drill always names a prefix.
    if (location.prefix === '') throw new InvalidInputError(`a drill sandbox is never a whole bucket (${locationUrl(location)}).`, { component: COMPONENT });
    try {
      let listed;
      do {
        listed = await target.s3.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix }));
        const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length > 0) await target.s3.send(new DeleteObjectsCommand({ Bucket: location.bucket, Delete: { Objects: keys, Quiet: true } }));
      } while (listed.IsTruncated);
    } catch (error) {
      throw classifyS3Error(error, `deleting the drill sandbox ${locationUrl(location)}`, { component: COMPONENT });
    }
  }
}
