/**
 * Restore drills (runbook "Backup Verification"): a recovery point of a component restored into a sandbox
 * beside production, verified like every restore (the fingerprint) plus a sample read of the data, timed
 * from start to verified (the RTO), then the sandbox dropped, or kept for `keepHours` for people to look
 * at. Each drill leaves a JSON record in the vault (config/vault-layout.ts drillRecordKey). A drill takes no
 * safety backup and writes nothing outside its sandbox and its record.
 *
 * The sandboxes (DRILLS): postgres, vector and mongodb a scratch database `nca_drill_<id>`; redis the
 * sandbox index (verification.sandbox.redis.db, default 15); memory its three tiers in those sandbox stores
 * (components/memory/drill.ts); config a copy under the name prefix `nca-drill-<id>` (components/config/
 * drill.ts); models the location `s3://<bucket>/nca-drill/<id>/` or a sibling directory (components/models/
 * drill.ts); logs a log group under restore_log_group_prefix, or files (components/logs/drill.ts). Each on
 * the production server, or on `verification.sandbox[component]`'s. A sandbox sharing a server and a
 * database (index, prefix) with production is refused before anything is written.
 */
import type { Client } from 'pg';
import { ENVIRONMENT, type Setting } from '../../config/environment';
import { drillRecordKey } from '../../config/vault-layout';
import type { ComponentName } from '../../config/types';
import type { RuntimeVerification, VerificationConfig } from '../../config/verification';
import type { ArtifactSource, DrillSampleResult, DrillSandbox, Fingerprint } from '../components/types';
import { configPlaces, configSandbox, sampleConfig } from '../components/config/drill';
import { logsPlaces, logsSandbox, sampleLogs } from '../components/logs/drill';
import type { MemoryRuntimeSource } from '../components/memory/descriptor';
import type { MemoryTarget } from '../components/memory/connection';
import { memoryPlaces, sampleMemory } from '../components/memory/drill';
import { modelsPlaces, modelsSandbox, sampleModels } from '../components/models/drill';
import type { PostgresTarget } from '../components/postgres';
import { withClient as withPostgresClient } from '../components/postgres/connection';
import type { VectorTarget } from '../components/vector/connection';
import { relationSql } from '../components/vector/sql';
import type { MongoTarget } from '../components/mongodb/connection';
import { withClient as withMongoClient } from '../components/mongodb/connection';
import { withRedis, type RedisTarget } from '../components/redis/connection';
import { artifactSource } from './catalog';
import { authenticatorOf, type EngineContext } from './context';
import { InvalidInputError, NcaBackupError, VerificationError } from './errors';
import { pickRecoveryPoint } from './drill-plan';
import { defaultSampleChecks, runSampleChecks, type SampleCheckResult } from './drill-samples';
import { sanitizeSandbox, type SanitizeResult } from './sanitize';
import type { Manifest } from './manifest';
import { runRestoreSequence } from './restore-sequence';
import { loadManifest, restoreComponent, type RestoreComponent } from './restore-steps';
import { checkRestoreTarget } from './workflow-input';

/** At least one drill of a `drill` command did not succeed; the error carries every drill's result. */
export class DrillFailedError extends NcaBackupError {
  override name = 'DrillFailedError';
}

/** The Redis index a drill restores into unless told otherwise: the highest of a default server. */
export const DEFAULT_REDIS_SANDBOX_DB = 15;

/** Where a target writes: a store (server) and the database, index or prefix on it. */
export interface Place {
  /** What the place is of, as the refusal names it: "redis", "working tier (redis)", "models location", ... */
  readonly store: string;
  /** host:port (or another name of the server: an endpoint, "s3"). */
  readonly server: string;
  readonly database: string;
}

/** A drill's sandbox (the component contract's DrillSandbox). */
export type Sandbox = DrillSandbox;

export interface SandboxRequest {
  readonly drillId: string;
  /** The production runtime source. */
  readonly source: unknown;
  /** `verification.sandbox[component]`: runtime source fields of the sandbox server. @default none */
  readonly override: Readonly<Record<string, unknown>>;
  /** Every `verification.sandbox` (memory reaches its stores' sandbox servers through the redis, mongodb and vector entries). */
  readonly overrides: VerificationConfig['sandbox'];
  readonly env: NodeJS.ProcessEnv;
  /** The backup drilled (what it holds decides where a logs drill restores). */
  readonly manifest: Manifest;
}

/** What a sample read gets: the restored sandbox and the backup it came from. */
export interface SampleInput<T> {
  readonly target: T;
  readonly fingerprint: Fingerprint;
  /** The backup's artifacts, read and checked as a restore reads them. */
  readonly source: ArtifactSource;
}

export type SampleResult = DrillSampleResult;

/** What a drill needs to know of a component beyond the contract: its sandbox and its sample read. */
export interface DrillSpec<T> {
  /** The places a target writes to: a sandbox sharing one with production (same server, same database) is refused. */
  places(target: T): readonly Place[];
  sandbox(request: SandboxRequest): Sandbox;
  /** Proves data came back: reads a sample of what the backup holds; a problem when none can be read. */
  sample(input: SampleInput<T>): Promise<SampleResult>;
}

/** `nca_drill_<drill id>` with the id's letters lower-case and its dash dropped: a name no quoting can trip on. */
export const scratchDatabase = (drillId: string) => `nca_drill_${drillId.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;

/** Fingerprint entries with documents or keys, by object name (`count` > 0). */
const nonEmpty = (fingerprint: Fingerprint) => Object.entries(fingerprint).filter(([, entry]) => entry.count > 0).map(([name]) => name);

/** Row-holding entries of the postgres fingerprint: `table "schema"."name"` (identifiers already quoted for SQL). */
const POSTGRES_ROWS_KEY = /^(?:table|materialized view) ("(?:[^"]|"")+"\.("(?:[^"]|"")+"))$/;

/** One row of the first relation the fingerprint says has rows. */
async function readOneRow(target: PostgresTarget, relations: readonly { readonly name: string; readonly sql: string; readonly rows: number }[]): Promise<SampleResult> {
  if (relations.length === 0) return { problem: 'the backup holds no table with rows, so no row could be read back' };
  const [relation] = relations;
  return withPostgresClient(target, async (client: Client) => {
    const { rowCount } = await client.query(`SELECT * FROM ${relation.sql} LIMIT 1`);
    return rowCount === 1 ? { read: `a row of ${relation.name}` } : { problem: `${relation.name} has ${relation.rows} rows in the backup, none in the sandbox` };
  });
}

/** postgres: a row of a table the backup has rows in. */
function samplePostgres({ target, fingerprint }: SampleInput<PostgresTarget>) {
  const relations = Object.entries(fingerprint).flatMap(([key, entry]) => {
    const match = entry.count > 0 ? POSTGRES_ROWS_KEY.exec(key) : null;
    return match ? [{ name: match[1], sql: match[1], rows: entry.count }] : [];
  });
  return readOneRow(target, relations);
}

/** vector: a row of the restored table, when the backup has rows ("rows" entry). */
function sampleVector({ target, fingerprint }: SampleInput<VectorTarget>) {
  const rows = fingerprint.rows?.count ?? 0;
  return readOneRow(target, rows > 0 ? [{ name: relationSql(target), sql: relationSql(target), rows }] : []);
}

/** mongodb: a document of each collection the fingerprint says is non-empty. */
async function sampleMongo({ target, fingerprint }: SampleInput<MongoTarget>): Promise<SampleResult> {
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
async function sampleRedis({ target, fingerprint }: SampleInput<RedisTarget>): Promise<SampleResult> {
  if (nonEmpty(fingerprint).length === 0) return { problem: 'the backup holds no key' };
  return withRedis(target, async (client) => {
    const key = await client.randomkey();
    if (key === null) return { problem: `db${target.db} holds no key after the restore` };
    if ((await client.dumpBuffer(key)) === null) return { problem: `key ${key} vanished while read` };
    return { read: `a key of db${target.db}` };
  });
}

/** A database server's place: host:port and the database. */
const serverPlace = (store: string, t: { host: string; port: number }, database: string): Place => ({ store, server: `${t.host}:${t.port}`, database });

/** The scratch database on the production server or on `verification.sandbox[component]`'s. */
function scratchSandbox(store: 'postgres' | 'vector' | 'mongodb') {
  return (request: SandboxRequest): Sandbox => {
    const { source, env } = sandboxServer(request.source, request.override, store, request.env);
    const name = scratchDatabase(request.drillId);
    return { name, source, env, targetDatabase: name };
  };
}

/** The local URL settings each store is reached with; a sandbox naming its own server must not be overridden by them. */
const URL_SETTINGS: Record<'postgres' | 'vector' | 'mongodb' | 'redis', readonly Setting[]> = {
  postgres: ['postgresUrl'],
  vector: ['vectorUrl', 'postgresUrl'],
  mongodb: ['mongodbUrl'],
  redis: ['redisUrl'],
};
const CONNECTION_FIELDS = ['url', 'secretArn', 'host', 'port'];

/**
 * Production's source with the sandbox server's fields merged over it. When they name a connection (url,
 * secret, host or port), a local run's URL variable of that store, which would win over them, is left out.
 */
export function sandboxServer(source: unknown, override: Readonly<Record<string, unknown>>, store: keyof typeof URL_SETTINGS, env: NodeJS.ProcessEnv): { source: unknown; env: NodeJS.ProcessEnv } {
  const merged = { ...(source as Record<string, unknown>), ...override };
  if (!CONNECTION_FIELDS.some((field) => field in override)) return { source: merged, env };
  // Production's RDS instance is not the sandbox server's: its free storage must not judge the sandbox's room.
  if (!('rdsInstanceId' in override)) delete merged.rdsInstanceId;
  const without = { ...env };
  for (const name of URL_SETTINGS[store]) delete without[ENVIRONMENT[name]];
  return { source: merged, env: without };
}

/**
 * memory: each tier in a sandbox store of its own kind: working memory's namespace in the Redis sandbox
 * index (verification.sandbox.redis.db, default 15), episodic memory in a scratch MongoDB database,
 * semantic memory in a scratch PostgreSQL database; each store on the production server or on the sandbox
 * server of its component (verification.sandbox.redis, .mongodb, .vector, or .memory.<store>). The
 * sandbox is production's source with those fields changed: the restore itself is the ordinary one.
 */
function memorySandbox(request: SandboxRequest): Sandbox {
  const source = request.source as MemoryRuntimeSource;
  const name = scratchDatabase(request.drillId);
  const nested = request.override as Partial<Record<'redis' | 'mongodb' | 'vector', Record<string, unknown>>>;
  let env = request.env;
  const store = <K extends 'redis' | 'mongodb' | 'vector'>(key: K, fields: Record<string, unknown>) => {
    const override: Record<string, unknown> = { ...(request.overrides[key] ?? {}), ...(nested[key] ?? {}) };
    const { db: _db, ...server } = override;
    const merged = sandboxServer(source[key], key === 'redis' ? server : override, key, env);
    env = merged.env;
    return { ...(merged.source as object), ...fields } as unknown as NonNullable<MemoryRuntimeSource[K]>;
  };
  const redisDb = Number(({ ...(request.overrides.redis ?? {}), ...(nested.redis ?? {}) } as Record<string, unknown>).db ?? DEFAULT_REDIS_SANDBOX_DB);
  const sandbox: MemoryRuntimeSource = {
    ...source,
    ...(source.redis ? { redis: store('redis', { db: redisDb }) } : {}),
    ...(source.mongodb ? { mongodb: store('mongodb', { database: name }) } : {}),
    ...(source.vector ? { vector: store('vector', { database: name }) } : {}),
  };
  const parts = [source.tiers.includes('working') ? `db${redisDb} namespace ${source.workingNamespace}` : '', source.tiers.some((t) => t !== 'working') ? name : ''];
  return { name: parts.filter(Boolean).join(' + '), source: sandbox, env };
}

const memoryDrill: DrillSpec<MemoryTarget> = { places: memoryPlaces, sandbox: memorySandbox, sample: sampleMemory };

const DRILLS: Record<ComponentName, DrillSpec<any>> = {
  postgres: { places: (t: PostgresTarget) => [serverPlace('postgres', t, t.database)], sandbox: scratchSandbox('postgres'), sample: samplePostgres },
  vector: { places: (t: VectorTarget) => [serverPlace('vector', t, t.database)], sandbox: scratchSandbox('vector'), sample: sampleVector },
  mongodb: { places: (t: MongoTarget) => [{ store: 'mongodb', server: t.hosts, database: t.database }], sandbox: scratchSandbox('mongodb'), sample: sampleMongo },
  redis: {
    places: (t: RedisTarget) => [serverPlace('redis', t, `db${t.db}`)],
    sandbox: (request) => {
      const { db, ...server } = request.override;
      const { source, env } = sandboxServer(request.source, server, 'redis', request.env);
      const index = String(db ?? DEFAULT_REDIS_SANDBOX_DB);
      return { name: index, source, env, targetDatabase: index };
    },
    sample: sampleRedis,
  },
  memory: memoryDrill,
  config: { places: configPlaces, sandbox: configSandbox, sample: sampleConfig },
  models: { places: modelsPlaces, sandbox: modelsSandbox, sample: sampleModels },
  logs: { places: logsPlaces, sandbox: logsSandbox, sample: sampleLogs },
};

export interface DrillOptions {
  readonly drillId: string;
  readonly verification: Pick<RuntimeVerification, 'recoveryPoint' | 'windowDays' | 'keepHours'> & Partial<Pick<RuntimeVerification, 'sandbox' | 'samples' | 'sanitize'>>;
  /** The recovery point the drill's plan picked. @default picked here (drill-plan.ts pickRecoveryPoint) */
  readonly backupId?: string;
  /** Picks the random recovery point. @default Math.random */
  readonly random?: () => number;
}

/** The components the configurable sample checks and sanitization speak to (drill-samples.ts, sanitize.ts). */
const DATABASES: readonly ComponentName[] = ['postgres', 'vector', 'mongodb', 'redis'];

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
  /** The sample data retrieval checks (configured in backup.verification.samples, else the NCA schema's defaults) and what each found. */
  readonly samples?: readonly SampleCheckResult[];
  /** The sanitization rules applied to a kept sandbox, with the rows or keys each changed. */
  readonly sanitized?: readonly SanitizeResult[];
  /** What happened to the sandbox: dropped, kept (until when), not created, or could not be dropped. */
  readonly sandboxState?: { readonly state: 'dropped' | 'kept' | 'not-created' | 'drop-failed'; readonly keptUntil?: string; readonly droppedAt?: string; readonly problem?: string };
  readonly cause?: { readonly error: string; readonly message: string };
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The record's key in the vault (relative to the vault prefix); absent when it could not be written. */
  readonly recordKey?: string;
  readonly recordProblem?: string;
}

const samePlace = (a: Place, b: Place) => a.server === b.server && a.database === b.database;

/**
 * Connects the sandbox and refuses it, before anything is written or dropped, when it is production: the
 * same server and database (or index, or prefix) as a place production writes to, or a protected target.
 */
async function sandboxTarget(ctx: EngineContext, component: RestoreComponent, spec: DrillSpec<unknown>, sandbox: Sandbox): Promise<unknown> {
  const { entry } = component;
  const production = spec.places(entry.retarget(await entry.connect(component.source as never, ctx.env), {}));
  const target = entry.retarget(await entry.connect(sandbox.source as never, sandbox.env ?? ctx.env), { ...(sandbox.options ?? {}), targetDatabase: sandbox.targetDatabase });
  const clash = spec.places(target).find((place) => production.some((p) => samePlace(place, p)));
  if (clash) {
    throw new InvalidInputError(
      `the drill's sandbox ${sandbox.name} is the production target of ${component.name} (${clash.store} ${clash.database} on ${clash.server}): a drill never restores over it, nor drops it. Nothing was written.`,
      { component: component.name, hint: 'Configure another sandbox in backup.verification.sandbox: another database index, or another server.' },
    );
  }
  if (sandbox.targetDatabase !== undefined) checkRestoreTarget(ctx.config, component.name, sandbox.targetDatabase);
  return target;
}

/** sandboxTarget, and the sandbox must be empty: a leftover, or the wrong place (the drill drops what it restored into). */
async function checkSandbox(ctx: EngineContext, component: RestoreComponent, spec: DrillSpec<unknown>, sandbox: Sandbox): Promise<unknown> {
  const target = await sandboxTarget(ctx, component, spec, sandbox);
  if (await component.entry.component.targetExists(target)) {
    throw new InvalidInputError(`the drill's sandbox ${sandbox.name} already holds data: a drill restores only into an empty sandbox, and drops it after. Nothing was written.`, {
      component: component.name,
      hint: component.name === 'redis' ? `Empty db${sandbox.name} if it is a leftover of a drill, or configure another sandbox index.` : `Drop ${sandbox.name} if it is a leftover of an earlier drill.`,
    });
  }
  return target;
}

/** The sandbox of a drill of `backupId`, worked out as the drill works it out (the same id, source, settings and backup). */
async function sandboxOf(ctx: EngineContext, component: RestoreComponent, spec: DrillSpec<unknown>, drillId: string, manifest: Manifest, verification: DrillOptions['verification']): Promise<Sandbox> {
  const overrides = verification.sandbox ?? {};
  return spec.sandbox({ drillId, source: component.source, override: overrides[component.name] ?? {}, overrides, env: ctx.env, manifest });
}

/**
 * Drops the sandbox a drill kept, once its keep_hours have passed (the drill workflow waits for that). The
 * sandbox is worked out again from the drill and its backup, never read from storage, and checked against
 * production as the drill checked it; the record is rewritten to say it is dropped.
 */
export async function dropKeptSandbox(ctx: EngineContext, drill: DrillResult, verification: DrillOptions['verification']): Promise<DrillResult> {
  const component = restoreComponent(ctx.config, drill.component);
  const spec = DRILLS[component.name] as DrillSpec<unknown>;
  const drop = component.entry.component.dropTarget?.bind(component.entry.component);
  if (!drop || drill.sandboxState?.state !== 'kept' || !drill.backupId) {
    throw new InvalidInputError(`drill ${drill.drillId} of ${component.name} kept no sandbox to drop.`, { component: component.name });
  }
  const manifest = await loadManifest(ctx, component.name, drill.backupId);
  const sandbox = await sandboxOf(ctx, component, spec, drill.drillId, manifest, verification);
  await drop(await sandboxTarget(ctx, component, spec, sandbox));
  const { recordKey: _key, recordProblem: _problem, ...stored } = drill;
  const record: DrillResult = { ...stored, sandboxState: { state: 'dropped', keptUntil: drill.sandboxState.keptUntil, droppedAt: ctx.now().toISOString() } };
  const key = drillRecordKey(drill.drillId, component.name);
  await ctx.vault.putJson(key, record);
  ctx.log.info('kept drill sandbox dropped', { component: component.name, drillId: drill.drillId, sandbox: sandbox.name });
  return { ...record, recordKey: key };
}

/** Runs one component's drill and writes its record; never throws for the drill's own failures. */
export async function runDrill(ctx: EngineContext, name: string, options: DrillOptions): Promise<DrillResult> {
  const startedAt = ctx.now();
  const started = Date.now();
  const { verification, drillId } = options;
  let result: Omit<DrillResult, 'drillId' | 'component' | 'startedAt' | 'finishedAt' | 'recordKey' | 'recordProblem'> = { succeeded: false };
  const component = restoreComponent(ctx.config, name);
  const spec = DRILLS[component.name] as DrillSpec<unknown> | undefined;
  const drop = component.entry.component.dropTarget?.bind(component.entry.component);
  if (!spec || !drop) {
    result = { succeeded: false, cause: { error: 'NotDrillable', message: `${component.name} is not drillable: it has no sandbox to restore into.` } };
  } else {
    let sandboxTarget: unknown;
    let sandbox: Sandbox | undefined;
    let backupId: string | undefined;
    let restoreSeconds: number | undefined;
    let sample: string | undefined;
    let samples: readonly SampleCheckResult[] | undefined;
    let sanitized: readonly SanitizeResult[] | undefined;
    let cause: DrillResult['cause'];
    try {
      backupId = options.backupId ?? (await pickRecoveryPoint(ctx.vault, authenticatorOf(ctx), component, verification, startedAt, options.random)).backupId;
      const manifest = await loadManifest(ctx, component.name, backupId);
      sandbox = await sandboxOf(ctx, component, spec, drillId, manifest, verification);
      const target = await checkSandbox(ctx, component, spec, sandbox);
      sandboxTarget = target;
      await component.entry.component.prepareTarget?.(target);
      const envelope = {
        input: { component: component.name, backupId, ...(sandbox.targetDatabase !== undefined ? { targetDatabase: sandbox.targetDatabase } : {}), skipSafetyBackup: true, ...(sandbox.options ? { options: sandbox.options } : {}) },
        executionName: `drill-${drillId}-${component.name}`,
        startTime: startedAt.toISOString(),
      };
      const sandboxCtx = sandbox.env ? { ...ctx, env: sandbox.env } : ctx;
      await runRestoreSequence(sandboxCtx, { ...component, source: sandbox.source as typeof component.source }, envelope, 'a restore drill writes into a sandbox of its own');
      const checked = await spec.sample({ target, fingerprint: manifest.fingerprint, source: artifactSource(ctx.vault, manifest, authenticatorOf(ctx)) });
      if ('problem' in checked) throw new VerificationError(`the sample data retrieval failed: ${checked.problem}.`, { component: component.name, backupId });
      sample = checked.read;
      if (DATABASES.includes(component.name)) {
        const outcome = await runSampleChecks(component.name, target as never, verification.samples?.[component.name] ?? defaultSampleChecks(component.name));
        samples = outcome.checks;
        if (outcome.problem) throw new VerificationError(`the sample data retrieval failed: ${outcome.problem}.`, { component: component.name, backupId });
      }
      restoreSeconds = (Date.now() - started) / 1000;
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      cause = { error: err.name, message: err.message };
      ctx.log.warn('restore drill failed', { component: component.name, backupId, error: err.message });
    }
    let sandboxState: DrillResult['sandboxState'] = { state: 'not-created' };
    let kept = false;
    if (sandboxTarget !== undefined && cause === undefined && verification.keepHours > 0) {
      // A kept sandbox is for people: sanitized before anyone is told it is there, or not kept at all.
      const rules = verification.sanitize?.[component.name] ?? [];
      try {
        if (rules.length > 0) sanitized = await sanitizeSandbox(component.name, sandboxTarget as never, rules);
        kept = true;
        sandboxState = { state: 'kept', keptUntil: new Date(ctx.now().getTime() + verification.keepHours * 3_600_000).toISOString() };
      } catch (error) {
        const err = error as Error;
        cause = { error: err.name, message: `the sanitization of the sandbox to keep failed, so it was dropped instead: ${err.message}` };
        ctx.log.warn('sandbox sanitization failed', { component: component.name, sandbox: sandbox?.name, error: err.message });
      }
    }
    const succeeded = cause === undefined;
    if (sandboxTarget !== undefined && !kept) {
      try {
        await drop(sandboxTarget);
        sandboxState = { state: 'dropped' };
      } catch (error) {
        sandboxState = { state: 'drop-failed', problem: (error as Error).message };
        ctx.log.warn('could not drop the drill sandbox', { component: component.name, sandbox: sandbox?.name, error: (error as Error).message });
      }
    }
    result = {
      succeeded,
      recoveryPoint: verification.recoveryPoint,
      ...(backupId ? { backupId } : {}),
      ...(sandbox ? { sandbox: sandbox.name } : {}),
      ...(restoreSeconds !== undefined ? { restoreSeconds } : {}),
      ...(sample ? { sample } : {}),
      ...(samples ? { samples } : {}),
      ...(sanitized ? { sanitized } : {}),
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
