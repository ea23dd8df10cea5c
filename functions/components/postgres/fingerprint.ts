/**
 * The content fingerprint of a database, equal after a faithful restore, whatever OIDs the restore
 * assigns and whatever name the restored database has. Computed inside the caller's transaction, so a
 * backup takes it from the same snapshot pg_dump reads. Keys are described in fingerprint-keys.ts; per
 * facet:
 *  - relations (fingerprint-relations.ts): rows of tables and materialized views, definitions (#columns);
 *  - objects (fingerprint-objects.ts): schemas, types, functions, comments, large objects, sequences;
 *  - catalog objects (fingerprint-catalog.ts): extensions and their versions, operators, casts,
 *    collations, text search configurations, event triggers, publications, extended statistics;
 *  - privileges (fingerprint-privileges.ts): owners and grants (#privileges), and the database's
 *    settings, comment and grants.
 * A failure is a typed error naming the component and, when a table's rows were being read, the table.
 */
import type { Client } from 'pg';
import type { Fingerprint, FingerprintEntry } from '../types';
import { fingerprintCatalogObjects } from './fingerprint-catalog';
import { fingerprintError } from './fingerprint-errors';
import { fingerprintLargeObjects, fingerprintObjects, fingerprintSequences } from './fingerprint-objects';
import { fingerprintDatabaseFacts, fingerprintPrivileges } from './fingerprint-privileges';
import { fingerprintRelations, tablesByPrintedName, type LoadedTable } from './fingerprint-relations';
import { TypeTree } from './fingerprint-rows';
import { FINGERPRINT_SETTINGS } from './fingerprint-scope';

export { isPrivilegesKey, PRIVILEGES_FACET } from './fingerprint-keys';

/** Text output that does not depend on the session: the same rows print the same way everywhere. */
export const STABLE_OUTPUT_SETTINGS = [
  "SET LOCAL TimeZone = 'UTC'",
  "SET LOCAL DateStyle = 'ISO, YMD'",
  "SET LOCAL IntervalStyle = 'postgres'",
  'SET LOCAL extra_float_digits = 1',
  "SET LOCAL bytea_output = 'hex'",
];

/**
 * Runs in an open transaction on `client` (REPEATABLE READ, so every table is read at one snapshot).
 * `rows`: the tables' row entries, when fingerprintRowsApart read them already.
 */
export async function fingerprintInTransaction(client: Client, rows?: ReadonlyMap<string, FingerprintEntry>): Promise<Fingerprint> {
  try {
    for (const statement of [...STABLE_OUTPUT_SETTINGS, ...FINGERPRINT_SETTINGS]) await client.query(statement);
    const types = await TypeTree.load(client);
    return {
      ...(await fingerprintRelations(client, types, rows)),
      ...(await fingerprintObjects(client)),
      ...(await fingerprintCatalogObjects(client)),
      ...(await fingerprintLargeObjects(client)),
      ...(await fingerprintPrivileges(client)),
      ...(await fingerprintDatabaseFacts(client)),
      // Last: sequence values are read outside the snapshot, as pg_dump reads them (see fingerprintSequences).
      ...(await fingerprintSequences(client)),
    };
  } catch (error) {
    // A table's read names its table (fingerprint-relations.ts); anything else is the catalog.
    throw fingerprintError(error, 'the catalog');
  }
}

/** Fingerprint of a live database, read at one snapshot (the tables' rows excepted when `rows` is given). */
export async function fingerprintDatabase(client: Client, rows?: ReadonlyMap<string, FingerprintEntry>): Promise<Fingerprint> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY').catch((error: unknown) => {
    throw fingerprintError(error);
  });
  try {
    return await fingerprintInTransaction(client, rows);
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/**
 * The row entries of a staging database's tables, each table read in a short transaction of its own
 * rather than all at one snapshot: only for a database nobody else writes to, the staging database of a
 * restore. pg_restore commits each table's rows on their own (its data section runs without
 * --single-transaction), so a table is read as soon as `loaded` says its rows are in, while the next
 * table loads; `finish` reads the tables not read yet (largest first), while pg_restore builds the
 * indexes and constraints. Its ALTER TABLE … ADD PRIMARY KEY locks one table at a time; a read holding
 * one table's lock at most makes it wait, never deadlock. Pass the result to fingerprintDatabase once the
 * indexes and constraints are in.
 */
export class RowsAsLoaded {
  private prepared?: Promise<{ types: TypeTree; tables: Awaited<ReturnType<typeof tablesByPrintedName>> }>;
  private reading: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | undefined;
  private readonly rows = new Map<string, FingerprintEntry>();

  constructor(private readonly client: Client) {}

  /**
   * The table pg_restore printed as `schema.name` has all its rows committed. Called once the schema is in
   * (pg_restore loads rows only after every table and type is created). A printed name that two tables
   * share ("a.b.c": schema "a.b" or table "b.c") is left for `finish`.
   */
  loaded(printedName: string): void {
    this.reading = this.reading.then(async () => {
      if (this.failure) return;
      const { types, tables } = await this.prepare();
      const matches = tables.byPrintedName.get(printedName) ?? [];
      if (matches.length === 1) await this.read(matches[0], types);
    }).catch((error: unknown) => {
      this.failure ??= { error };
    });
  }

  /** Reads every table not read yet and gives every table's row entry. */
  async finish(): Promise<Map<string, FingerprintEntry>> {
    await this.reading;
    if (this.failure) throw fingerprintError(this.failure.error, 'the catalog');
    this.readAsLoaded = this.rows.size;
    try {
      const { types, tables } = await this.prepare();
      for (const table of tables.all) if (!this.rows.has(table.key)) await this.read(table, types);
      return this.rows;
    } catch (error) {
      throw fingerprintError(error, 'the catalog');
    }
  }

  /** How many tables were read as their rows were committed (set by `finish`). */
  readAsLoaded = 0;

  private prepare() {
    this.prepared ??= (async () => {
      // The same settings as the snapshot's, for the session: each table has its own transaction.
      for (const statement of [...STABLE_OUTPUT_SETTINGS, ...FINGERPRINT_SETTINGS]) await this.client.query(statement.replace(/^SET LOCAL /, 'SET '));
      return { types: await TypeTree.load(this.client), tables: await tablesByPrintedName(this.client) };
    })();
    return this.prepared;
  }

  private async read(table: LoadedTable, types: TypeTree): Promise<void> {
    await this.client.query('BEGIN READ ONLY');
    try {
      this.rows.set(table.key, await table.read(this.client, types));
    } finally {
      await this.client.query('COMMIT').catch(() => undefined);
    }
  }
}

/** The row entries of every table of a database nobody writes to, each table in its own transaction. */
export const fingerprintRowsApart = (client: Client): Promise<Map<string, FingerprintEntry>> => new RowsAsLoaded(client).finish();
