/**
 * Everything besides relations that pg_dump carries and a restore must bring back: schemas, types,
 * functions and procedures, comments, large objects and sequences. Each is keyed by its identity as
 * pg_identify_object_as_address names it (never by OID, see fingerprint-keys.ts).
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { Fingerprint, FingerprintEntry } from '../types';
import { objectKey } from './fingerprint-keys';
import { notExtensionMember, userSchema, userType } from './fingerprint-scope';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Identified {
  kind: string;
  names: string[];
  args: string[];
  text: string;
}

function entries(rows: readonly Identified[], suffix = ''): Fingerprint {
  return Object.fromEntries(rows.map((row) => [`${objectKey(row.kind, row.names, row.args)}${suffix}`, { count: 1, digest: sha256(row.text) }]));
}

/**
 * Type identities: pg_identify_object_as_address names a type by one schema-qualified string; split it
 * into schema and name like every other key. `p` is a pg_type alias, `n` its pg_namespace.
 */
const TYPE_NAMES = (p: string, n: string) => `ARRAY[${n}.nspname::text, ${p}.typname::text]`;

const SCHEMAS_SQL = `
  SELECT 'schema' AS kind, ARRAY[n.nspname::text] AS names, '{}'::text[] AS args, '' AS text
  FROM pg_namespace n
  WHERE ${userSchema('n')} AND ${notExtensionMember('pg_namespace', 'n.oid')}`;

// Enums (labels in order), domains (base, default, constraints), standalone composites (fields) and
// ranges (subtype, its operator class by schema-qualified name: rngsubopc is an OID a restore renumbers,
// collation, canonical and subtype_diff functions); array types and table row types follow from their element or table.
const TYPES_SQL = `
  SELECT 'type' AS kind, ${TYPE_NAMES('t', 'n')} AS names, '{}'::text[] AS args,
         t.typtype::text || ' ' || CASE t.typtype
           WHEN 'e' THEN (SELECT coalesce(string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder), '') FROM pg_enum e WHERE e.enumtypid = t.oid)
           WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod)
                         || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END
                         || coalesce(' default ' || pg_get_expr(t.typdefaultbin, 0), '')
                         || coalesce((SELECT ' ' || string_agg(quote_ident(k.conname) || ' ' || pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname)
                                      FROM pg_constraint k WHERE k.contypid = t.oid), '')
           WHEN 'c' THEN (SELECT coalesce(string_agg(quote_ident(at.attname) || ' ' || format_type(at.atttypid, at.atttypmod), ', ' ORDER BY at.attnum), '')
                          FROM pg_attribute at WHERE at.attrelid = t.typrelid AND at.attnum > 0 AND NOT at.attisdropped)
           WHEN 'r' THEN (SELECT format_type(r.rngsubtype, NULL) || ' ' || quote_ident(ocn.nspname) || '.' || quote_ident(oc.opcname) || ' ' || am.amname
                                 || coalesce(' collate ' || nullif(r.rngcollation, 0)::regcollation::text, '')
                                 || coalesce(' canonical ' || nullif(r.rngcanonical::oid, 0)::regprocedure::text, '')
                                 || coalesce(' diff ' || nullif(r.rngsubdiff::oid, 0)::regprocedure::text, '')
                          FROM pg_range r
                          JOIN pg_opclass oc ON oc.oid = r.rngsubopc JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace JOIN pg_am am ON am.oid = oc.opcmethod
                          WHERE r.rngtypid = t.oid)
           ELSE t.typinput::text || ' ' || t.typoutput::text
         END AS text
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE ${userType('t', 'n')}`;

// Functions and procedures by their full definition; aggregates (which pg_get_functiondef refuses) by
// their support functions, types and initial values, named rather than numbered.
const ROUTINES_SQL = `
  SELECT a.type AS kind, a.object_names AS names, a.object_args AS args,
         CASE WHEN p.prokind = 'a' THEN
           (SELECT concat_ws(' ', g.aggkind, g.aggnumdirectargs, g.aggtransfn::oid::regprocedure, nullif(g.aggfinalfn::oid, 0)::regprocedure,
                             nullif(g.aggcombinefn::oid, 0)::regprocedure, nullif(g.aggserialfn::oid, 0)::regprocedure,
                             nullif(g.aggdeserialfn::oid, 0)::regprocedure, nullif(g.aggmtransfn::oid, 0)::regprocedure,
                             nullif(g.aggminvtransfn::oid, 0)::regprocedure, nullif(g.aggmfinalfn::oid, 0)::regprocedure,
                             g.aggfinalextra, g.aggmfinalextra, g.aggfinalmodify, g.aggmfinalmodify,
                             nullif(g.aggsortop, 0)::regoperator, g.aggtranstype::regtype, g.aggtransspace,
                             nullif(g.aggmtranstype, 0)::regtype, g.aggmtransspace, quote_literal(g.agginitval), quote_literal(g.aggminitval),
                             pg_get_function_result(p.oid))
            FROM pg_aggregate g WHERE g.aggfnoid = p.oid)
         ELSE pg_get_functiondef(p.oid) END AS text
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  CROSS JOIN LATERAL pg_identify_object_as_address('pg_proc'::regclass, p.oid, 0) a
  WHERE ${userSchema('n')} AND ${notExtensionMember('pg_proc', 'p.oid')}`;

// Comments on any object the database owns (FirstNormalObjectId, 16384, separates them from the
// objects initdb made; the public schema is the one initdb object a user may comment on, and a large
// object may have been created with any OID). Objects inside
// an extension, or in system schemas, are left out. Shared objects (roles, tablespaces, the database)
// live in pg_shdescription; the database's own comment is database#comment.
const COMMENTS_SQL = `
  SELECT a.type AS kind,
         CASE WHEN d.classoid = 'pg_type'::regclass
              THEN (SELECT ${TYPE_NAMES('t', 'tn')} FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace WHERE t.oid = d.objoid)
              ELSE a.object_names END AS names,
         a.object_args AS args, d.description AS text
  FROM pg_description d
  CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) i
  CROSS JOIN LATERAL pg_identify_object_as_address(d.classoid, d.objoid, d.objsubid) a
  WHERE (d.objoid >= 16384 OR d.classoid = 'pg_largeobject'::regclass OR (d.classoid = 'pg_namespace'::regclass AND i.identity = 'public'))
    AND (i.schema IS NULL OR i.schema NOT IN ('pg_catalog', 'information_schema'))
    AND NOT (d.classoid = 'pg_namespace'::regclass AND i.identity IN ('pg_catalog', 'information_schema'))
    AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid AND e.deptype = 'e')`;

async function identified(client: Client, sql: string): Promise<Identified[]> {
  return (await client.query<Identified>(sql)).rows;
}

export async function fingerprintObjects(client: Client): Promise<Fingerprint> {
  return {
    ...entries(await identified(client, SCHEMAS_SQL)),
    ...entries(await identified(client, TYPES_SQL)),
    ...entries(await identified(client, ROUTINES_SQL)),
    ...entries(await identified(client, COMMENTS_SQL), '#comment'),
  };
}

/** Large objects are read in pieces of this size, so one larger than the 1 GB bytea limit still hashes. */
const LARGE_OBJECT_PIECE = 1024 * 1024;

// Each large object is hashed piece by piece as (oid, offset, bytes); pg_dump keeps large object OIDs,
// so the OID is the object's identity here. lo_get reads at the transaction's snapshot, as pg_dump does.
const LARGE_OBJECTS_SQL = `
  WITH RECURSIVE pieces(loid, at, bytes) AS (
    SELECT m.oid, 0::int8, lo_get(m.oid, 0, ${LARGE_OBJECT_PIECE}) FROM pg_largeobject_metadata m
    UNION ALL
    SELECT loid, at + ${LARGE_OBJECT_PIECE}, lo_get(loid, at + ${LARGE_OBJECT_PIECE}, ${LARGE_OBJECT_PIECE})
    FROM pieces WHERE length(bytes) = ${LARGE_OBJECT_PIECE}
  )
  SELECT (SELECT count(*) FROM pg_largeobject_metadata)::text AS n,
         coalesce(sum(h), 0)::text AS sum, coalesce(bit_xor(h), 0)::text AS xor
  FROM (SELECT hash_record_extended(row(loid, at, bytes), 0) AS h FROM pieces) hashed`;

export async function fingerprintLargeObjects(client: Client): Promise<Fingerprint> {
  const { n, sum, xor } = (await client.query<{ n: string; sum: string; xor: string }>(LARGE_OBJECTS_SQL)).rows[0];
  if (n === '0') return {};
  return { 'large objects': { count: Number(n), digest: sha256(`${n}:${sum}:${xor}`) } };
}

interface SequenceRow {
  kind: string;
  names: string[];
  relation: string;
  definition: string;
}

const SEQUENCES_SQL = `
  SELECT a.type AS kind, a.object_names AS names, format('%I.%I', n.nspname, c.relname) AS relation,
         concat_ws(' ', format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle,
                   CASE WHEN c.relpersistence = 'u' THEN 'unlogged' END,
                   (SELECT 'owned by ' || d.deptype::text || ' ' || format('%I.%I.%I', tn.nspname, tc.relname, ta.attname)
                    FROM pg_depend d
                    JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
                    JOIN pg_attribute ta ON ta.attrelid = d.refobjid AND ta.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))) AS definition
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, c.oid, 0) a
  WHERE ${userSchema('n')} AND ${notExtensionMember('pg_class', 'c.oid')}
  ORDER BY n.nspname, c.relname`;

/** Sequences are read in batches of this many, one UNION ALL statement each. */
const SEQUENCE_BATCH = 200;

/** The entry for a sequence's value: what setval() restores. */
export function sequenceValueEntry(lastValue: string, isCalled: boolean): FingerprintEntry {
  return { count: 1, digest: sha256(`${lastValue}:${isCalled}`) };
}

/**
 * Sequence definitions (`sequence "s"."n"#definition`) and values (`sequence "s"."n"`: last_value and
 * is_called). A sequence's value is not versioned: reading it ignores the snapshot, here and in pg_dump
 * alike, which reads each value while it collects the schema. A nextval() between the two reads would
 * show as a difference after a faithful restore, so a backup replaces these values with the ones its
 * dump holds (archive.ts). The caller reads sequences last all the same, which keeps a
 * fingerprint of a live database as close as it can be to the moment it returns.
 */
export async function fingerprintSequences(client: Client): Promise<Fingerprint> {
  const sequences = (await client.query<SequenceRow>(SEQUENCES_SQL)).rows;
  const fingerprint: Record<string, FingerprintEntry> = {};
  for (let start = 0; start < sequences.length; start += SEQUENCE_BATCH) {
    const batch = sequences.slice(start, start + SEQUENCE_BATCH);
    const sql = batch.map((s, i) => `SELECT ${i} AS i, last_value::text AS value, is_called FROM ${s.relation}`).join(' UNION ALL ');
    const { rows } = await client.query<{ i: number; value: string; is_called: boolean }>(sql);
    for (const { i, value, is_called } of rows) {
      const sequence = batch[i];
      const key = objectKey(sequence.kind, sequence.names);
      fingerprint[key] = sequenceValueEntry(value, is_called);
      fingerprint[`${key}#definition`] = { count: 1, digest: sha256(sequence.definition) };
    }
  }
  return fingerprint;
}
