/**
 * The restore, through the driver: the verified archive stream is read entry by entry (either format,
 * archive.ts), every collection's documents go into a staging collection (created with the backed-up
 * options; unordered insertMany batches of 1000 documents or 4 MiB, up to parallelStreams() batches at
 * once across all collections, within IN_FLIGHT_BYTES; then, once the collection's data is all in, its
 * indexes from metadata.json), and only when the whole stream has passed its SHA-256 check and every
 * batch and index build has ended are the staging collections renamed over their targets
 * (renameCollection with dropTarget). So:
 * - a damaged artifact, a refused document, a failed index build or a lost connection while streaming
 *   leaves every target collection as it was: the batches still running are waited for, then every
 *   staging collection is dropped (a batch ending after the drop would recreate its collection);
 * - collections of the target database that are not restored are never touched;
 * - the swap itself is one rename per collection, atomic per collection but not across collections:
 *   if it fails part-way, the error names the collections already replaced.
 * The staging collections need as much space as the restored data while the restore runs; a restore
 * killed outright can leave `nca_restore_*` collections behind, which are safe to drop.
 */
import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BSON, MongoError, type Db } from 'mongodb';
import { BackupNotFoundError, IntegrityError, InvalidInputError, NcaBackupError, TransientError } from '../../core/errors';
import { parallelStreams } from '../../core/streams';
import type { ArtifactSource, ComponentRestoreResult, Logger } from '../types';
import {
  ARCHIVE_CONTENT_TYPE,
  ArchiveFormatError,
  bsonDocuments,
  classifyEntry,
  FORMAT_ENTRY,
  parseDoneJson,
  parseFormatJson,
  parseMetadataJson,
  type ArchiveEntry,
  type CollectionMetadata,
} from './archive';
import { collectionNames, RESTORE_STAGING_PREFIX } from './collections';
import { COMPONENT, describeTarget, withClient, type MongoTarget } from './connection';
import { insertable } from './documents';
import { InsertPool } from './insert-pool';
import type { MongoRestoreOptions } from './options';

type TarEntry = tar.ExtractEvents['entry'][1];
/** A tar entry's bytes (streamx yields Buffers; its types say `any`). */
const bytesOf = (entry: TarEntry) => entry as unknown as AsyncIterable<Buffer>;

const BATCH_DOCUMENTS = 1000;
/** Smaller than the 16 MiB of one batch at a time: several are decoded and in flight at once. */
const BATCH_BYTES = 4 * 1024 * 1024;
/** Raw bytes of the batches in flight together (a larger single document still goes, alone). */
const IN_FLIGHT_BYTES = 32 * 1024 * 1024;
/** A metadata.json (or a format or done file) larger than this is not one nca-backup wrote. */
const MAX_METADATA_BYTES = 16 * 1024 * 1024;

async function readText(entry: AsyncIterable<Buffer>, name: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of entry) {
    size += chunk.length;
    if (size > MAX_METADATA_BYTES) throw new ArchiveFormatError(`${name} is larger than ${MAX_METADATA_BYTES} bytes.`, { component: COMPONENT });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function drain(entry: AsyncIterable<Buffer>): Promise<void> {
  for await (const _chunk of entry); // eslint-disable-line @typescript-eslint/no-unused-vars
}

interface Staged {
  readonly collection: string;
  readonly staging: string;
  /** Inserted by the server. */
  documents: number;
  indexes: number;
  /** Read from the archive (format 2 checks them against the collection's done file). */
  read: number;
  bytes: number;
  parts: number;
  /** Its insert batches, started or ended. */
  readonly batches: Promise<void>[];
  /** Documents read and not yet in a batch: a batch runs on across parts. */
  pending: Buffer[];
  pendingBytes: number;
  complete: boolean;
}

/** One restore run: what the archive holds, what is selected, and the staging collections written so far. */
class StagedRestore {
  private readonly metadata = new Map<string, CollectionMetadata>();
  /** Escaped file name → collection name, from the metadata files. */
  private readonly files = new Map<string, string>();
  private directory?: string;
  private selected?: ReadonlySet<string>;
  /** The archive's format, known from its first entry. */
  private version?: number;
  readonly staged: Staged[] = [];
  private readonly byName = new Map<string, Staged>();
  /** Each collection's end: its batches ended, then its indexes built. */
  private readonly completions: Promise<void>[] = [];
  private readonly pool = new InsertPool(parallelStreams(), IN_FLIGHT_BYTES);
  private readonly runId = randomBytes(4).toString('hex');

  constructor(
    private readonly db: Db,
    private readonly wanted: readonly string[] | undefined,
    /** The manifest's source.formatVersion, when the manifest is at hand (absent in backups before format 2). */
    private readonly recordedVersion: number | undefined,
    private readonly log: Logger,
  ) {}

  /** The collections to restore; checked once every metadata file is known, before the first write. */
  private select(): ReadonlySet<string> {
    if (!this.selected) {
      const missing = (this.wanted ?? []).filter((name) => !this.metadata.has(name));
      if (missing.length) {
        throw new InvalidInputError(`options.collections names ${missing.map((m) => `"${m}"`).join(', ')}, not in this backup.`, {
          component: COMPONENT,
          hint: `The backup holds: ${[...this.metadata.keys()].join(', ') || 'no collections'}.`,
        });
      }
      this.selected = new Set(this.wanted ?? this.metadata.keys());
    }
    return this.selected;
  }

  /** Format 2 starts with its format entry; an archive without one is format 1 (written before issue 16). */
  private async formatOf(entry: TarEntry): Promise<number> {
    const version = entry.header.name === FORMAT_ENTRY ? parseFormatJson(await readText(bytesOf(entry), FORMAT_ENTRY)).version : 1;
    if (this.recordedVersion !== undefined && this.recordedVersion !== version) {
      throw new ArchiveFormatError(`the manifest records archive format ${this.recordedVersion}, the archive is format ${version}.`, { component: COMPONENT });
    }
    return version;
  }

  async entry(entry: TarEntry): Promise<void> {
    if (this.version === undefined) {
      this.version = await this.formatOf(entry);
      if (this.version > 1) return;
    }
    const kind = classifyEntry(entry.header.name, entry.header.type, this.version);
    if (kind.kind === 'directory') return drain(bytesOf(entry));
    if (kind.kind === 'format') throw new ArchiveFormatError(`${FORMAT_ENTRY} appears twice in the archive.`, { component: COMPONENT });
    if (this.directory !== undefined && kind.directory !== this.directory) {
      throw new ArchiveFormatError(`the archive holds more than one database (${this.directory}, ${kind.directory}).`, { component: COMPONENT });
    }
    this.directory = kind.directory;
    if (kind.kind === 'metadata') {
      if (this.selected) throw new ArchiveFormatError(`${entry.header.name} comes after data files: this archive was not written by nca-backup.`, { component: COMPONENT });
      const meta = parseMetadataJson(await readText(bytesOf(entry), entry.header.name), entry.header.name);
      this.metadata.set(meta.name, meta);
      this.files.set(kind.file, meta.name);
      return;
    }
    const selected = this.select();
    const name = this.files.get(kind.file);
    if (name === undefined) throw new ArchiveFormatError(`${entry.header.name} has no metadata file before it.`, { component: COMPONENT });
    if (!selected.has(name)) return drain(bytesOf(entry));
    const staged = this.byName.get(name) ?? (await this.createStaging(this.metadata.get(name)!));
    if (staged.complete) throw new ArchiveFormatError(`${entry.header.name} comes after the end of collection "${name}".`, { component: COMPONENT });
    await this.data(staged, kind, entry);
  }

  private async data(staged: Staged, kind: ArchiveEntry, entry: TarEntry): Promise<void> {
    if (kind.kind === 'bson') {
      await this.insertAll(staged, entry);
      return this.complete(staged);
    }
    if (kind.kind === 'part') {
      if (kind.part !== staged.parts) {
        throw new ArchiveFormatError(`${entry.header.name} is part ${kind.part} of collection "${staged.collection}"; part ${staged.parts} was expected.`, { component: COMPONENT });
      }
      staged.parts++;
      return this.insertAll(staged, entry);
    }
    const done = parseDoneJson(await readText(bytesOf(entry), entry.header.name), entry.header.name);
    if (done.collectionName !== staged.collection || done.documents !== staged.read || done.bytes !== staged.bytes || done.parts !== staged.parts) {
      throw new ArchiveFormatError(
        `collection "${staged.collection}" ends with ${done.documents} documents, ${done.bytes} bytes in ${done.parts} parts recorded; the archive held ${staged.read}, ${staged.bytes} in ${staged.parts}.`,
        { component: COMPONENT },
      );
    }
    return this.complete(staged);
  }

  private async createStaging(meta: CollectionMetadata): Promise<Staged> {
    const staged: Staged = { collection: meta.name, staging: `${RESTORE_STAGING_PREFIX}${this.runId}_${this.staged.length}`, documents: 0, indexes: 0, read: 0, bytes: 0, parts: 0, batches: [], pending: [], pendingBytes: 0, complete: false };
    // Recorded before the create, so a failure after it still drops it.
    this.staged.push(staged);
    this.byName.set(meta.name, staged);
    // The raw create command takes every option listCollections reported, as mongorestore does.
    await this.db.command({ create: staged.staging, ...meta.options });
    return staged;
  }

  /** Starts the collection's batch so far, as room allows. */
  private async flush(staged: Staged): Promise<void> {
    if (staged.pending.length === 0) return;
    const docs = staged.pending;
    const size = staged.pendingBytes;
    staged.pending = [];
    staged.pendingBytes = 0;
    const collection = this.db.collection(staged.staging);
    const task = await this.pool.start(size, async () => {
      // Maps keep field order (documents.ts); the driver serializes them like documents. Every document
      // already has its _id, so the driver must not try to add one.
      const result = await collection.insertMany(docs.map(insertable) as unknown as BSON.Document[], { ordered: false, bypassDocumentValidation: true, forceServerObjectId: true });
      staged.documents += result.insertedCount;
    });
    staged.batches.push(task.ended);
  }

  /** Reads an entry's documents into the collection's batches (which run across its parts) and starts each full one. */
  private async insertAll(staged: Staged, entry: TarEntry): Promise<void> {
    for await (const doc of bsonDocuments(bytesOf(entry), entry.header.name)) {
      if (staged.pending.length > 0 && (staged.pending.length >= BATCH_DOCUMENTS || staged.pendingBytes + doc.length > BATCH_BYTES)) await this.flush(staged);
      staged.pending.push(doc);
      staged.pendingBytes += doc.length;
      staged.read++;
      staged.bytes += doc.length;
    }
  }

  /** All of a collection's data is read: its last batch starts; once all have ended, its indexes are built (not awaited here). */
  private async complete(staged: Staged): Promise<void> {
    staged.complete = true;
    await this.flush(staged);
    this.log.info('collection read', { collection: staged.collection, documents: staged.read, bytes: staged.bytes });
    const meta = this.metadata.get(staged.collection)!;
    // mongorestore drops `v` (the server picks its index version) and `ns` (obsolete) likewise.
    const indexes = meta.indexes.filter((index) => index.name !== '_id_').map(({ v: _v, ns: _ns, ...spec }) => spec);
    const built = Promise.all(staged.batches)
      .then(() =>
        this.pool.start(0, async () => {
          if (indexes.length) await this.db.command({ createIndexes: staged.staging, indexes });
          staged.indexes = indexes.length;
          this.log.info('collection staged', { collection: staged.collection, documents: staged.documents, indexes: staged.indexes });
        }),
      )
      .then((task) => task.ended);
    // A refused start means the pool failed already: drain() reports that failure.
    this.completions.push(built.catch(() => undefined));
  }

  /** After the last entry: every selected collection must be whole, its batches and indexes done. */
  async finish(): Promise<void> {
    const selected = this.select();
    const absent = [...selected].filter((name) => !this.byName.get(name)?.complete);
    if (absent.length) throw new ArchiveFormatError(`the archive has no ${this.version === 1 ? 'data file' : 'complete data'} for ${absent.join(', ')}.`, { component: COMPONENT });
    await Promise.all(this.completions);
    await this.pool.drain();
  }

  /** After a failure: no new writes, the running ones ended, then every staging collection dropped. */
  async abandon(error: unknown): Promise<void> {
    this.pool.close(error);
    await Promise.all(this.completions);
    await this.pool.settle();
    await this.dropStaging();
  }

  async dropStaging(from = 0): Promise<void> {
    for (const s of this.staged.slice(from)) await this.db.collection(s.staging).drop().catch(() => undefined);
  }

  /** Renames every staging collection over its target; returns whether any target existed before. */
  async swap(): Promise<boolean> {
    const existing = new Set(await collectionNames(this.db));
    for (const [i, s] of this.staged.entries()) {
      try {
        await this.db.renameCollection(s.staging, s.collection, { dropTarget: true });
      } catch (error) {
        await this.dropStaging(i);
        const replaced = this.staged.slice(0, i).map((d) => d.collection);
        throw new TransientError(
          `replacing collection "${s.collection}" failed (${(error as Error).message}); already replaced: ${replaced.join(', ') || 'none'}.`,
          {
            component: COMPONENT,
            hint: 'The collections already replaced hold the backup\'s documents; every other selected collection still holds what it held before. Repeating this restore once the server is reachable is safe: it replaces every selected collection again.',
          },
        );
      }
    }
    return this.staged.some((s) => existing.has(s.collection));
  }
}

/** Errors that may come from damaged bytes rather than from the server. */
function suspectsData(error: unknown): boolean {
  if (error instanceof ArchiveFormatError || error instanceof BSON.BSONError) return true;
  return !(error instanceof NcaBackupError || error instanceof MongoError);
}

/**
 * When the archive could not be parsed, the artifact's own SHA-256 check says more: drain what is left of
 * the verified stream and return its IntegrityError, if that is what it ends with.
 */
async function integrityFailure(input: Readable): Promise<IntegrityError | undefined> {
  const seen = input.errored;
  if (seen) return seen instanceof IntegrityError ? seen : undefined;
  if (input.readableEnded) return undefined;
  input.unpipe();
  input.resume();
  try {
    await finished(input);
    return undefined;
  } catch (error) {
    return error instanceof IntegrityError ? error : undefined;
  }
}

export async function restoreMongo(source: ArtifactSource, target: MongoTarget, options: MongoRestoreOptions, log: Logger): Promise<ComponentRestoreResult> {
  const artifact = source.artifacts.find((a) => a.contentType === ARCHIVE_CONTENT_TYPE) ?? source.artifacts.find((a) => a.name.endsWith('.tar'));
  if (!artifact) throw new BackupNotFoundError('the backup holds no MongoDB archive (.tar).', { component: COMPONENT });

  return withClient(target, 'restoring', async (client) => {
    const db = client.db(target.database);
    const recorded = source.backup?.source.formatVersion;
    const run = new StagedRestore(db, options.collections, typeof recorded === 'number' ? recorded : undefined, log);
    log.info('mongodb restore started', { target: describeTarget(target), artifact: artifact.name, bytes: artifact.bytes, collections: options.collections ?? 'all' });
    const input = source.open(artifact.name);
    const extract = tar.extract();
    input.on('error', (error) => extract.destroy(error));
    input.pipe(extract as unknown as NodeJS.WritableStream);
    try {
      for await (const entry of extract) await run.entry(entry);
      // The extract ends only after the input ended, i.e. after the artifact's SHA-256 matched.
      if (!input.readableEnded || input.errored) throw new IntegrityError(`artifact ${artifact.name} did not end cleanly.`, { component: COMPONENT });
      await run.finish();
    } catch (error) {
      extract.destroy();
      await run.abandon(error);
      const failure = (suspectsData(error) && (await integrityFailure(input))) || error;
      input.destroy(); // stop reading the artifact (an S3 GET otherwise stays open)
      throw failure;
    }
    const replacedExisting = await run.swap();
    const documents = run.staged.reduce((n, s) => n + s.documents, 0);
    log.info('mongodb restore completed', { target: describeTarget(target), collections: run.staged.length, documents });
    return {
      target: target.database,
      replacedExisting,
      details: {
        collections: run.staged.map((s) => s.collection),
        documents,
        indexes: run.staged.reduce((n, s) => n + s.indexes, 0),
      },
    };
  });
}
