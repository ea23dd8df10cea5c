/**
 * What the PostgreSQL-backed components (postgres, vector, the semantic memory tier) ask a server, asked
 * one way: its version, and whether a database exists, which is asked in the maintenance database because
 * a restore's target may not exist yet.
 */
import type { Client } from 'pg';

/** The database every server has: where databases are looked up, created, renamed and dropped. */
export const MAINTENANCE_DATABASE = 'postgres';

export interface ServerVersion {
  /** "16.4", without a distribution's suffix ("16.4 (Debian 16.4-1.pgdg120+1)"). */
  readonly serverVersion: string;
  readonly serverMajor: number;
}

export async function serverVersion(client: Client): Promise<ServerVersion> {
  const { rows } = await client.query<{ version: string; num: string }>(
    "SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num",
  );
  return { serverVersion: rows[0].version.split(' ')[0], serverMajor: Math.floor(Number(rows[0].num) / 10000) };
}

/** Whether `database` exists on the server `client` is connected to (any database of it). */
export async function hasDatabase(client: Client, database: string): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])).rowCount === 1;
}
