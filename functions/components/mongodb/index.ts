/**
 * The mongodb component (database group, episodic memory): every collection of the database as raw BSON
 * in mongodump's directory layout inside one tar (archive.ts), each collection read once, several at a time,
 * at one snapshot on a replica set (backup.ts, parts-writer.ts); restored through the driver with parallel
 * insert batches into staging collections swapped in once the artifact verified (restore.ts);
 * fingerprints per collection over the raw documents in _id order plus options and indexes (fingerprint.ts).
 */
import { VersionMismatchError } from '../../core/errors';
import { compareFingerprints } from '../../core/fingerprint-diff';
import type { ComponentEntry } from '../types';
import type { Component, Fingerprint, SourceInfo } from '../types';
import { backupMongo, sourceInfo } from './backup';
import { collectionNames, readCollections } from './collections';
import { COMPONENT, connectMongo, withClient, withDatabase, type MongoTarget } from './connection';
import { fingerprintCollectionNames, fingerprintCollections, METADATA_ENTRY_SUFFIX } from './fingerprint';
import type { MongoRestoreOptions } from './options';
import { restoreMongo } from './restore';
import { openReadView, serverFacts } from './snapshot';
import type { MongoClient } from 'mongodb';
import { silentLogger } from '../../core/logger';
import { mongoRoom, targetDbStats } from './room';
import { requireRoom } from '../room';

const ROOM_HINT = 'Free disk space on the target server (or grow its volume), or restore elsewhere (targetDatabase on another server, options.collections for part of the backup).';

export { connectMongo, withDatabase, describeTarget, type MongoTarget } from './connection';
export { parseMongoRestoreOptions, type MongoRestoreOptions } from './options';
export { ARCHIVE_CONTENT_TYPE, archiveName, escapeCollectionName } from './archive';

/** Fingerprint of `names` (those that exist) in the target database, at one snapshot on a replica set. */
async function fingerprintOf(client: MongoClient, target: MongoTarget, names: readonly string[] | undefined): Promise<Fingerprint> {
  const db = client.db(target.database);
  const existing = await collectionNames(db);
  const present = names ? names.filter((n) => existing.includes(n)) : existing;
  const { collections } = await readCollections(db, present);
  const view = await openReadView(client, db, await serverFacts(client), collections[0]?.name, silentLogger);
  try {
    return await fingerprintCollections(db, collections, view.session);
  } finally {
    await view.end();
  }
}

export const mongodb: Component<MongoTarget, MongoRestoreOptions> = {
  name: 'mongodb',
  group: 'database',

  describe: (target) =>
    withClient(target, 'describing the server', async (client) => {
      const names = await collectionNames(client.db(target.database));
      const count = target.collections ? target.collections.filter((n) => names.includes(n)).length : names.length;
      return sourceInfo(target, await serverFacts(client), count);
    }),

  // dbStats dataSize: the uncompressed BSON size of the database, i.e. about the archive's size (read once).
  estimate: (target) =>
    withClient(target, 'estimating the backup size', async (client) => Number((await client.db(target.database).command({ dbStats: 1 })).dataSize ?? 0)),

  backup: backupMongo,

  fingerprint: (target) => withClient(target, 'fingerprinting', (client) => fingerprintOf(client, target, target.collections)),

  async checkCompatibility(source: SourceInfo, target: MongoTarget, options?: MongoRestoreOptions) {
    const [facts, stats] = await withClient(target, 'checking the server version and its free disk space', (client) =>
      Promise.all([serverFacts(client), targetDbStats(client, target.database)]),
    );
    // Documents and index options of a newer server may use what an older one cannot read or build.
    if (facts.major < source.serverMajor) {
      throw new VersionMismatchError(`the backup comes from MongoDB ${source.serverVersion}; the target server runs ${facts.version}, an older major version.`, {
        component: COMPONENT,
        hint: `Restore into a MongoDB ${source.serverMajor} or newer server.`,
      });
    }
    const room = requireRoom(mongoRoom(source, stats, `MongoDB database "${target.database}"`, options ?? {}), { component: COMPONENT }, ROOM_HINT);
    return { targetVersion: facts.version, room };
  },

  targetExists: (target) =>
    withClient(target, 'looking at the target database', async (client) => {
      const names = await collectionNames(client.db(target.database));
      return target.collections ? names.some((n) => target.collections!.includes(n)) : names.length > 0;
    }),

  restore: restoreMongo,

  /**
   * Only the restored collections are compared: the target database may hold others, which a restore
   * leaves alone, and a restore of selected collections covers only those.
   */
  verifyRestore: (expected, _source, target, options) =>
    withClient(target, 'verifying the restore', async (client) => {
      const names = options.collections ?? fingerprintCollectionNames(expected);
      const wanted: Fingerprint = {};
      for (const name of names) {
        for (const key of [name, `${name}${METADATA_ENTRY_SUFFIX}`]) if (expected[key]) wanted[key] = expected[key];
      }
      const actual = await fingerprintOf(client, target, names);
      return { differences: compareFingerprints(wanted, actual), objects: Object.keys(wanted).length, details: { collections: names.length } };
    }),

  dropTarget: (target) =>
    withClient(target, 'dropping the drill sandbox', async (client) => {
      await client.db(target.database).dropDatabase();
    }),
};

export const mongodbEntry: ComponentEntry<MongoTarget, MongoRestoreOptions, 'mongodb'> = {
  component: mongodb,
  connect: (source, env) => connectMongo(source, env),
  retarget: (target, options) => (options.targetDatabase ? withDatabase(target, options.targetDatabase) : target),
};
