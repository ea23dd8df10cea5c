/**
 * Relations: rows of tables, the definition ("#columns") of every table,
 * partitioned table, materialized view, view and foreign table, and what hangs on them ("#constraints":
 * constraints, indexes, triggers, rules, row-level security policies), so a restore that lost an index
 * or a foreign key is seen.
 *
 * Rows are read from ordinary tables, leaf partitions included (relkind 'r'). A materialized view's
 * rows are not: pg_dump carries its query, not its rows, and a restore runs REFRESH, so a view that was
 * stale at the backup (its tables changed since the last refresh) or reads a volatile function (now(),
 * random()) comes back with other rows after a faithful restore. Its definition (query, columns,
 * indexes) and whether it is populated are what a restore must bring back, and what is fingerprinted.
 * A partitioned parent ('p') holds no rows of its own, so it has a definition entry
 * only and nothing is counted twice. A foreign table's rows live on another server that pg_dump does not
 * dump: its definition is fingerprinted, its rows are not.
 *
 * An inheritance child's column order is not the database's to keep: pg_dump recreates `c (b) INHERITS
 * (p)` with the parent's columns first, so after `ALTER TABLE p ADD COLUMN z` a child stored as (a, b, z)
 * comes back as (a, z, b). For a table that inherits (partitions excluded: ATTACH keeps their order and
 * pg_dump recreates it), columns are listed and rows hashed in name order, which both sides share.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { Fingerprint, FingerprintEntry } from '../types';
import { quoteIdent } from './connection';
import { fingerprintError } from './fingerprint-errors';
import { objectKey } from './fingerprint-keys';
import { rowDigest, type Column, type TypeTree } from './fingerprint-rows';
import { notExtensionMember, userSchema } from './fingerprint-scope';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface RelationRow {
  kind: string;
  names: string[];
  schema: string;
  name: string;
  relkind: string;
  populated: boolean;
  /** An inheritance child (not a partition): its columns are taken in name order. */
  inherits: boolean;
  columns: Column[] | null;
  definition: string | null;
  constraints: string[];
}

// One line per column: name, type, collation when not the type's, not null, identity, default or
// generation expression, storage when not the type's. Partition bounds, partition keys, view queries,
// persistence (unlogged), storage parameters (WITH, and the TOAST table's) and foreign servers follow.
const RELATIONS_SQL = `
  SELECT a.type AS kind, a.object_names AS names, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
         c.relispopulated AS populated, h.inherits,
         (SELECT json_agg(json_build_object('name', at.attname, 'type', at.atttypid::int8,
                                   'nondeterministic', coalesce((SELECT NOT co.collisdeterministic FROM pg_collation co WHERE co.oid = at.attcollation), false)) ORDER BY CASE WHEN h.inherits THEN 0 ELSE at.attnum END, at.attname)
          FROM pg_attribute at WHERE at.attrelid = c.oid AND at.attnum > 0 AND NOT at.attisdropped) AS columns,
         concat_ws(E'\\n',
           (SELECT string_agg(quote_ident(at.attname) || ' ' || format_type(at.atttypid, at.atttypmod)
                     || CASE WHEN at.attcollation <> 0 AND at.attcollation <> ty.typcollation THEN ' collate ' || at.attcollation::regcollation::text ELSE '' END
                     || CASE WHEN at.attnotnull THEN ' not null' ELSE '' END
                     || CASE WHEN at.attidentity <> '' THEN ' identity ' || at.attidentity::text ELSE '' END
                     || coalesce(CASE WHEN at.attgenerated = 's' THEN ' generated ' ELSE ' default ' END || pg_get_expr(ad.adbin, ad.adrelid), '')
                     || CASE WHEN at.attstorage <> ty.typstorage THEN ' storage ' || at.attstorage::text ELSE '' END,
                     ', ' ORDER BY CASE WHEN h.inherits THEN 0 ELSE at.attnum END, at.attname)
            FROM pg_attribute at
            JOIN pg_type ty ON ty.oid = at.atttypid
            LEFT JOIN pg_attrdef ad ON ad.adrelid = at.attrelid AND ad.adnum = at.attnum
            WHERE at.attrelid = c.oid AND at.attnum > 0 AND NOT at.attisdropped),
           (SELECT 'inherits ' || string_agg(i.inhparent::regclass::text, ', ' ORDER BY i.inhparent::regclass::text)
            FROM pg_inherits i WHERE i.inhrelid = c.oid),
           CASE WHEN c.relispartition THEN 'partition ' || pg_get_expr(c.relpartbound, c.oid) END,
           CASE WHEN c.relkind = 'p' THEN 'partition by ' || pg_get_partkeydef(c.oid) END,
           CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END,
           CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END,
           (SELECT 'with ' || string_agg(o, ', ' ORDER BY o) FROM unnest(c.reloptions) o),
           (SELECT 'toast with ' || string_agg(o, ', ' ORDER BY o) FROM pg_class tc, unnest(tc.reloptions) o WHERE tc.oid = c.reltoastrelid),
           (SELECT 'server ' || quote_ident(s.srvname) || coalesce(' options ' || array_to_string(f.ftoptions, ', '), '')
            FROM pg_foreign_table f JOIN pg_foreign_server s ON s.oid = f.ftserver WHERE f.ftrelid = c.oid)
         ) AS definition,
         ARRAY(SELECT line FROM (
           SELECT 'constraint ' || quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid) AS line FROM pg_constraint k WHERE k.conrelid = c.oid
           UNION ALL SELECT 'index ' || pg_get_indexdef(x.indexrelid) FROM pg_index x WHERE x.indrelid = c.oid
           UNION ALL SELECT 'trigger ' || pg_get_triggerdef(g.oid) || ' enabled ' || g.tgenabled::text FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal
           UNION ALL SELECT 'rule ' || pg_get_ruledef(w.oid) FROM pg_rewrite w WHERE w.ev_class = c.oid AND w.rulename <> '_RETURN'
           UNION ALL SELECT concat_ws(' ', 'policy', quote_ident(p.polname), p.polcmd::text, CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                                      (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(r)) END, ',' ORDER BY 1) FROM unnest(p.polroles) r),
                                      'using', pg_get_expr(p.polqual, p.polrelid), 'check', pg_get_expr(p.polwithcheck, p.polrelid))
                     FROM pg_policy p WHERE p.polrelid = c.oid
           UNION ALL SELECT 'row level security' WHERE c.relrowsecurity
           UNION ALL SELECT 'row level security forced' WHERE c.relforcerowsecurity
           UNION ALL SELECT 'replica identity ' || c.relreplident::text WHERE c.relreplident NOT IN ('d', 'n')
         ) lines ORDER BY 1) AS constraints
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, c.oid, 0) a
  CROSS JOIN LATERAL (SELECT NOT c.relispartition AND EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid) AS inherits) h
  WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f')
    AND ${userSchema('n')}
    AND ${notExtensionMember('pg_class', 'c.oid')}
  ORDER BY n.nspname, c.relname`;

const tableRows = (client: Client, relation: RelationRow, key: string, types: TypeTree): Promise<FingerprintEntry> =>
  rowDigest(client, `${quoteIdent(relation.schema)}.${quoteIdent(relation.name)}`, relation.columns ?? [], types, relation.inherits).catch((error: unknown) => {
    throw fingerprintError(error, key);
  });

/**
 * Definitions of every relation and the rows of every table. `rows`: the tables' row entries when they
 * were read already (fingerprintRowsApart); a table missing from it is read here.
 */
export async function fingerprintRelations(client: Client, types: TypeTree, rows?: ReadonlyMap<string, FingerprintEntry>): Promise<Fingerprint> {
  const relations = (await client.query<RelationRow>(RELATIONS_SQL)).rows;
  const fingerprint: Record<string, FingerprintEntry> = {};
  for (const relation of relations) {
    const key = objectKey(relation.kind, relation.names);
    const columns = relation.columns ?? [];
    if (relation.relkind === 'v') {
      fingerprint[key] = { count: columns.length, digest: sha256(relation.definition ?? '') };
      continue;
    }
    fingerprint[`${key}#columns`] = { count: columns.length, digest: sha256(relation.definition ?? '') };
    if (relation.constraints.length > 0) {
      fingerprint[`${key}#constraints`] = { count: relation.constraints.length, digest: sha256(relation.constraints.join('\n')) };
    }
    if (relation.relkind === 'm') {
      fingerprint[key] = relation.populated ? { count: 1, digest: sha256('populated') } : { count: 0, digest: sha256('not populated') };
    } else if (relation.relkind === 'r') {
      fingerprint[key] = rows?.get(key) ?? (await tableRows(client, relation, key, types));
    }
  }
  return fingerprint;
}

const TABLE_SIZES_SQL = `
  SELECT n.nspname AS schema, c.relname AS name, pg_relation_size(c.oid)::int8 AS size
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind = 'r' AND ${userSchema('n')}`;

/** A table to read the rows of: its fingerprint key and how to read it. */
export interface LoadedTable {
  readonly key: string;
  read(client: Client, types: TypeTree): Promise<FingerprintEntry>;
}

/** Every table of the database by its name as pg_restore prints it (`schema.name`), largest first. */
export async function tablesByPrintedName(client: Client): Promise<{ all: LoadedTable[]; byPrintedName: Map<string, LoadedTable[]> }> {
  const tables = (await client.query<RelationRow>(RELATIONS_SQL)).rows.filter((relation) => relation.relkind === 'r');
  // pg_relation_size locks the table: never in RELATIONS_SQL, which a backup runs beside live sessions.
  const sizes = new Map(
    (await client.query<{ schema: string; name: string; size: string }>(TABLE_SIZES_SQL)).rows.map((row) => [`${row.schema}.${row.name}`, Number(row.size)]),
  );
  const size = (table: RelationRow) => sizes.get(`${table.schema}.${table.name}`) ?? 0;
  tables.sort((a, b) => size(b) - size(a));
  const all: LoadedTable[] = [];
  const byPrintedName = new Map<string, LoadedTable[]>();
  for (const table of tables) {
    const key = objectKey(table.kind, table.names);
    const loaded: LoadedTable = { key, read: (reader, types) => tableRows(reader, table, key, types) };
    all.push(loaded);
    const printed = `${table.schema}.${table.name}`;
    byPrintedName.set(printed, [...(byPrintedName.get(printed) ?? []), loaded]);
  }
  return { all, byPrintedName };
}
