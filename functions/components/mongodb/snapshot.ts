/**
 * One point in time for every read of a backup. On a replica set (hello reports setName) all reads go
 * through one snapshot session: the first read fixes atClusterTime and every later find, in every
 * collection, reads at that same cluster time, so collections agree with each other and the two passes of
 * the backup (sizes, then data) see the same documents. A standalone server has no snapshot reads: each
 * collection is read by its own cursors, and the backup says it is not point-in-time consistent.
 * A replica set that refuses snapshot reads (Amazon DocumentDB, or a server with
 * enableMajorityReadConcern=false) is treated like a standalone, with the refusal in the manifest.
 */
import { MongoServerError, type ClientSession, type Db, type MongoClient } from 'mongodb';
import type { Consistency, Logger } from '../types';

export interface ServerFacts {
  readonly version: string;
  readonly major: number;
  /** Replica set name from hello; absent on a standalone (or a mongos). */
  readonly replicaSet?: string;
}

export async function serverFacts(client: MongoClient): Promise<ServerFacts> {
  const admin = client.db('admin');
  const [build, hello] = await Promise.all([admin.command({ buildInfo: 1 }), admin.command({ hello: 1 })]);
  const version = String(build.version);
  return { version, major: Number(version.split('.')[0]), ...(typeof hello.setName === 'string' ? { replicaSet: hello.setName } : {}) };
}

export interface ReadView {
  /** The snapshot session every read passes; absent when reads cannot share a snapshot. */
  readonly session?: ClientSession;
  readonly consistency: Consistency;
  end(): Promise<void>;
}

/** Errors that mean "this server does not do snapshot reads", as opposed to a failed read. */
function refusesSnapshots(error: unknown): boolean {
  if (!(error instanceof MongoServerError) || error.code === 239) return false;
  return [72, 115, 148].includes(Number(error.code)) || /snapshot|read ?concern/i.test(error.message);
}

/**
 * Opens the read view of a backup or fingerprint. `probe` is a collection to read one document from, which
 * fixes the snapshot's cluster time right away (and finds out whether the server allows snapshot reads).
 */
export async function openReadView(client: MongoClient, db: Db, facts: ServerFacts, probe: string | undefined, log: Logger): Promise<ReadView> {
  const none = async () => undefined;
  if (!facts.replicaSet) {
    return {
      consistency: {
        pointInTime: false,
        method: 'standalone server (hello reports no replica set): no snapshot reads, each collection is read on its own; writes during the backup can make collections disagree',
      },
      end: none,
    };
  }
  const session = client.startSession({ snapshot: true });
  const end = () => session.endSession().catch(() => undefined);
  try {
    if (probe !== undefined) await db.collection(probe).find({}, { session, limit: 1, raw: true }).toArray();
  } catch (error) {
    await end();
    if (!refusesSnapshots(error)) throw error;
    log.warn('the replica set refuses snapshot reads; the backup is not point-in-time consistent', { replicaSet: facts.replicaSet, error: (error as Error).message });
    return {
      consistency: {
        pointInTime: false,
        method: `replica set ${facts.replicaSet} refused snapshot reads (${(error as Error).message}); each collection is read on its own`,
      },
      end: none,
    };
  }
  return {
    session,
    consistency: {
      pointInTime: true,
      method: `one snapshot session on replica set ${facts.replicaSet} (read concern "snapshot", one atClusterTime) for every read`,
    },
    end,
  };
}
