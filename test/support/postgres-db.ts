/** A fresh database on the run's PostgreSQL for each test, named so that parallel files never meet. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';

export function testPostgresUrl(): string {
  const url = process.env.NCA_TEST_POSTGRES_URL;
  if (!url) throw new Error('NCA_TEST_POSTGRES_URL is not set: run the tests through jest (global setup starts PostgreSQL)');
  return url;
}

export function urlFor(database: string): string {
  const url = new URL(testPostgresUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

export async function sql(database: string, text: string, params: unknown[] = []): Promise<any[]> {
  const client = new Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    return (await client.query(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function createDatabase(label = 'db'): Promise<string> {
  const name = `${label}_${randomBytes(4).toString('hex')}`;
  await sql('postgres', `CREATE DATABASE "${name}"`);
  return name;
}

export async function databaseExists(name: string): Promise<boolean> {
  return (await sql('postgres', 'SELECT 1 FROM pg_database WHERE datname = $1', [name])).length === 1;
}

/**
 * Whether the run's PostgreSQL has the pgvector extension (built as TESTING.md describes): where it has,
 * tables the NCA's code creates get vector(n) columns instead of real[], and the pgvector tests run.
 */
export function pgvectorInstalled(): boolean {
  try {
    const sharedir = execFileSync(join(process.env.NCA_TEST_PG_BIN_DIR ?? '/usr/lib/postgresql/15/bin', 'pg_config'), ['--sharedir'], { encoding: 'utf8' }).trim();
    return existsSync(join(sharedir, 'extension', 'vector.control'));
  } catch {
    return false;
  }
}
