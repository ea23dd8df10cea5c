/**
 * What a restore drill (core/drill.ts) needs of the memory component beyond its restore: where each tier's
 * store writes (to refuse a sandbox that is production), a sample read of each restored tier, and the
 * sandbox's making and dropping. The sandbox is the tiers' own layout in sandbox stores: working memory's
 * namespace in another Redis index (or server), episodic memory's collection in a scratch MongoDB
 * database, semantic memory's table in a scratch PostgreSQL database (core/drill.ts memorySandbox).
 */
import type { DrillSampleResult, Fingerprint } from '../types';
import { dropDatabase } from '../postgres';
import { quoteIdent, withClient as withPostgresClient } from '../postgres/connection';
import { MAINTENANCE_DATABASE } from '../postgres/server';
import { relationSql } from '../vector/sql';
import { scanKeys } from '../redis/scan';
import { tierFailure, withMongo, withRedis, type MemoryTarget } from './connection';
import { semanticExists } from './semantic';
import { workingKeys } from './working';
import type { MemoryTier } from './tiers';

/** The places the tiers' stores write to: a Redis index, a MongoDB database, a PostgreSQL database. */
export function memoryPlaces(target: MemoryTarget): { store: string; server: string; database: string }[] {
  return [
    ...(target.working ? [{ store: 'working tier (redis)', server: `${target.working.redis.host}:${target.working.redis.port}`, database: `db${target.working.redis.db}` }] : []),
    ...(target.episodic ? [{ store: 'episodic tier (mongodb)', server: target.episodic.mongo.hosts, database: target.episodic.database }] : []),
    ...(target.semantic ? [{ store: 'semantic tier (vector)', server: `${target.semantic.host}:${target.semantic.port}`, database: target.semantic.database }] : []),
  ];
}

/** One item hash of the working namespace (its metadata, index and stats keys are not items). */
async function sampleWorking(working: NonNullable<MemoryTarget['working']>): Promise<string | undefined> {
  const keys = workingKeys(working.namespace);
  return withRedis(working.redis, async (client) => {
    for await (const batch of scanKeys(client, [keys.pattern])) {
      for (const key of batch) {
        if (keys.idOf(key.toString('utf8')) === undefined || (await client.type(key)) !== 'hash') continue;
        const fields = await client.hgetallBuffer(key);
        if (Object.keys(fields).length > 0) return undefined;
      }
    }
    return `no item hash under ${keys.prefix} in db${working.redis.db}`;
  });
}

async function sampleEpisodic(episodic: NonNullable<MemoryTarget['episodic']>): Promise<string | undefined> {
  return withMongo(episodic.mongo, async (client) => {
    const doc = await client.db(episodic.database).collection(episodic.collection).findOne({});
    return doc ? undefined : `collection ${episodic.collection} of ${episodic.database} has no document`;
  });
}

async function sampleSemantic(semantic: NonNullable<MemoryTarget['semantic']>): Promise<string | undefined> {
  return withPostgresClient(semantic, async (client) => {
    const { rowCount } = await client.query(`SELECT id, embedding FROM ${relationSql(semantic)} WHERE embedding IS NOT NULL LIMIT 1`);
    return rowCount === 1 ? undefined : `${relationSql(semantic)} has no row with an embedding`;
  });
}

/** An item of each tier the backup holds items of, read from the sandbox stores as the NCA reads them. */
export async function sampleMemory({ target, fingerprint }: { target: MemoryTarget; fingerprint: Fingerprint }): Promise<DrillSampleResult> {
  const tiers = target.tiers.filter((tier) => (fingerprint[tier]?.count ?? 0) > 0);
  if (tiers.length === 0) return { problem: 'the backup holds no memory item in any tier' };
  const read: Record<MemoryTier, () => Promise<string | undefined>> = {
    working: () => sampleWorking(target.working!),
    episodic: () => sampleEpisodic(target.episodic!),
    semantic: () => sampleSemantic(target.semantic!),
  };
  for (const tier of tiers) {
    let problem: string | undefined;
    try {
      problem = await read[tier]();
    } catch (error) {
      throw tierFailure(target, tier, error, `reading a sample of the ${tier} tier`, true);
    }
    if (problem) return { problem: `${tier} tier: ${problem}` };
  }
  return { read: `an item of each of the ${tiers.join(', ')} tier(s)` };
}

/**
 * Whether the semantic tier holds items, a database that does not exist holding none (a drill's scratch
 * database before prepareMemorySandbox makes it).
 */
export async function semanticHoldsItems(semantic: NonNullable<MemoryTarget['semantic']>): Promise<boolean> {
  const { rowCount } = await withPostgresClient(semantic, (client) => client.query('SELECT 1 FROM pg_database WHERE datname = $1', [semantic.database]), MAINTENANCE_DATABASE);
  return rowCount === 1 && semanticExists(semantic);
}

/** The semantic tier's scratch database, which its restore connects to (it creates only the table). */
export async function prepareMemorySandbox(target: MemoryTarget): Promise<void> {
  const semantic = target.semantic;
  if (!semantic) return;
  await withPostgresClient(semantic, (client) => client.query(`CREATE DATABASE ${quoteIdent(semantic.database)}`), MAINTENANCE_DATABASE);
  // pgvector where the server has it, so the table is created with the backup's vector type; else real[].
  await withPostgresClient(semantic, (client) => client.query('CREATE EXTENSION IF NOT EXISTS vector')).catch(() => undefined);
}

/**
 * Removes a drill's sandbox: the working namespace's keys (only those: the index may hold other drills'
 * keys), the episodic scratch database and the semantic scratch database. Each store is attempted; the
 * first failure is thrown after all were.
 */
export async function dropMemorySandbox(target: MemoryTarget): Promise<void> {
  const failures: unknown[] = [];
  const attempt = (work: () => Promise<unknown>) => work().catch((error: unknown) => failures.push(error));
  if (target.working) {
    const working = target.working;
    await attempt(() =>
      withRedis(working.redis, async (client) => {
        for await (const batch of scanKeys(client, [workingKeys(working.namespace).pattern])) if (batch.length > 0) await client.unlink(...batch);
      }),
    );
  }
  if (target.episodic) {
    const episodic = target.episodic;
    await attempt(() => withMongo(episodic.mongo, (client) => client.db(episodic.database).dropDatabase()));
  }
  if (target.semantic) await attempt(() => dropDatabase(target.semantic!));
  if (failures.length > 0) throw failures[0];
}
