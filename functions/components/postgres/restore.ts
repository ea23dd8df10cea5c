/**
 * The restore, in place for any schema: the verified artifact stream goes into pg_restore, which loads
 * it into a staging database beside the target (never with --clean, so partitioned tables, objects added
 * after the backup and the like cannot trip it), indexes and constraints built while the rows are read
 * for the fingerprint (loadStaging). The staging database gets the source database's settings, comment,
 * owner and grants, and is fingerprinted against the backup. Only then the swap: the
 * sessions on the target are dealt with (listed, or ended after a grace period when the input allows
 * it), and in one transaction the target is renamed aside and the staging database takes its name.
 * Until the swap the target is untouched; any failure before it drops the staging database.
 *
 * The previous database is kept aside under a name that records until when (keepPreviousHours); every
 * restore on the server first drops those whose time has passed.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Client } from 'pg';
import { BackupNotFoundError, InvalidInputError, NcaBackupError, TransientError, VerificationError } from '../../core/errors';
import { describeDifferences } from '../../core/fingerprint-diff';
import type { ArtifactSource, ComponentRestoreResult, FingerprintEntry, Logger } from '../types';
import { readTableOfContents } from './archive';
import { DUMP_CONTENT_TYPE } from './backup';
import { connectionLost, describeTarget, openClient, quoteIdent, withClient, withDatabase, type PostgresTarget } from './connection';
import { classifyPgError, pgErrorCode } from './errors';
import { applyDatabaseFacts, createRoles, existingRoles, GLOBALS_ARTIFACT, LOCALE_SQL, localeClauses, missingRoles, readGlobalsArtifact, type DatabaseLocale, type Globals } from './globals';
import { resolveRestoreOptions, type PostgresRestoreOptions, type ResolvedRestoreOptions } from './options';
import { databaseLockHolders, describeSessions, endSessions, listSessions } from './sessions';
import { hasDatabase, MAINTENANCE_DATABASE } from './server';
import { KEPT_ASIDE_SQL_PATTERN, keptAsideName, keptUntil, stagingDatabaseName } from './staging';
import { feedTool, runTool } from './tools';
import { RowsAsLoaded } from './fingerprint';
import { verifyDatabase } from './verify';
import { hasTableDataArtifacts, loadPerTable } from './restore-tables';
import { parallelStreams } from '../../core/streams';


/** The restore's own statements (create, rename, settings, drop) never wait longer than this. */
const STATEMENT_TIMEOUT_SECONDS = 600;

export async function databaseExists(target: PostgresTarget): Promise<boolean> {
  return withClient(target, (client) => hasDatabase(client, target.database), MAINTENANCE_DATABASE);
}

/** Into a fresh staging database: no --clean. */
const PG_RESTORE_ARGS = ['--exit-on-error', '--no-password'];
/**
 * Tables and their rows. Each table's rows commit on their own, so that the fingerprint can read a table
 * while the next one loads (a failure drops the whole staging database anyway). --verbose: pg_restore
 * then says which table it loads (DATA_LINE).
 */
const LOAD_SECTIONS = ['--section=pre-data', '--section=data', '--verbose'];
/** pg_restore --verbose prints this before a table's rows; any line after it means they are committed. */
const DATA_LINE = /^pg_restore: processing data for table "(.*)"$/;
/**
 * Indexes, constraints, triggers, policies: one statement per transaction, so that an ALTER TABLE … ADD
 * PRIMARY KEY holds its table's lock only while it builds, never until the whole section is done (the
 * fingerprint reads the tables meanwhile).
 */
const POST_DATA_SECTION = ['--section=post-data'];
const WITHOUT_OWNERS = ['--no-owner', '--no-privileges'];

/** Runs one step of the restore and records its duration under `step` (the result's details.timings). */
type Timer = <T>(step: string, work: () => Promise<T>) => Promise<T>;

interface RestoreContext {
  readonly target: PostgresTarget;
  readonly staging: string;
  readonly options: ResolvedRestoreOptions;
  readonly backupId?: string;
  readonly log: Logger;
}

const errorContext = (ctx: RestoreContext) => ({ component: 'postgres', ...(ctx.backupId ? { backupId: ctx.backupId } : {}) });

/** Adds what happened to the target to a failure's message: an operator must know whether it changed. */
function withTargetState(error: unknown, state: string): unknown {
  const classified = classifyPgError(error, 'the restore', { component: 'postgres' });
  if (classified instanceof NcaBackupError && !classified.message.includes(state)) classified.message = `${classified.message} ${state}`;
  return classified;
}

async function maintenanceClient(ctx: RestoreContext): Promise<Client> {
  const client = await openClient(ctx.target, MAINTENANCE_DATABASE);
  await client.query(`SET lock_timeout = '${ctx.options.lockTimeoutSeconds}s'`);
  await client.query(`SET statement_timeout = '${STATEMENT_TIMEOUT_SECONDS}s'`);
  return client;
}

/** Drops the databases earlier restores kept aside whose time has passed; a failure only warns. */
export async function dropExpiredKeptAside(client: Client, now: Date, log: Logger): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname ~ $1', [KEPT_ASIDE_SQL_PATTERN]);
  const dropped: string[] = [];
  for (const { datname } of rows) {
    const until = keptUntil(datname);
    if (!until || until > now) continue;
    try {
      await client.query(`DROP DATABASE ${quoteIdent(datname)}`);
      dropped.push(datname);
      log.info('dropped a database kept aside by an earlier restore', { database: datname, keptUntil: until.toISOString() });
    } catch (error) {
      log.warn('could not drop a database kept aside by an earlier restore', { database: datname, error: (error as Error).message });
    }
  }
  return dropped;
}

function refuseSessions(ctx: RestoreContext, sessions: Parameters<typeof describeSessions>[0], state: string): InvalidInputError {
  return new InvalidInputError(`database "${ctx.target.database}" has ${sessions.length} open session(s): ${describeSessions(sessions)}. ${state}`, {
    ...errorContext(ctx),
    hint: 'Stop the services using it and repeat the restore, or repeat it with options.terminateSessions: true (they are ended after options.sessionGraceSeconds).',
  });
}

async function readGlobals(source: ArtifactSource, ctx: RestoreContext): Promise<Globals | undefined> {
  if (!source.artifacts.some((a) => a.name === GLOBALS_ARTIFACT)) return undefined;
  return readGlobalsArtifact(source.open(GLOBALS_ARTIFACT), errorContext(ctx));
}

/** Roles: absent ones are created when allowed; otherwise refused before anything is written. */
async function prepareRoles(client: Client, globals: Globals | undefined, ctx: RestoreContext): Promise<string[]> {
  if (!globals || ctx.options.noOwner) return [];
  const missing = missingRoles(globals.roles.map((r) => r.name), await existingRoles(client));
  if (missing.length === 0) return [];
  if (!ctx.options.createRoles) throw missingRolesError(missing, ctx.target, errorContext(ctx));
  const created = await createRoles(client, globals.roles, missing);
  ctx.log.warn('created roles the backup uses (without passwords)', { roles: created });
  return created;
}

export function missingRolesError(missing: readonly string[], target: PostgresTarget, context: { component: string; backupId?: string }): InvalidInputError {
  return new InvalidInputError(`the backup's objects are owned by or granted to role(s) missing on ${target.host}:${target.port}: ${missing.map((r) => `"${r}"`).join(', ')}. Nothing was written.`, {
    ...context,
    hint: 'Create them, or repeat with options.createRoles: true (created without passwords, NOLOGIN unless they had LOGIN), or with options.noOwner: true to restore without owners and grants.',
  });
}

/**
 * CREATE DATABASE for the staging copy, sorting and encoding text as the database it replaces does (or,
 * for a new database, as the backed-up one did).
 */
async function createStaging(client: Client, ctx: RestoreContext, targetExists: boolean, globals: Globals | undefined): Promise<void> {
  const leftover = await hasDatabase(client, ctx.staging);
  if (leftover) {
    // A previous attempt of this same restore (same target, same backup) stopped before cleaning up.
    ctx.log.warn('dropping a staging database left by an earlier attempt', { database: ctx.staging });
    await client.query(`DROP DATABASE ${quoteIdent(ctx.staging)}`);
  }
  const locale = targetExists ? (await client.query<DatabaseLocale>(LOCALE_SQL, [ctx.target.database])).rows[0] : globals?.database.locale;
  // template0: objects an administrator added to template1 would collide with the dump's own.
  await client.query(`CREATE DATABASE ${quoteIdent(ctx.staging)} TEMPLATE template0${locale ? ` ${localeClauses(client, locale)}` : ''}`);
}

/**
 * Calls `loaded` with each table whose rows pg_restore has committed, as its --verbose lines tell: a
 * table's line comes before its COPY, and the next line only once that COPY is done. The last table is
 * told by nobody; `finish` reads it.
 */
function followLoadedTables(stderr: NodeJS.ReadableStream, loaded: (printedName: string) => void): void {
  let pending: string | undefined;
  let partial = '';
  stderr.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (pending !== undefined) loaded(pending);
      pending = DATA_LINE.exec(line)?.[1];
    }
  });
}

/**
 * Loads the staging database. When the archive's table of contents can be read (a custom archive of a
 * known version), in two passes: the tables and their rows from the stream, each table's rows read for
 * the fingerprint as soon as they are committed (a COPY keeps one core busy, the read another), then
 * the post-data section from the table of contents alone while the tables not read yet are read.
 * Otherwise in one pass, as pg_restore alone would. Gives the rows' fingerprint entries when read.
 */
/** The tables' row entries, read while the staging database was loaded; how many as their rows were committed. */
interface StagedRows {
  readonly entries: ReadonlyMap<string, FingerprintEntry>;
  readonly readAsLoaded: number;
}

async function loadStaging(source: ArtifactSource, artifactName: string, ctx: RestoreContext, timed: Timer): Promise<StagedRows | undefined> {
  if (hasTableDataArtifacts(source)) return loadTables(source, artifactName, ctx, timed);
  const owners = ctx.options.noOwner ? WITHOUT_OWNERS : [];
  const staging = withDatabase(ctx.target, ctx.staging);
  const { toc, archive } = await readTableOfContents(source.open(artifactName));
  ctx.log.info('pg_restore into the staging database started', { target: describeTarget(ctx.target), staging: ctx.staging, artifact: artifactName, passes: toc ? 2 : 1 });
  if (!toc) {
    await timed('loadMs', () => feedTool(archive, runTool(staging, 'pg_restore', [...PG_RESTORE_ARGS, ...owners, '--single-transaction', '--dbname', ctx.staging], errorContext(ctx)), errorContext(ctx)));
    return undefined;
  }
  const reader = source.backup ? await openClient(staging) : undefined;
  try {
    const rows = reader ? new RowsAsLoaded(reader) : undefined;
    await timed('loadMs', async () => {
      const load = runTool(staging, 'pg_restore', [...PG_RESTORE_ARGS, ...owners, ...LOAD_SECTIONS, '--dbname', ctx.staging], errorContext(ctx));
      if (rows) followLoadedTables(load.child.stderr!, (table) => rows.loaded(table));
      await feedTool(archive, load, errorContext(ctx));
    });
    ctx.log.info('tables loaded; building indexes and constraints while the rest of the rows are read for the fingerprint', { staging: ctx.staging });
    const postData = timed('postDataMs', async () => {
      const restore = runTool(staging, 'pg_restore', [...PG_RESTORE_ARGS, ...owners, ...POST_DATA_SECTION, '--dbname', ctx.staging], errorContext(ctx));
      await feedTool(Readable.from([toc.bytes]), restore, errorContext(ctx));
    });
    const read = rows ? timed('rowsMs', () => rows.finish()) : Promise.resolve(undefined);
    const [built, digests] = await Promise.allSettled([postData, read]);
    if (built.status === 'rejected') throw built.reason;
    if (digests.status === 'rejected') throw digests.reason;
    return digests.value && { entries: digests.value, readAsLoaded: rows!.readAsLoaded };
  } finally {
    await reader?.end().catch(() => undefined);
  }
}

/** The per-table layout (restore-tables.ts), its tables read for the fingerprint as they are loaded. */
async function loadTables(source: ArtifactSource, schemaArtifact: string, ctx: RestoreContext, timed: Timer): Promise<StagedRows | undefined> {
  const staging = withDatabase(ctx.target, ctx.staging);
  const reader = source.backup ? await openClient(staging) : undefined;
  try {
    const rows = reader ? new RowsAsLoaded(reader) : undefined;
    const entries = await loadPerTable({
      source,
      schemaArtifact,
      staging,
      stagingName: ctx.staging,
      common: [...PG_RESTORE_ARGS, ...(ctx.options.noOwner ? WITHOUT_OWNERS : [])],
      streams: parallelStreams(),
      context: errorContext(ctx),
      rows,
      timed,
      log: ctx.log,
    });
    return entries && { entries, readAsLoaded: rows!.readAsLoaded };
  } finally {
    await reader?.end().catch(() => undefined);
  }
}

async function verifyStaging(source: ArtifactSource, ctx: RestoreContext, rows: ReadonlyMap<string, FingerprintEntry> | undefined): Promise<{ objects: number } | undefined> {
  if (!source.backup) return undefined;
  const verification = await withClient(withDatabase(ctx.target, ctx.staging), (client) => verifyDatabase(client, source.backup!.fingerprint, ctx.options, rows));
  if (verification.differences.length > 0) {
    throw new VerificationError(`the staged restore does not match the backup's fingerprint: ${describeDifferences(verification.differences)}.`, errorContext(ctx));
  }
  return { objects: verification.objects };
}

interface SwapResult {
  readonly keptAside?: string;
  readonly keptUntil?: string;
  readonly sessionsEnded: readonly unknown[];
}

/** Renames the target aside and the staging database into its place, in one transaction. */
async function swap(client: Client, ctx: RestoreContext, targetExists: boolean, unchanged: string): Promise<SwapResult> {
  const target = quoteIdent(ctx.target.database);
  const staging = quoteIdent(ctx.staging);
  if (!targetExists) {
    await client.query(`ALTER DATABASE ${staging} RENAME TO ${target}`);
    return { sessionsEnded: [] };
  }
  const allowed = (await client.query<{ allowed: boolean }>('SELECT datallowconn AS allowed FROM pg_database WHERE datname = $1', [ctx.target.database])).rows[0].allowed;
  let sessionsEnded: readonly unknown[] = [];
  let blocked = false;
  const unblock = async () => {
    if (blocked) await client.query(`ALTER DATABASE ${target} ALLOW_CONNECTIONS ${allowed}`).catch(() => undefined);
  };
  const aside = keptAsideName(ctx.target.database, new Date(Date.now() + ctx.options.keepPreviousHours * 3600_000));
  try {
    if (ctx.options.terminateSessions) {
      // New sessions cannot start while the old ones are ended and the names are swapped.
      await client.query(`ALTER DATABASE ${target} ALLOW_CONNECTIONS false`);
      blocked = true;
      sessionsEnded = await endSessions(client, ctx.target.database, { graceSeconds: ctx.options.sessionGraceSeconds, targetState: unchanged, ...errorContext(ctx) }, ctx.log);
    } else {
      const sessions = await listSessions(client, ctx.target.database);
      if (sessions.length > 0) throw refuseSessions(ctx, sessions, unchanged);
    }
    await client.query('BEGIN');
    try {
      await client.query(`ALTER DATABASE ${target} RENAME TO ${quoteIdent(aside)}`);
      await client.query(`ALTER DATABASE ${staging} RENAME TO ${target}`);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw await explainSwapFailure(client, error, ctx, unchanged);
    }
  } catch (error) {
    await unblock();
    throw error;
  }
  // The previous database keeps its own connection setting, so it can be inspected or renamed back.
  // The swap is done: nothing after it may fail the restore.
  if (blocked) {
    await client.query(`ALTER DATABASE ${quoteIdent(aside)} ALLOW_CONNECTIONS ${allowed}`).catch((error: Error) => {
      ctx.log.warn('could not allow connections to the previous database again', { database: aside, error: error.message });
    });
  }
  return { keptAside: aside, keptUntil: keptUntil(aside)!.toISOString(), sessionsEnded };
}

/** A rename that failed on a lock or on sessions names who is in the way. */
async function explainSwapFailure(client: Client, error: unknown, ctx: RestoreContext, unchanged: string): Promise<unknown> {
  const code = pgErrorCode(error);
  if (code === '55P03') {
    const holders = await databaseLockHolders(client, ctx.target.database).catch(() => []);
    return new TransientError(
      `renaming database "${ctx.target.database}" waited longer than ${ctx.options.lockTimeoutSeconds}s for a lock${holders.length ? ` held by ${describeSessions(holders)}` : ''}. ${unchanged}`,
      { ...errorContext(ctx), hint: 'End those transactions (or wait for them) and repeat the restore; options.lockTimeoutSeconds sets the wait.' },
    );
  }
  if (code === '55006') {
    const sessions = await listSessions(client, ctx.target.database).catch(() => []);
    return refuseSessions(ctx, sessions, unchanged);
  }
  return error;
}

export async function restorePostgres(source: ArtifactSource, target: PostgresTarget, rawOptions: PostgresRestoreOptions, log: Logger): Promise<ComponentRestoreResult> {
  const artifact = source.artifacts.find((a) => a.contentType === DUMP_CONTENT_TYPE) ?? source.artifacts.find((a) => a.name.endsWith('.dump'));
  if (!artifact) throw new BackupNotFoundError('the backup holds no PostgreSQL dump artifact.', { component: 'postgres', backupId: source.backup?.backupId });
  const options = resolveRestoreOptions(rawOptions);
  // Without the manifest's facts (a test's bare artifacts) the staging name still must not collide.
  const stagingKey = source.backup?.backupId ?? randomBytes(8).toString('hex');
  const ctx: RestoreContext = { target, staging: stagingDatabaseName(target.database, stagingKey), options, backupId: source.backup?.backupId, log };
  const unchanged = `The target database "${target.database}" is unchanged.`;

  const client = await maintenanceClient(ctx);
  const lost = connectionLost(client);
  const run = async (): Promise<ComponentRestoreResult> => {
    const dropped = await dropExpiredKeptAside(client, new Date(), log);
    const targetExists = await hasDatabase(client, target.database);
    if (targetExists && !options.terminateSessions) {
      // Refused now rather than after the whole load: nothing has been written yet.
      const sessions = await listSessions(client, target.database);
      if (sessions.length > 0) throw refuseSessions(ctx, sessions, `${unchanged} Nothing was written.`);
    }
    const globals = await readGlobals(source, ctx);
    const rolesCreated = await prepareRoles(client, globals, ctx);

    let staged: { objects: number } | undefined;
    let swapped: SwapResult;
    let rows: StagedRows | undefined;
    await createStaging(client, ctx, targetExists, globals);
    const dropped_ = `${unchanged} The staging database "${ctx.staging}" was dropped.`;
    const timings: Record<string, number> = {};
    const timed: Timer = async (step, work) => {
      const started = Date.now();
      try {
        return await work();
      } finally {
        timings[step] = Date.now() - started;
      }
    };
    try {
      rows = await loadStaging(source, artifact.name, ctx, timed);
      if (globals) await applyDatabaseFacts(client, ctx.staging, globals.database, options);
      staged = await timed('verifyMs', () => verifyStaging(source, ctx, rows?.entries));
      log.info('staging database verified; swapping it in', { staging: ctx.staging, objects: staged?.objects });
      swapped = await timed('swapMs', () => swap(client, ctx, targetExists, dropped_));
    } catch (error) {
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(ctx.staging)} WITH (FORCE)`).catch((dropError: Error) => {
        log.warn('could not drop the staging database', { database: ctx.staging, error: dropError.message });
      });
      throw withTargetState(error, dropped_);
    }
    let previousDropped = false;
    if (swapped.keptAside && options.keepPreviousHours === 0) {
      // Its name says it has expired: if it cannot be dropped now (a session on it), the next restore drops it.
      previousDropped = await client.query(`DROP DATABASE ${quoteIdent(swapped.keptAside)}`).then(
        () => (log.info('dropped the previous database (keepPreviousHours is 0)', { database: swapped.keptAside }), true),
        (error: Error) => (log.warn('could not drop the previous database yet', { database: swapped.keptAside, error: error.message }), false),
      );
    } else if (swapped.keptAside) {
      log.info('previous database kept aside', { database: swapped.keptAside, until: swapped.keptUntil });
    }
    return {
      target: target.database,
      replacedExisting: targetExists,
      details: {
        stagedAs: ctx.staging,
        verifiedBeforeSwap: staged !== undefined,
        ...(rows ? { tablesReadAsLoaded: rows.readAsLoaded } : {}),
        ...(swapped.keptAside && !previousDropped ? { previousKeptAs: swapped.keptAside, previousKeptUntil: swapped.keptUntil } : {}),
        ...(swapped.sessionsEnded.length ? { sessionsEnded: swapped.sessionsEnded } : {}),
        ...(rolesCreated.length ? { rolesCreated } : {}),
        ...(dropped.length ? { droppedExpired: dropped } : {}),
        ...(options.noOwner ? { owners: 'not restored (noOwner)' } : {}),
        timings,
      },
    };
  };
  try {
    return await Promise.race([run(), lost]);
  } catch (error) {
    throw classifyPgError(error, 'the restore', errorContext(ctx));
  } finally {
    await client.end().catch(() => undefined);
  }
}
