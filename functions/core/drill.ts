/**
 * Restore drills (runbook "Backup Verification"): a recovery point of a component restored into a sandbox
 * beside production, verified like every restore (the fingerprint) plus a sample read of the data, timed
 * from start to verified (the RTO), then the sandbox dropped, or kept for `keepHours` for people to look
 * at. Each drill leaves a JSON record in the vault (config/vault-layout.ts drillRecordKey). A drill takes no
 * safety backup and writes nothing outside its sandbox and its record.
 */
import type { Client } from 'pg';
import { drillRecordKey } from '../../config/vault-layout';
import type { ComponentName } from '../../config/types';
import type { VerificationConfig } from '../../config/verification';
import type { Fingerprint } from '../components/types';
import type { PostgresTarget } from '../components/postgres';
import { withClient as withPostgresClient } from '../components/postgres/connection';
import type { VectorTarget } from '../components/vector/connection';
import { relationSql } from '../components/vector/sql';
import type { MongoTarget } from '../components/mongodb/connection';
import { withClient as withMongoClient } from '../components/mongodb/connection';
import { withRedis, type RedisTarget } from '../components/redis/connection';
import { isSafetyBackupId } from './backup-id';
import { listBackups } from './catalog';
import { authenticatorOf, type EngineContext } from './context';
import { BackupNotFoundError, InvalidInputError, NcaBackupError, VerificationError } from './errors';
import { runRestoreSequence } from './restore-sequence';
import { loadManifest, restoreComponent, type RestoreComponent } from './restore-steps';
import { checkRestoreTarget } from './workflow-input';

/** At least one drill of a `drill` command did not succeed; the error carries every drill's result. */
export class DrillFailedError extends NcaBackupError {
  override name = 'DrillFailedError';
}

/** The Redis index a drill restores into unless told otherwise: the highest of a default server. */
export const DEFAULT_REDIS_SANDBOX_DB = 15;

/** What a drill needs to know of a component beyond the contract: its sandbox and its sample read. */
interface DrillSpec<T> {
  /** The production target's database (name or index) as restore targets are written. */
  production(target: T): string;
  /** The sandbox's name for this drill. */
  sandbox(drillId: string, production: T): string;
  /** Proves data came back: reads a sample of what the fingerprint says the backup holds; a problem or undefined. */
  sample(target: T, fingerprint: Fingerprint): Promise<{ readonly read: string } | { readonly problem: string }>;
}

/** `nca_drill_<drill id>` with the id's letters lower-case and its dash dropped: a name no quoting can trip on. */
const scratchDatabase = (drillId: string) => `nca_drill_${drillId.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;

/** Fingerprint entries with documents or keys, by object name (`count` > 0). */
const nonEmpty = (fingerprint: Fingerprint) => Object.entries(fingerprint).filter(([, entry]) => entry.count > 0).map(([name]) => name);

/** Row-holding entries of the postgres fingerprint: `table "schema"."name"` (identifiers already quoted for SQL). */
const POSTGRES_ROWS_KEY = /^(?:table|materialized view) ("(?:[^"]|"")+"\.("(?:[^"]|"")+"))$/;

/** One row of the first relation the fingerprint says has rows. */
async function readOneRow(target: PostgresTarget, relations: readonly { readonly name: string; readonly sql: string; readonly rows: number }[]) {
  if (relations.length === 0) return { problem: 'the backup holds no table with rows, so no row could be read back' };
  const [relation] = relations;
  return withPostgresClient(target, async (client: Client) => {
    const { rowCount } = await client.query(`SELECT * FROM ${relation.sql} LIMIT 1`);
    return rowCount === 1 ? { read: `a row of ${relation.name}` } : { problem: `${relation.name} has ${relation.rows} rows in the backup, none in the sandbox` };
  });
}

/** postgres: a row of a table the backup has rows in. */
function samplePostgres(target: PostgresTarget, fingerprint: Fingerprint) {
  const relations = Object.entries(fingerprint).flatMap(([key, entry]) => {
    const match = entry.count > 0 ? POSTGRES_ROWS_KEY.exec(key) : null;
    return match ? [{ name: match[1], sql: match[1], rows: entry.count }] : [];
  });
  return readOneRow(target, relations);
}

/** vector: a row of the restored table, when the backup has rows ("rows" entry). */
function sampleVector(target: VectorTarget, fingerprint: Fingerprint) {
  const rows = fingerprint.rows?.count ?? 0;
  return readOneRow(target, rows > 0 ? [{ name: relationSql(target), sql: relationSql(target), rows }] : []);
}

/** mongodb: a document of each collection the fingerprint says is non-empty. */
async function sampleMongo(target: MongoTarget, fingerprint: Fingerprint) {
  const collections = nonEmpty(fingerprint).filter((name) => !name.includes('#'));
  if (collections.length === 0) return { problem: 'the backup holds no collection with documents' };
  return withMongoClient(target, 'reading a sample document', async (client) => {
    for (const name of collections) {
      if (!(await client.db(target.database).collection(name).findOne({}))) return { problem: `collection ${name} has no document in the sandbox` };
    }
    return { read: `a document of each of ${collections.length} collection(s)` };
  });
}

/** redis: one key of the sandbox index can be read (DUMP), and the index holds keys at all. */
async function sampleRedis(target: RedisTarget, fingerprint: Fingerprint) {
  if (nonEmpty(fingerprint).length === 0) return { problem: 'the backup holds no key' };
  return withRedis(target, async (client) => {
    const key = await client.randomkey();
    if (key === null) return { problem: `db${target.db} holds no key after the restore` };
    if ((await client.dumpBuffer(key)) === null) return { problem: `key ${key} vanished while read` };
    return { read: `a key of db${target.db}` };
  });
}

const DRILLS: Partial<Record<ComponentName, DrillSpec<any>>> = {
  postgres: { production: (t: PostgresTarget) => t.database, sandbox: scratchDatabase, sample: samplePostgres },
  vector: { production: (t: VectorTarget) => t.database, sandbox: scratchDatabase, sample: sampleVector },
  mongodb: { production: (t: MongoTarget) => t.database, sandbox: scratchDatabase, sample: sampleMongo },
  redis: { production: (t: RedisTarget) => String(t.db), sandbox: () => String(DEFAULT_REDIS_SANDBOX_DB), sample: sampleRedis },
};

export interface DrillOptions {
  readonly drillId: string;
  readonly verification: Pick<VerificationConfig, 'recoveryPoint' | 'windowDays' | 'keepHours'>;
  /** Picks the random recovery point. @default Math.random */
  readonly random?: () => number;
}

/** One component's drill, as the CLI prints it and the record holds it. */
export interface DrillResult {
  readonly drillId: string;
  readonly component: string;
  readonly succeeded: boolean;
  readonly backupId?: string;
  readonly recoveryPoint?: 'latest' | 'random';
  readonly sandbox?: string;
  /** Start to verified (the RTO measured), when it got that far. */
  readonly restoreSeconds?: number;
  readonly sample?: string;
  /** What happened to the sandbox: dropped, kept (until when), not created, or could not be dropped. */
  readonly sandboxState?: { readonly state: 'dropped' | 'kept' | 'not-created' | 'drop-failed'; readonly keptUntil?: string; readonly problem?: string };
  readonly cause?: { readonly error: string; readonly message: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The record's key in the vault (relative to the vault prefix); absent when it could not be written. */
  readonly recordKey?: string;
  readonly recordProblem?: string;
}

/** The recovery point: the newest trusted backup, or one at random among those of the last `windowDays`. */
async function pickBackup(ctx: EngineContext, component: RestoreComponent, verification: DrillOptions['verification'], random: () => number): Promise<string> {
  const trusted = (await listBackups(ctx.vault, authenticatorOf(ctx), component.group, component.name)).flatMap((e) =>
    e.status === 'trusted' && !isSafetyBackupId(e.backupId) ? [e.manifest] : [],
  );
  if (trusted.length === 0) throw new BackupNotFoundError('there is no trusted backup to drill.', { component: component.name, hint: `Run one with: nca-backup backup ${component.name}` });
  const newest = trusted.reduce((a, b) => (a.backupId > b.backupId ? a : b));
  if (verification.recoveryPoint === 'latest') return newest.backupId;
  const since = ctx.now().getTime() - verification.windowDays * 86_400_000;
  const window = trusted.filter((m) => Date.parse(m.completedAt) >= since);
  if (window.length === 0) {
    throw new BackupNotFoundError(`no trusted backup completed within the last ${verification.windowDays} days (backup.verification.window_days).`, { component: component.name });
  }
  return window[Math.min(window.length - 1, Math.floor(random() * window.length))].backupId;
}

/**
 * Refuses a sandbox that is production (the configured database or index, or a protected target) before
 * anything is written; for Redis also an index that holds keys, which FLUSHDB would lose.
 */
async function checkSandbox(ctx: EngineContext, component: RestoreComponent, spec: DrillSpec<unknown>, base: unknown, sandbox: string): Promise<unknown> {
  const production = spec.production(base);
  if (sandbox === production) {
    throw new InvalidInputError(`the drill's sandbox ${sandbox} is the production target of ${component.name}: a drill never restores over it. Nothing was written.`, {
      component: component.name,
    });
  }
  checkRestoreTarget(ctx.config, component.name, sandbox);
  const target = component.entry.retarget(base, { targetDatabase: sandbox });
  if (await component.entry.component.targetExists(target)) {
    throw new InvalidInputError(`the drill's sandbox ${sandbox} already holds data: a drill restores only into an empty sandbox, and drops it after. Nothing was written.`, {
      component: component.name,
      hint: component.name === 'redis' ? `Empty db${sandbox} if it is a leftover of a drill, or configure another sandbox index.` : `Drop ${sandbox} if it is a leftover of an earlier drill.`,
    });
  }
  return target;
}

/** Runs one component's drill and writes its record; never throws for the drill's own failures. */
export async function runDrill(ctx: EngineContext, name: string, options: DrillOptions): Promise<DrillResult> {
  const startedAt = ctx.now();
  const started = Date.now();
  const { verification, drillId } = options;
  let result: Omit<DrillResult, 'drillId' | 'component' | 'startedAt' | 'finishedAt' | 'recordKey' | 'recordProblem'> = { succeeded: false };
  const component = restoreComponent(ctx.config, name);
  const spec = DRILLS[component.name];
  const drop = component.entry.component.dropTarget?.bind(component.entry.component);
  if (!spec || !drop) {
    result = { succeeded: false, cause: { error: 'NotDrillable', message: `${component.name} is not drillable yet: drills restore postgres, vector, mongodb and redis into a sandbox.` } };
  } else {
    let sandboxTarget: unknown;
    let sandbox: string | undefined;
    let backupId: string | undefined;
    let restoreSeconds: number | undefined;
    let sample: string | undefined;
    let cause: DrillResult['cause'];
    try {
      const base = await component.entry.connect(component.source as never, ctx.env);
      sandbox = spec.sandbox(drillId, base);
      const target = await checkSandbox(ctx, component, spec, base, sandbox);
      backupId = await pickBackup(ctx, component, verification, options.random ?? Math.random);
      sandboxTarget = target;
      const envelope = {
        input: { component: component.name, backupId, targetDatabase: sandbox, skipSafetyBackup: true },
        executionName: `drill-${drillId}-${component.name}`,
        startTime: startedAt.toISOString(),
      };
      const restored = await runRestoreSequence(ctx, component, envelope, 'a restore drill writes into a sandbox of its own');
      const { fingerprint } = await loadManifest(ctx, component.name, restored.backupId);
      const checked = await spec.sample(target, fingerprint);
      if ('problem' in checked) throw new VerificationError(`the sample data retrieval failed: ${checked.problem}.`, { component: component.name, backupId });
      sample = checked.read;
      restoreSeconds = (Date.now() - started) / 1000;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      cause = { error: err.name, message: err.message };
      ctx.log.warn('restore drill failed', { component: component.name, backupId, error: err.message });
    }
    const succeeded = cause === undefined;
    let sandboxState: DrillResult['sandboxState'] = { state: 'not-created' };
    if (sandboxTarget !== undefined) {
      if (succeeded && verification.keepHours > 0) {
        sandboxState = { state: 'kept', keptUntil: new Date(ctx.now().getTime() + verification.keepHours * 3_600_000).toISOString() };
      } else {
        try {
          await drop(sandboxTarget);
          sandboxState = { state: 'dropped' };
        } catch (error) {
          sandboxState = { state: 'drop-failed', problem: (error as Error).message };
          ctx.log.warn('could not drop the drill sandbox', { component: component.name, sandbox, error: (error as Error).message });
        }
      }
    }
    result = {
      succeeded,
      recoveryPoint: verification.recoveryPoint,
      ...(backupId ? { backupId } : {}),
      ...(sandbox ? { sandbox } : {}),
      ...(restoreSeconds !== undefined ? { restoreSeconds } : {}),
      ...(sample ? { sample } : {}),
      sandboxState,
      ...(cause ? { cause } : {}),
    };
  }
  const record: DrillResult = { drillId, component: component.name, ...result, startedAt: startedAt.toISOString(), finishedAt: ctx.now().toISOString() };
  const key = drillRecordKey(drillId, component.name);
  try {
    await ctx.vault.putJson(key, record);
    return { ...record, recordKey: key };
  } catch (error) {
    return { ...record, succeeded: false, recordProblem: `the record could not be written to ${ctx.vault.key(key)}: ${(error as Error).message}` };
  }
}

/** Drills each component in turn (one sandbox at a time on a shared server). */
export async function runDrills(ctx: EngineContext, components: readonly string[], options: DrillOptions): Promise<{ drillId: string; succeeded: boolean; drills: DrillResult[] }> {
  const drills: DrillResult[] = [];
  for (const name of components) drills.push(await runDrill(ctx, name, options));
  return { drillId: options.drillId, succeeded: drills.every((d) => d.succeeded), drills };
}
