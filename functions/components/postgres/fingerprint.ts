/**
 * The content fingerprint of a database: per table its row count and a digest of its rows, plus per
 * table a "#columns" entry for its column names and types. Computed inside the caller's transaction, so
 * a backup takes it from the same snapshot pg_dump reads.
 *
 * The row digest is a multiset hash: a 64-bit hash of each row, summed and XOR-ed over the table. It is
 * the same whatever physical order the rows are stored in (pg_restore reloads them in another order than
 * they were written), it runs entirely in the server with constant memory, and a changed, missing or
 * extra row changes it. Rows are hashed with hash_record_extended, the type-aware hash PostgreSQL keeps
 * stable for hash partitioning (four times cheaper than hashing the row's text, which matters because a
 * backup computes it while pg_dump runs); a table with a column type that has no hash function (json,
 * xml, point) falls back to hashing the row's text form. The method is part of the digest.
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

interface RowHashes {
  method: 'record' | 'text';
  n: string;
  sum: string;
  xor: string;
}

const rowHashSql = (hash: string, relation: string) =>
  `SELECT count(*)::text AS n, coalesce(sum(${hash}), 0)::text AS sum, coalesce(bit_xor(${hash}), 0)::text AS xor FROM ${relation} AS t`;

/** 42883: "could not identify a hash function for type …" */
const NO_HASH_FUNCTION = '42883';

async function rowHashes(client: Client, relation: string): Promise<RowHashes> {
  // A failed statement aborts the transaction; the savepoint keeps the snapshot usable for the fallback.
  await client.query('SAVEPOINT nca_fingerprint');
  try {
    const { rows } = await client.query<Omit<RowHashes, 'method'>>(rowHashSql('hash_record_extended(t, 0)', relation));
    await client.query('RELEASE SAVEPOINT nca_fingerprint');
    return { method: 'record', ...rows[0] };
  } catch (error) {
    if ((error as { code?: string }).code !== NO_HASH_FUNCTION) throw error;
    await client.query('ROLLBACK TO SAVEPOINT nca_fingerprint');
    const { rows } = await client.query<Omit<RowHashes, 'method'>>(rowHashSql('hashtextextended(t::text, 0)', relation));
    return { method: 'text', ...rows[0] };
  }
}

/** Runs in an open transaction on `client` (REPEATABLE READ, so every table is read at one snapshot). */
export async function fingerprintInTransaction(client: Client): Promise<Fingerprint> {
  for (const statement of STABLE_OUTPUT_SETTINGS) await client.query(statement);
  const tables = (await client.query<TableRow>(TABLES_SQL)).rows;
  const fingerprint: Record<string, { count: number; digest: string }> = {};
  for (const { schema, table, columns } of tables) {
    const name = `${schema}.${table}`;
    const relation = `${quoteIdent(schema)}.${quoteIdent(table)}`;
    const { method, n, sum, xor } = await rowHashes(client, relation);
    fingerprint[name] = { count: Number(n), digest: sha256(`${method}:${n}:${sum}:${xor}`) };
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
