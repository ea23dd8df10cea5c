/** A fresh database on the run's PostgreSQL for each test, named so that parallel files never meet. */
import { randomBytes } from 'node:crypto';
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
