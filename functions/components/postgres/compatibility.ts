/**
 * Which PostgreSQL versions work together. pg_dump refuses servers newer than itself; pg_restore cannot
 * read archives written by a newer pg_dump; and a dump of a newer server may use features an older
 * server lacks. Checked before anything is read or written, with both versions in the message.
 */
import { VersionMismatchError } from '../../core/errors';
import type { SourceInfo } from '../types';

export interface DumpVersions {
  readonly serverVersion: string;
  readonly serverMajor: number;
  readonly toolVersion: string;
  readonly toolMajor: number;
}

/** hash_record_extended and bit_xor, which the fingerprint uses, arrived in PostgreSQL 14. */
export const MIN_SERVER_MAJOR = 14;

export function checkDumpVersions(versions: DumpVersions, context: { backupId?: string } = {}): void {
  if (versions.serverMajor < MIN_SERVER_MAJOR) {
    throw new VersionMismatchError(`PostgreSQL ${versions.serverVersion} is not supported: nca-backup needs PostgreSQL ${MIN_SERVER_MAJOR} or newer.`, {
      component: 'postgres',
      ...context,
      hint: 'Upgrade the server (PostgreSQL 13 reached end of life in November 2025).',
    });
  }
  if (versions.toolMajor < versions.serverMajor) {
    throw new VersionMismatchError(
      `pg_dump ${versions.toolVersion} cannot back up PostgreSQL server ${versions.serverVersion}: pg_dump's major version must be at least the server's.`,
      { component: 'postgres', ...context, hint: `Build the worker image with PG_MAJOR=${versions.serverMajor} or newer.` },
    );
  }
}

export interface RestoreVersions {
  readonly targetServerVersion: string;
  readonly targetServerMajor: number;
  readonly restoreToolVersion: string;
  readonly restoreToolMajor: number;
}

export function checkRestoreVersions(source: SourceInfo, target: RestoreVersions, context: { backupId?: string } = {}): void {
  const where = { component: 'postgres', ...context };
  if (source.toolMajor !== undefined && target.restoreToolMajor < source.toolMajor) {
    throw new VersionMismatchError(
      `the backup was written by pg_dump ${source.toolVersion}; pg_restore ${target.restoreToolVersion} cannot read it.`,
      { ...where, hint: `Run the restore with a PostgreSQL ${source.toolMajor} or newer client (worker image PG_MAJOR).` },
    );
  }
  if (target.targetServerMajor < source.serverMajor) {
    throw new VersionMismatchError(
      `the backup comes from PostgreSQL ${source.serverVersion}; the target server runs ${target.targetServerVersion}, an older major version.`,
      { ...where, hint: `Restore into a PostgreSQL ${source.serverMajor} or newer server.` },
    );
  }
}
