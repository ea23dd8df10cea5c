/**
 * The content fingerprint of a database: per table its row count and a digest of its rows, plus per
 * table a "#columns" entry for its column names and types. Computed inside the caller's transaction, so
 * a backup takes it from the same snapshot pg_dump reads.
 *
 * The row digest is a multiset hash: two independent 64-bit hashes of each row's text form, summed over
 * the table. It is the same whatever physical order the rows are stored in (pg_restore reloads them in a
 * different order than they were written), it runs entirely in the server with constant memory, and a
 * changed, missing or extra row changes it.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { Fingerprint } from '../types';
import { quoteIdent } from './connection';

/** Text output that does not depend on the session: the same rows print the same way everywhere. */
export const STABLE_OUTPUT_SETTINGS = [
  "SET LOCAL TimeZone = 'UTC'",
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL IntervalStyle = 'postgres'",
  'SET LOCAL extra_float_digits = 1',
  "SET LOCAL bytea_output = 'hex'",
];

interface TableRow {
  schema: string;
  table: string;
  columns: string;
}

const TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS "table",
         string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                    ', ' ORDER BY a.attnum) AS columns
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind = 'r'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
  GROUP BY n.nspname, c.relname
  ORDER BY 1, 2`;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Runs in an open transaction on `client` (REPEATABLE READ, so every table is read at one snapshot). */
export async function fingerprintInTransaction(client: Client): Promise<Fingerprint> {
  for (const statement of STABLE_OUTPUT_SETTINGS) await client.query(statement);
  const tables = (await client.query<TableRow>(TABLES_SQL)).rows;
  const fingerprint: Record<string, { count: number; digest: string }> = {};
  for (const { schema, table, columns } of tables) {
    const name = `${schema}.${table}`;
    const relation = `${quoteIdent(schema)}.${quoteIdent(table)}`;
    const { rows } = await client.query<{ n: string; h0: string; h1: string }>(
      `SELECT count(*)::text AS n,
              coalesce(sum(hashtextextended(t::text, 0)), 0)::text AS h0,
              coalesce(sum(hashtextextended(t::text, 1)), 0)::text AS h1
       FROM ${relation} AS t`,
    );
    const { n, h0, h1 } = rows[0];
    fingerprint[name] = { count: Number(n), digest: sha256(`${n}:${h0}:${h1}`) };
    fingerprint[`${name}#columns`] = { count: columns.split(', ').length, digest: sha256(columns) };
  }
  return fingerprint;
}

/** Fingerprint of a live database, read at one snapshot. */
export async function fingerprintDatabase(client: Client): Promise<Fingerprint> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    return await fingerprintInTransaction(client);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
