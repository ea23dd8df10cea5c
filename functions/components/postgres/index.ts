/**
 * The postgres component (database group): pg_dump -Fc streamed to the vault, pg_restore streamed back,
 * fingerprints of every table. Version checks come first, both when dumping and when restoring.
 */
import type { Client } from 'pg';
import type { Component, SourceInfo } from '../types';
import type { RestoreTargetOptions } from '../index';
import { backupPostgres } from './backup';
import { checkRestoreVersions } from './compatibility';
import { withClient, type PostgresTarget } from './connection';
import { fingerprintDatabase } from './fingerprint';
import { databaseExists, restorePostgres } from './restore';
import { toolVersion } from './tools';

export { connectPostgres, withDatabase, describeTarget, type PostgresTarget } from './connection';

interface ServerVersion {
  serverVersion: string;
  serverMajor: number;
}

async function serverVersion(client: Client): Promise<ServerVersion> {
  const { rows } = await client.query<{ version: string; num: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  return { serverVersion: rows[0].version.split(' ')[0], serverMajor: Math.floor(Number(rows[0].num) / 10000) };
}

async function describeWith(target: PostgresTarget, client: Client) {
  const [server, dump] = await Promise.all([serverVersion(client), toolVersion(target, 'pg_dump')]);
  return { ...server, toolVersion: dump.version, toolMajor: dump.major, database: target.database, format: 'pg_dump custom (-Fc)' };
}

export const postgres: Component<PostgresTarget, RestoreTargetOptions> = {
  name: 'postgres',
  group: 'database',

  describe: (target) => withClient(target, (client) => describeWith(target, client)),

  estimate: (target) =>
    withClient(target, async (client) => Number((await client.query<{ bytes: string }>('SELECT pg_database_size(current_database())::text AS bytes')).rows[0].bytes)),

  backup: (target, sink, log) => backupPostgres(target, sink, log, (client) => describeWith(target, client)),

  fingerprint: (target) => withClient(target, fingerprintDatabase),

  async checkCompatibility(source: SourceInfo, target: PostgresTarget) {
    const restoreTool = await toolVersion(target, 'pg_restore');
    // The target database may not exist yet (restore into a new name): ask the maintenance database.
    const server = await withClient(target, serverVersion, 'postgres');
    checkRestoreVersions(source, {
      targetServerVersion: server.serverVersion,
      targetServerMajor: server.serverMajor,
      restoreToolVersion: restoreTool.version,
      restoreToolMajor: restoreTool.major,
    });
    return { targetVersion: server.serverVersion };
  },

  targetExists: databaseExists,

  restore: (source, target, _options, log) => restorePostgres(source, target, log),
};
