/**
 * Which collections of a database a backup covers, with what mongodump records of each: options and
 * indexes with their BSON types as the server reports them. Views, time-series collections and system.*
 * collections are left out (and named in the backup report): they are not plain document collections.
 */
import { BSON, type Db, type Document } from 'mongodb';
import { InvalidInputError } from '../../core/errors';
import { checkCollectionName, type CollectionMetadata } from './archive';
import { COMPONENT } from './connection';

/** Keep Int32/Long/Double as they are: metadata.json records types, and its digest compares them. */
const EXACT: BSON.DeserializeOptions = { promoteValues: false, promoteLongs: false, promoteBuffers: false, bsonRegExp: true };

/** Prefix of the staging collections a restore writes before swapping them in. */
export const RESTORE_STAGING_PREFIX = 'nca_restore_';

export interface SkippedCollection {
  readonly name: string;
  readonly type: string;
  readonly reason: string;
}

interface CollectionInfo {
  name: string;
  type?: string;
  options?: Document;
  info?: { uuid?: BSON.Binary };
}

function skipReason(info: CollectionInfo): string | undefined {
  if (info.name.startsWith('system.')) return 'system collection';
  if (info.name.startsWith(RESTORE_STAGING_PREFIX)) return 'staging collection of an unfinished restore';
  if ((info.type ?? 'collection') !== 'collection') return `a ${info.type}, not a document collection`;
  return undefined;
}

/** Names of the user collections of a database (no views, system or staging collections), sorted. */
export async function collectionNames(db: Db): Promise<string[]> {
  const infos = (await db.listCollections({}, { nameOnly: true }).toArray()) as CollectionInfo[];
  return infos.filter((info) => !skipReason(info)).map((info) => info.name).sort();
}

export interface CollectionSet {
  readonly collections: CollectionMetadata[];
  readonly skipped: SkippedCollection[];
}

/**
 * The collections to back up: `wanted` (configured in sources.mongodb.collections; each must exist), or
 * every document collection. Sorted by name, so archives and fingerprints list them in one order.
 */
export async function readCollections(db: Db, wanted?: readonly string[]): Promise<CollectionSet> {
  const infos = (await db.listCollections({}, EXACT).toArray()) as CollectionInfo[];
  const skipped: SkippedCollection[] = [];
  let chosen: CollectionInfo[];
  if (wanted) {
    const byName = new Map(infos.map((info) => [info.name, info]));
    const missing = wanted.filter((name) => !byName.has(name));
    if (missing.length) {
      throw new InvalidInputError(`sources.mongodb.collections names ${missing.map((m) => `"${m}"`).join(', ')}, not in database ${db.databaseName}.`, {
        component: COMPONENT,
        hint: `Existing collections: ${infos.map((i) => i.name).sort().join(', ') || 'none'}.`,
      });
    }
    chosen = wanted.map((name) => byName.get(name)!);
    const refused = chosen.filter((info) => (info.type ?? 'collection') !== 'collection');
    if (refused.length) {
      throw new InvalidInputError(`sources.mongodb.collections names ${refused.map((r) => `"${r.name}" (${r.type})`).join(', ')}: only document collections can be backed up.`, { component: COMPONENT });
    }
  } else {
    chosen = [];
    for (const info of infos) {
      const reason = skipReason(info);
      if (reason) skipped.push({ name: info.name, type: info.type ?? 'collection', reason });
      else chosen.push(info);
    }
  }
  chosen.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  chosen.forEach((info) => checkCollectionName(info.name));
  const collections: CollectionMetadata[] = [];
  for (const info of chosen) {
    const indexes = await db.collection(info.name).listIndexes(EXACT).toArray();
    const uuid = info.info?.uuid;
    collections.push({
      name: info.name,
      type: info.type ?? 'collection',
      options: info.options ?? {},
      indexes,
      ...(uuid ? { uuid: Buffer.from(uuid.buffer).toString('hex') } : {}),
    });
  }
  return { collections, skipped };
}
