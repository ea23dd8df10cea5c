import { checkDumpVersions, checkRestoreVersions } from '../../functions/components/postgres/compatibility';
import { parseToolVersion } from '../../functions/components/postgres/tools';
import { VersionMismatchError } from '../../functions/core/errors';

const source = { serverVersion: '16.4', serverMajor: 16, toolVersion: '17.2', toolMajor: 17, database: 'neuroca_db' };

describe('PostgreSQL version rules', () => {
  test.each([
    ['pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)', { version: '15.18', major: 15 }],
    ['pg_restore (PostgreSQL) 17.2', { version: '17.2', major: 17 }],
    ['pg_dump (PostgreSQL) 18devel', { version: '18', major: 18 }],
  ])('reads the version from %s', (output, expected) => {
    expect(parseToolVersion(output)).toEqual(expected);
  });

  test('pg_dump must be at least the server major version, and the server at least 14', () => {
    expect(() => checkDumpVersions({ serverVersion: '16.4', serverMajor: 16, toolVersion: '17.2', toolMajor: 17 })).not.toThrow();
    expect(() => checkDumpVersions({ serverVersion: '17.1', serverMajor: 17, toolVersion: '16.4', toolMajor: 16 })).toThrow(
      /postgres: pg_dump 16\.4 cannot back up PostgreSQL server 17\.1.*PG_MAJOR=17/,
    );
    expect(() => checkDumpVersions({ serverVersion: '13.9', serverMajor: 13, toolVersion: '17.2', toolMajor: 17 })).toThrow(VersionMismatchError);
  });

  test('a restore needs a pg_restore at least as new as the pg_dump, and a target server at least as new as the source', () => {
    const ok = { targetServerVersion: '16.1', targetServerMajor: 16, restoreToolVersion: '17.0', restoreToolMajor: 17 };
    expect(() => checkRestoreVersions(source, ok)).not.toThrow();
    expect(() => checkRestoreVersions(source, { ...ok, targetServerVersion: '17.0', targetServerMajor: 17 })).not.toThrow();
    expect(() => checkRestoreVersions(source, { ...ok, restoreToolVersion: '16.4', restoreToolMajor: 16 })).toThrow(
      'written by pg_dump 17.2; pg_restore 16.4 cannot read it',
    );
    expect(() => checkRestoreVersions(source, { ...ok, targetServerVersion: '15.8', targetServerMajor: 15 }, { backupId: '20261124T020000Z-7f3a' })).toThrow(
      'postgres 20261124T020000Z-7f3a: the backup comes from PostgreSQL 16.4; the target server runs 15.8, an older major version. Restore into a PostgreSQL 16 or newer server.',
    );
  });
});
