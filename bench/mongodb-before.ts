/**
 * The bench's baseline restore (bench/mongodb.ts): the mongodb restore as it was before issue 16 (commit
 * 7330a25, functions/components/mongodb/restore.ts), unchanged but for its imports: one entry after
 * another, one insertMany batch (1000 documents or 16 MiB) in flight at a time, indexes after each
 * collection. It reads format-1 archives only. Not used by the product.
 */
import { randomBytes } from 'node:crypto';
import { finished } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BSON, MongoError, type Db } from 'mongodb';
import { BackupNotFoundError, IntegrityError, InvalidInputError, NcaBackupError, TransientError } from '../functions/core/errors';
import type { ArtifactSource, ComponentRestoreResult, Logger } from '../functions/components/types';
import { ARCHIVE_CONTENT_TYPE, ArchiveFormatError, bsonDocuments, classifyEntry, parseMetadataJson, type CollectionMetadata } from '../functions/components/mongodb/archive';
import { collectionNames, RESTORE_STAGING_PREFIX } from '../functions/components/mongodb/collections';
import { COMPONENT, describeTarget, withClient, type MongoTarget } from '../functions/components/mongodb/connection';
import { insertable } from '../functions/components/mongodb/documents';
import type { MongoRestoreOptions } from '../functions/components/mongodb/options';

type TarEntry = tar.ExtractEvents['entry'][1];
/** A tar entry's bytes (streamx yields Buffers; its types say `any`). */
const bytesOf = (entry: TarEntry) => entry as unknown as AsyncIterable<Buffer>;

const BATCH_DOCUMENTS = 1000;
const BATCH_BYTES = 16 * 1024 * 1024;
/** A metadata.json larger than this is not one mongodump wrote. */
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
  documents: number;
  indexes: number;
}

/** One restore run: what the archive holds, what is selected, and the staging collections written so far. */
class StagedRestore {
  private readonly metadata = new Map<string, CollectionMetadata>();
  /** Escaped file name → collection name, from the metadata files. */
  private readonly files = new Map<string, string>();
  private directory?: string;
  private selected?: ReadonlySet<string>;
  readonly staged: Staged[] = [];
  private readonly runId = randomBytes(4).toString('hex');

  constructor(
    private readonly db: Db,
    private readonly wanted: readonly string[] | undefined,
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

  async entry(entry: TarEntry): Promise<void> {
    const kind = classifyEntry(entry.header.name, entry.header.type);
    if (kind.kind === 'directory') return drain(bytesOf(entry));
    // Format 1 has no format entry (classifyEntry never says so for version 1): narrows the type only.
    if (kind.kind === 'format') throw new ArchiveFormatError('a format-2 archive: the baseline reads format 1 only.', { component: COMPONENT });
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
    await this.stage(this.metadata.get(name)!, entry);
  }

  private async stage(meta: CollectionMetadata, entry: TarEntry): Promise<void> {
    const staged: Staged = { collection: meta.name, staging: `${RESTORE_STAGING_PREFIX}${this.runId}_${this.staged.length}`, documents: 0, indexes: 0 };
    // The raw create command takes every option listCollections reported, as mongorestore does.
    await this.db.command({ create: staged.staging, ...meta.options });
    this.staged.push(staged);
    const collection = this.db.collection(staged.staging);
    let batch: ReturnType<typeof insertable>[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      // Maps keep field order (documents.ts); the driver serializes them like documents. Every document
      // already has its _id, so the driver must not try to add one.
      const result = await collection.insertMany(batch as unknown as BSON.Document[], { ordered: false, bypassDocumentValidation: true, forceServerObjectId: true });
      staged.documents += result.insertedCount;
      batch = [];
      bytes = 0;
    };
    for await (const doc of bsonDocuments(bytesOf(entry), entry.header.name)) {
      batch.push(insertable(doc));
      bytes += doc.length;
      if (batch.length >= BATCH_DOCUMENTS || bytes >= BATCH_BYTES) await flush();
    }
    await flush();
    // mongorestore drops `v` (the server picks its index version) and `ns` (obsolete) likewise.
    const indexes = meta.indexes.filter((index) => index.name !== '_id_').map(({ v: _v, ns: _ns, ...spec }) => spec);
    if (indexes.length) await this.db.command({ createIndexes: staged.staging, indexes });
    staged.indexes = indexes.length;
    this.log.info('collection staged', { collection: meta.name, documents: staged.documents, indexes: staged.indexes });
  }

  /** After the last entry: every selected collection must have had its data file. */
  finish(): void {
    const selected = this.select();
    const stagedNames = new Set(this.staged.map((s) => s.collection));
    const absent = [...selected].filter((name) => !stagedNames.has(name));
    if (absent.length) throw new ArchiveFormatError(`the archive has no data file for ${absent.join(', ')}.`, { component: COMPONENT });
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

export async function restoreMongoBefore(source: ArtifactSource, target: MongoTarget, options: MongoRestoreOptions, log: Logger): Promise<ComponentRestoreResult> {
  const artifact = source.artifacts.find((a) => a.contentType === ARCHIVE_CONTENT_TYPE) ?? source.artifacts.find((a) => a.name.endsWith('.tar'));
  if (!artifact) throw new BackupNotFoundError('the backup holds no MongoDB archive (.tar).', { component: COMPONENT });

  return withClient(target, 'restoring', async (client) => {
    const db = client.db(target.database);
    const run = new StagedRestore(db, options.collections, log);
    log.info('mongodb restore started', { target: describeTarget(target), artifact: artifact.name, bytes: artifact.bytes, collections: options.collections ?? 'all' });
    const input = source.open(artifact.name);
    const extract = tar.extract();
    input.on('error', (error) => extract.destroy(error));
    input.pipe(extract as unknown as NodeJS.WritableStream);
    try {
      for await (const entry of extract) await run.entry(entry);
      // The extract ends only after the input ended, i.e. after the artifact's SHA-256 matched.
      if (!input.readableEnded || input.errored) throw new IntegrityError(`artifact ${artifact.name} did not end cleanly.`, { component: COMPONENT });
      run.finish();
    } catch (error) {
      extract.destroy();
      await run.dropStaging();
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
