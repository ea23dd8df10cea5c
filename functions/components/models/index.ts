/**
 * The models component (the runbook's model weights: fine-tuned weights, checkpoint states, training
 * artifacts). A backup stores each file's content once, as a content-addressed blob shared by every backup
 * that holds it (backup.ts), and writes a file index mapping each path to its blob (index-file.ts); a
 * restore copies blobs back, checked by checksum (restore.ts). Blobs are pruned by the janitor, never by a
 * worker.
 */
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { setting } from '../../../config/environment';
import { BackupNotFoundError, InvalidInputError } from '../../core/errors';
import { forEachLimit, mapLimit } from '../../core/parallel';
import { classifyS3Error } from '../../core/s3-errors';
import { createS3Client } from '../../core/storage';
import type { ArtifactSource, Component, ComponentEntry, RestoreTargetOptions, SourceInfo } from '../types';
import { backupFiles, type ModelsTarget } from './backup';
import { checksumOf } from './checksum';
import { COPY_OBJECT_LIMIT_BYTES, COPY_PART_BYTES, copyAlgorithm, hexChecksum, limitsOf, type CopyLimits } from './copy';
import { headSource, listFiles, locate, type ListedFile } from './files';
import { fingerprintFiles, INDEX_ARTIFACT, INDEX_CONTENT_TYPE, readIndex, writeIndex, type Checksum, type ModelFile } from './index-file';
import { checkBlobs, parseLocationUrl, placeFiles, refuseVaultOverlap, restoreFiles, type Placement } from './restore';
import { locationUrl, type ModelsLocation, type ModelsRestoreOptions } from './source';
import { dropModelsSandbox } from './drill';
import { noCapacityLimit } from '../room';

export type { ModelsTarget } from './backup';

const COMPONENT = 'models';
/** Files copied (or hashed) at once. */
export const MODELS_CONCURRENCY = 8;

export type ModelsComponentOptions = ModelsRestoreOptions & RestoreTargetOptions;

/** What a models backup records as its "database": the restore's default target name. */
const MODELS = 'models';

const describeLocations = (target: ModelsTarget): SourceInfo => ({
  // Object stores and file systems have no server version: the index format stands for them.
  serverVersion: 'files',
  serverMajor: 1,
  database: MODELS,
  locations: target.source.paths.map(locationUrl),
});

/** The options as given (a location as text or parsed) as the restore acts on them. */
function resolved(options: ModelsComponentOptions): ModelsRestoreOptions {
  const raw = options.target as ModelsLocation | string | undefined;
  const target = typeof raw === 'string' ? parseLocationUrl(raw) : raw;
  if (raw !== undefined && !target) throw new InvalidInputError(`options.target ${JSON.stringify(raw)} is neither s3://bucket/prefix/ nor an absolute directory.`, { component: COMPONENT });
  return { ...(options.paths ? { paths: options.paths } : {}), ...(target ? { target } : {}) };
}

/** A file's checksum as it is now, in the form its backup would record (S3's own SHA-256 when it has one, else read). */
async function currentChecksum(target: ModelsTarget, file: ListedFile): Promise<Checksum> {
  const where = locate(file.location, file.path);
  let body: Readable;
  if (file.location.kind === 's3') {
    const head = await headSource(target.s3, file.location.bucket, where);
    if (head.sha256 && copyAlgorithm(file.size, target.limits) === 'sha256') return { algorithm: 'sha256', digest: head.sha256 };
    body = (await target.s3.send(new GetObjectCommand({ Bucket: file.location.bucket, Key: where }))).Body as Readable;
  } else body = createReadStream(where);
  return (await checksumOf(body, file.size, target.limits)).checksum;
}

async function liveFiles(target: ModelsTarget): Promise<ModelFile[]> {
  const { files } = await listFiles(target.s3, target.source);
  return mapLimit(files, target.concurrency, async (file) => ({ location: locationUrl(file.location), path: file.path, size: file.size, checksum: await currentChecksum(target, file), source: {} }));
}

async function backupIndex(source: ArtifactSource): Promise<ModelFile[]> {
  if (!source.artifacts.some((a) => a.name === INDEX_ARTIFACT)) throw new BackupNotFoundError('the backup holds no file index.', { component: COMPONENT, backupId: source.backup?.backupId });
  return readIndex(source.open(INDEX_ARTIFACT), { component: COMPONENT, backupId: source.backup?.backupId });
}

async function placements(source: ArtifactSource, options: ModelsComponentOptions): Promise<Placement[]> {
  return placeFiles(await backupIndex(source), resolved(options), { backupId: source.backup?.backupId });
}

/** What a restored file holds now: its size and checksum, read from S3's checksum or from the file. */
async function restoredChecksum(target: ModelsTarget, p: Placement): Promise<{ size: number; checksum?: Checksum }> {
  const limits = limitsOf(p.file.checksum, target.limits);
  if (p.location.kind === 's3') {
    const head = await target.s3.send(new HeadObjectCommand({ Bucket: p.location.bucket, Key: p.destination, ChecksumMode: 'ENABLED' }));
    const size = head.ContentLength ?? 0;
    return { size, checksum: head.ChecksumSHA256 ? { algorithm: copyAlgorithm(size, limits), digest: hexChecksum(head.ChecksumSHA256) } : undefined };
  }
  const read = await checksumOf(createReadStream(p.destination), p.file.size, limits);
  return { size: read.bytes, checksum: read.checksum };
}

export const modelsComponent: Component<ModelsTarget, ModelsComponentOptions> = {
  name: 'models',
  group: 'model_weights',

  async describe(target) {
    return describeLocations(target);
  },

  async estimate(target) {
    const { files } = await listFiles(target.s3, target.source);
    return files.reduce((n, f) => n + f.size, 0);
  },

  async backup(target, sink, log) {
    const { files, stats, skipped } = await backupFiles(target, sink, log);
    const record = await sink.write(INDEX_ARTIFACT, writeIndex(files), { contentType: INDEX_CONTENT_TYPE });
    log.info('models backed up', { component: COMPONENT, backupId: sink.backupId, ...stats });
    return {
      artifacts: [record],
      fingerprint: fingerprintFiles(files),
      source: describeLocations(target),
      consistency: { pointInTime: false, method: 'each file copied as listed, pinned to its ETag (S3) or read twice (directory): a file replaced during the backup fails it' },
      report: { ...stats, skipped: skipped.length, locations: target.source.paths.map(locationUrl) },
    };
  },

  async fingerprint(target) {
    return fingerprintFiles(await liveFiles(target));
  },

  async checkCompatibility(source, _target, options) {
    // Where the files go: options.target, else each back to the location it was backed up from.
    const chosen = options ? resolved(options).target : undefined;
    const destinations = chosen ? [locationUrl(chosen)] : Array.isArray(source.locations) ? (source.locations as string[]) : [];
    const directories = destinations.filter((url) => url.startsWith('/'));
    return {
      targetVersion: 'files',
      room: directories.length
        ? { verdict: 'unknown', reason: `the free space of the directories ${directories.join(', ')} is not checked` }
        : noCapacityLimit('S3 holds no disk a restore fills'),
    };
  },

  async targetExists(target) {
    try {
      return (await listFiles(target.s3, target.source)).files.length > 0;
    } catch (error) {
      // A restore into a directory that does not exist yet replaces nothing.
      if (error instanceof BackupNotFoundError) return false;
      throw error;
    }
  },

  async restore(source, target, options, log) {
    const placed = await placements(source, options);
    const blobs = source.blobs;
    if (!blobs) throw new InvalidInputError('a models restore reads blobs: the engine gave it no blob store.', { component: COMPONENT });
    const backupId = source.backup?.backupId;
    refuseVaultOverlap(placed, blobs);
    await checkBlobs(target, blobs, placed, backupId);
    log.info('models restore checked: every blob present', { component: COMPONENT, backupId, files: placed.length });
    const done = await restoreFiles(target, blobs, placed, log, backupId);
    const locations = [...new Set(placed.map((p) => locationUrl(p.location)))];
    return { target: locations.join(', '), replacedExisting: true, details: { files: done.files, bytes: done.bytes, locations } };
  },

  async verifyRestore(_expected, source, target, options) {
    const placed = await placements(source, options);
    const differences: { object: string; problem: string }[] = [];
    await forEachLimit(placed, target.concurrency, async (p) => {
      const object = `${locationUrl(p.location)}${p.file.path}`;
      let now;
      try {
        now = await restoredChecksum(target, p);
      } catch (error) {
        differences.push({ object, problem: `cannot be read back (${classifyS3Error(error, 'reading').message.slice(0, 200)})` });
        return;
      }
      if (now.size !== p.file.size) differences.push({ object, problem: `holds ${now.size} bytes, the backup ${p.file.size}` });
      else if (!now.checksum) differences.push({ object, problem: 'has no SHA-256 checksum to compare' });
      else if (now.checksum.digest !== p.file.checksum.digest) differences.push({ object, problem: `checksum ${now.checksum.digest} differs from the backup's ${p.file.checksum.digest}` });
    });
    return { differences, objects: placed.length, details: { files: placed.length } };
  },

  /** A drill's sandbox location (retargeted by options.target): every file under it deleted. */
  dropTarget: (target) => dropModelsSandbox(target),
};

/** Copy limits of a run: S3's, or smaller ones a test sets to exercise multipart copies on small files. */
function limitsFrom(env: NodeJS.ProcessEnv): CopyLimits {
  const number = (name: 'modelsCopyLimitBytes' | 'modelsPartBytes', fallback: number) => {
    const text = setting(env, name);
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isSafeInteger(value) || value < 5 * 1024 * 1024) throw new InvalidInputError(`${name} ${JSON.stringify(text)} is not a whole number of bytes of at least 5 MiB (S3's smallest part).`, { component: COMPONENT });
    return value;
  };
  return { copyLimitBytes: number('modelsCopyLimitBytes', COPY_OBJECT_LIMIT_BYTES), partBytes: number('modelsPartBytes', COPY_PART_BYTES) };
}

export const modelsEntry: ComponentEntry<ModelsTarget, ModelsComponentOptions, 'models'> = {
  component: modelsComponent,
  connect: async (source, env) => ({
    source,
    s3: createS3Client({ endpoint: setting(env, 's3Endpoint') }),
    limits: limitsFrom(env),
    concurrency: MODELS_CONCURRENCY,
  }),
  retarget: (target, options) => {
    // The engine names the backed-up "database" as the default target: for models that is "models".
    if (options.targetDatabase !== undefined && options.targetDatabase !== MODELS) {
      throw new InvalidInputError(`targetDatabase cannot apply to model files.`, { component: COMPONENT, hint: 'Give options.target (an S3 URL or a directory) instead.' });
    }
    const to = resolved(options as ModelsComponentOptions).target;
    // A restore to another location backs up (safety) and verifies that location, all of it.
    return to ? { ...target, source: { paths: [to], include: ['**'], exclude: [] } } : target;
  },
};
