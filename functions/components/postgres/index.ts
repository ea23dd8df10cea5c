/**
 * The postgres component (database group): pg_dump -Fc streamed to the vault (one stream, or table by
 * table several at once for a large database: dump-layout.ts), pg_restore streamed back,
 * fingerprints of every table. Version checks come first, both when dumping and when restoring.
 */
import type { Client } from 'pg';
import { IntegrityError, InvalidInputError } from '../../core/errors';
import type { Component, ComponentEntry, RestoreTargetOptions, SourceInfo } from '../types';
import { readTableOfContents } from './archive';
import { isTableDataArtifact } from './dump-layout';
import { backupPostgres, DUMP_CONTENT_TYPE } from './backup';
import { checkRestoreVersions } from './compatibility';
import { connectPostgres, quoteIdent, withClient, withDatabase, type PostgresTarget } from './connection';
import { fingerprintDatabase } from './fingerprint';
import { existingRoles, missingRoles } from './globals';
import { resolveRestoreOptions, type PostgresRestoreOptions } from './options';
import { databaseExists, missingRolesError, restorePostgres } from './restore';
import { MAINTENANCE_DATABASE, serverVersion } from './server';
import { toolVersion } from './tools';
import { verifyDatabase } from './verify';
import { postgresRoom, type MeasuredFree } from './room';
import { rdsFreeStorage } from './rds-storage';
import { requireRoom } from '../room';

const ROOM_HINT = 'Grow the RDS instance\'s allocated storage (or enable storage autoscaling), drop what is no longer needed (a database kept aside by an earlier restore), or restore into another server.';

/** The RDS instance's FreeStorageSpace, when backup.sources.postgres names it. */
async function measuredFree(target: PostgresTarget): Promise<MeasuredFree | undefined> {
  if (!target.rds) return undefined;
  const free = await rdsFreeStorage(target.rds);
  const available = `CloudWatch FreeStorageSpace of RDS instance ${target.rds.instanceId}`;
  return 'bytes' in free ? { bytes: free.bytes, available: `${available} at ${free.at}` } : { available, problem: free.problem };
}

export type { PostgresRestoreOptions } from './options';
export { connectPostgres, withDatabase, describeTarget, type PostgresTarget } from './connection';


async function describeWith(target: PostgresTarget, client: Client) {
  const [server, dump] = await Promise.all([serverVersion(client), toolVersion(target, 'pg_dump')]);
  return { ...server, toolVersion: dump.version, toolMajor: dump.major, database: target.database, format: 'pg_dump custom (-Fc)' };
}

export const postgres: Component<PostgresTarget, PostgresRestoreOptions> = {
  name: 'postgres',
  group: 'database',

  describe: (target) => withClient(target, (client) => describeWith(target, client)),

  estimate: (target) =>
    withClient(target, async (client) => Number((await client.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes')).rows[0].bytes)),

  backup: (target, sink, log) => backupPostgres(target, sink, log, (client) => describeWith(target, client)),

  fingerprint: (target) => withClient(target, fingerprintDatabase),

  /**
   * Versions; the right to create the staging database; and the roles the backup's objects use (listed in
   * the manifest's source info), unless the options create them or restore without owners.
   */
  async checkCompatibility(source: SourceInfo, target: PostgresTarget, rawOptions?: PostgresRestoreOptions) {
    const options = resolveRestoreOptions(rawOptions);
    const restoreTool = await toolVersion(target, 'pg_restore');
    // The target database may not exist yet (restore into a new name): ask the maintenance database.
    return withClient(
      target,
      async (client) => {
        const server = await serverVersion(client);
        checkRestoreVersions(source, {
          targetServerVersion: server.serverVersion,
          targetServerMajor: server.serverMajor,
          restoreToolVersion: restoreTool.version,
          restoreToolMajor: restoreTool.major,
        });
        const { rows } = await client.query<{ createdb: boolean; createrole: boolean }>(
          'SELECT rolsuper OR rolcreatedb AS createdb, rolsuper OR rolcreaterole AS createrole FROM pg_roles WHERE rolname = current_user',
        );
        if (!rows[0]?.createdb) {
          throw new InvalidInputError(`role "${target.user}" may not create databases: a restore loads a staging database beside the target, then swaps it in. Nothing was written.`, {
            component: 'postgres',
            hint: `ALTER ROLE ${target.user} CREATEDB (on RDS, the master user has it).`,
          });
        }
        const roles = Array.isArray(source.roles) ? (source.roles as unknown[]).filter((r): r is string => typeof r === 'string') : [];
        if (!options.noOwner && roles.length > 0) {
          const missing = missingRoles(roles, await existingRoles(client));
          if (missing.length > 0 && !options.createRoles) throw missingRolesError(missing, target, { component: 'postgres' });
          if (missing.length > 0 && !rows[0].createrole) {
            throw new InvalidInputError(`options.createRoles needs a role with CREATEROLE; "${target.user}" lacks it. Nothing was written.`, {
              component: 'postgres',
              hint: 'Create the missing roles yourself, or restore with options.noOwner: true.',
            });
          }
        }
        const room = postgresRoom(source, 'databaseBytes', `PostgreSQL database ${target.database}`, 'the target database (kept until the swap, and kept aside after it)', await measuredFree(target));
        return { targetVersion: server.serverVersion, room: requireRoom(room, { component: 'postgres' }, ROOM_HINT) };
      },
      MAINTENANCE_DATABASE,
    );
  },

  targetExists: databaseExists,

  restore: (source, target, options, log) => restorePostgres(source, target, options, log),

  /** The dump's header and table of contents parse (what pg_restore --list reads), without a server. */
  async inspect(source) {
    const dumps = source.artifacts.filter((a) => a.contentType === DUMP_CONTENT_TYPE);
    const context = { component: 'postgres', backupId: source.backup?.backupId };
    if (dumps.length !== 1) throw new IntegrityError(`the backup holds ${dumps.length} pg_dump archives, not one.`, context);
    // The per-table layout's table-data archives are custom archives too: each is checked the same way.
    for (const dump of [dumps[0], ...source.artifacts.filter(isTableDataArtifact)]) {
      const { toc, archive } = await readTableOfContents(source.open(dump.name));
      archive.destroy();
      if (!toc) throw new IntegrityError(`${dump.name} has no table of contents this version reads (not a pg_dump custom archive of PostgreSQL 11 or later, or cut short).`, context);
    }
  },

  /** The fingerprint comparison, leaving out owners and grants when the restore did not restore them. */
  verifyRestore: (expected, _source, target, options) => withClient(target, (client) => verifyDatabase(client, expected, resolveRestoreOptions(options))),

  dropTarget: dropDatabase,
};

/**
 * Drops the target's database (a drill's sandbox), sessions and all: WITH (FORCE) from PostgreSQL 13, before
 * that by terminating its sessions first. Asks the maintenance database, as one cannot drop the database one is in.
 */
export function dropDatabase(target: PostgresTarget): Promise<void> {
  return withClient(
    target,
    async (client) => {
      const { serverMajor } = await serverVersion(client);
      if (serverMajor < 13) {
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target.database]);
      }
      await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(target.database)}${serverMajor >= 13 ? ' WITH (FORCE)' : ''}`);
    },
    MAINTENANCE_DATABASE,
  );
}

export const postgresEntry: ComponentEntry<PostgresTarget, RestoreTargetOptions, 'postgres'> = {
  component: postgres,
  connect: (source, env) => connectPostgres(source, env),
  retarget: (target, options) => (options.targetDatabase ? withDatabase(target, options.targetDatabase) : target),
};
