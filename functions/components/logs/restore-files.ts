/**
 * A restore to files: the events of one log group in the Athena layout (athena.ts), one gzip JSON Lines
 * file (format.ts's writer, so the bytes are those a backup writes) per partition of the UTC date of the
 * event timestamp, into an S3 bucket and prefix or a local directory.
 *
 * STREAMING. Events come in timestamp order (format.ts's reader refuses any other), so a partition's
 * events are consecutive: one file is open at a time, written as the events are read, and nothing is held
 * but the writer's buffers. Given events out of order anyway, a new file starts whenever the date changes
 * or an event is stamped before the one preceding it: each file stays in timestamp order (the writer
 * refuses anything else) and the restore stays correct, only with more (smaller) files in a partition.
 *
 * FILE NAMES. `<name>-<nnnnn>.jsonl.gz`, numbered in the order written; `name` is the engine's (the backup
 * id, say), so restoring the same backup again writes the same keys with the same content, and restores of
 * two backups into one prefix sit side by side. S3 writes carry the SSE parameters given; a directory file
 * is written to a temporary name beside it and renamed into place when complete, so a reader never sees
 * half a file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { Upload } from '@aws-sdk/lib-storage';
import { InvalidInputError, NcaBackupError, StorageError } from '../../core/errors';
import { classifyS3Error } from '../../core/s3-errors';
import { athenaKey, metricsKey, partitionDate } from './athena';
import { writeDatapoints, writeEvents, type ArtifactStats, type LogEvent, type MetricDatapoint } from './format';

const COMPONENT = 'logs';

/** Where restored files go. Keys are relative (athena.ts's, under `prefix`); the sink adds its own root. */
export interface FileSink {
  /** The key prefix the Athena layout starts under ("" or "restores/"). */
  readonly prefix: string;
  /** Where a key ends up, for reports and errors (`s3://bucket/key` or a path). */
  locate(key: string): string;
  /** Stores `body` under `key` complete or not at all; returns the bytes stored. */
  write(key: string, body: Readable): Promise<number>;
  /** Every key under `keyPrefix` (relative keys, as written): what a verification reads back. */
  list(keyPrefix: string): Promise<string[]>;
  /** A stored file's bytes. */
  open(key: string): Promise<Readable>;
}

export interface S3SinkOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** @default "" */
  readonly prefix?: string;
  /** The SSE parameters of every PutObject (e.g. `{ ServerSideEncryption: 'aws:kms', SSEKMSKeyId, BucketKeyEnabled: true }`). @default none (the bucket's default encryption) */
  readonly encryption?: { readonly ServerSideEncryption: 'aws:kms' | 'AES256'; readonly SSEKMSKeyId?: string; readonly BucketKeyEnabled?: boolean };
  /** @default 8 MiB */
  readonly partSizeBytes?: number;
}

/** Counts the bytes that pass. */
class ByteCounter extends Transform {
  bytes = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    done(null, chunk);
  }
}

export function s3FileSink(options: S3SinkOptions): FileSink {
  const prefix = options.prefix ?? '';
  return {
    prefix,
    locate: (key) => `s3://${options.bucket}/${key}`,
    async write(key, body) {
      const counter = new ByteCounter();
      const upload = new Upload({
        client: options.client,
        params: { Bucket: options.bucket, Key: key, Body: counter, ContentType: 'application/gzip', ...options.encryption },
        partSize: options.partSizeBytes ?? 8 * 1024 * 1024,
        queueSize: 1,
        leavePartsOnError: false,
      });
      // Either side failing fails the write; a failing source aborts the upload, so no object appears.
      const feeding = pipeline(body, counter).catch(async (error: unknown) => {
        await upload.abort().catch(() => undefined);
        throw error;
      });
      const uploading = upload.done().catch((error: unknown) => {
        const failure = classifyS3Error(error, `writing s3://${options.bucket}/${key}`, { component: COMPONENT });
        counter.destroy(failure);
        throw failure;
      });
      const [fed, uploaded] = await Promise.allSettled([feeding, uploading]);
      if (fed.status === 'rejected' && !(uploaded.status === 'rejected' && fed.reason === uploaded.reason)) throw fed.reason;
      if (uploaded.status === 'rejected') throw uploaded.reason;
      return counter.bytes;
    },
    async list(keyPrefix) {
      const keys: string[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await options.client.send(new ListObjectsV2Command({ Bucket: options.bucket, Prefix: keyPrefix, ContinuationToken: token }));
          keys.push(...(page.Contents ?? []).map((o) => o.Key!).filter(Boolean));
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        throw classifyS3Error(error, `listing s3://${options.bucket}/${keyPrefix}`, { component: COMPONENT });
      }
      return keys;
    },
    async open(key) {
      try {
        return (await options.client.send(new GetObjectCommand({ Bucket: options.bucket, Key: key }))).Body as Readable;
      } catch (error) {
        throw classifyS3Error(error, `reading s3://${options.bucket}/${key}`, { component: COMPONENT });
      }
    },
  };
}

export function directoryFileSink(directory: string): FileSink {
  const root = resolve(directory);
  const pathOf = (key: string) => join(root, ...key.split('/'));
  return {
    prefix: '',
    locate: pathOf,
    async write(key, body) {
      const destination = pathOf(key);
      await mkdir(dirname(destination), { recursive: true });
      const temporary = join(dirname(destination), `.${randomBytes(6).toString('hex')}.nca-restore`);
      const counter = new ByteCounter();
      try {
        await pipeline(body, counter, createWriteStream(temporary, { flags: 'wx' }));
        await rename(temporary, destination);
      } catch (error) {
        await rm(temporary, { force: true });
        if (error instanceof NcaBackupError) throw error;
        throw Object.assign(new StorageError(`writing ${destination} failed: ${(error as Error).message}; the file was not written.`, { component: COMPONENT }), { cause: error });
      }
      return counter.bytes;
    },
    async list(keyPrefix) {
      const base = pathOf(keyPrefix.replace(/\/$/, ''));
      const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw error;
      });
      return entries
        .filter((e) => e.isFile() && !e.name.startsWith('.'))
        .map((e) => join(e.parentPath, e.name).slice(root.length + 1).split(/[\\/]/).join('/'))
        .sort();
    },
    async open(key) {
      return createReadStream(pathOf(key));
    },
  };
}

export interface FilesRestoreOptions {
  /** The files' name before their number: the engine's (a backup id). @default "events" */
  readonly name?: string;
  readonly backupId?: string;
}

export interface RestoredFile {
  /** The key under the sink (athena.ts's layout), and where it is. */
  readonly key: string;
  readonly location: string;
  /** The `dt` partition. */
  readonly date: string;
  readonly count: number;
  /** Stored (gzip) bytes. */
  readonly bytes: number;
  /** JSON Lines bytes before compression. */
  readonly uncompressedBytes: number;
  readonly firstTimestamp: number;
  readonly lastTimestamp: number;
}

export interface FilesRestoreResult {
  readonly logGroup: string;
  readonly files: readonly RestoredFile[];
  readonly events: number;
}

interface Partitioned<T> {
  /** The key of a file whose first value is stamped `timestamp`. */
  readonly keyOf: (timestamp: number, file: string) => string;
  readonly write: (values: AsyncIterable<T>, artifact: string) => { body: Readable; stats: ArtifactStats };
}

async function writePartitioned<T extends { readonly timestamp: number }>(sink: FileSink, values: AsyncIterable<T> | Iterable<T>, how: Partitioned<T>, options: FilesRestoreOptions): Promise<RestoredFile[]> {
  const name = options.name ?? 'events';
  if (!/^[A-Za-z0-9._-]{1,180}$/.test(name) || name.startsWith('.')) {
    throw new InvalidInputError(`the file name ${JSON.stringify(name)} is not 1 to 180 of A-Z a-z 0-9 . _ - (not starting with a dot).`, { component: COMPONENT, backupId: options.backupId });
  }
  const iterator = (Symbol.asyncIterator in values ? values[Symbol.asyncIterator]() : (values as Iterable<T>)[Symbol.iterator]()) as AsyncIterator<T> | Iterator<T>;
  const files: RestoredFile[] = [];
  try {
    let next = await iterator.next();
    while (!next.done) {
      const first = next.value;
      const date = partitionDate(first.timestamp);
      const key = how.keyOf(first.timestamp, `${name}-${String(files.length + 1).padStart(5, '0')}.jsonl.gz`);
      // This file's values: those that follow in the same date and in order; the first other one opens the next file.
      async function* partition(): AsyncGenerator<T> {
        let previous = -Infinity;
        while (!next.done && next.value.timestamp >= previous && partitionDate(next.value.timestamp) === date) {
          previous = next.value.timestamp;
          yield next.value;
          next = await iterator.next();
        }
      }
      const { body, stats } = how.write(partition(), sink.locate(key));
      const bytes = await sink.write(key, body);
      files.push({ key, location: sink.locate(key), date, count: stats.count, bytes, uncompressedBytes: stats.bytes, firstTimestamp: stats.firstTimestamp ?? first.timestamp, lastTimestamp: stats.lastTimestamp ?? first.timestamp });
    }
  } finally {
    // A failed write leaves the source unread: close it (an artifact's download, say).
    await iterator.return?.();
  }
  return files;
}

/** Writes one log group's events as Athena partition files through `sink`; returns the files with their counts and bytes. */
export async function restoreToFiles(sink: FileSink, events: AsyncIterable<LogEvent> | Iterable<LogEvent>, logGroup: string, options: FilesRestoreOptions = {}): Promise<FilesRestoreResult> {
  const files = await writePartitioned(sink, events, { keyOf: (t, file) => athenaKey(sink.prefix, logGroup, t, file), write: (values, artifact) => writeEvents(values, { artifact }) }, options);
  return { logGroup, files, events: files.reduce((sum, f) => sum + f.count, 0) };
}

/** Writes one metric set's datapoints, partitioned like events (athena.ts metricsKey), in the backup's format. */
export async function restoreDatapointsToFiles(sink: FileSink, datapoints: AsyncIterable<MetricDatapoint> | Iterable<MetricDatapoint>, metricSet: string, options: FilesRestoreOptions = {}): Promise<{ metricSet: string; files: readonly RestoredFile[]; datapoints: number }> {
  const files = await writePartitioned(sink, datapoints, { keyOf: (t, file) => metricsKey(sink.prefix, metricSet, t, file), write: (values, artifact) => writeDatapoints(values, { artifact }) }, options);
  return { metricSet, files, datapoints: files.reduce((sum, f) => sum + f.count, 0) };
}
