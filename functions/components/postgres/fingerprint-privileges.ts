/**
 * Owners and grants ("#privileges" entries), and the database's own facts: its settings (ALTER DATABASE
 * ... SET), comment and grants. Roles appear by name, never by OID (a restore into another server has
 * other role OIDs). The database's name appears nowhere: a restore may give it another.
 *
 * An ACL is compared in a normal form: NULL (never granted or revoked) is replaced by the default it
 * stands for (acldefault), and items are sorted, so an explicit default or another grant order, which
 * pg_dump does not reproduce literally, is not a difference.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { Fingerprint } from '../types';
import { objectKey, PRIVILEGES_FACET } from './fingerprint-keys';
import { notExtensionMember, userSchema, userType } from './fingerprint-scope';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Sorted text of an ACL, its default standing in for NULL. `kind`: SQL for acldefault's object-type letter. */
const acl = (column: string, kind: string, owner: string) =>
  `array_to_string(ARRAY(SELECT x::text FROM unnest(coalesce(${column}, acldefault((${kind})::"char", ${owner}))) x ORDER BY 1), ' ')`;

const owned = (owner: string, aclText: string) => `'owner ' || quote_ident(pg_get_userbyid(${owner})) || ' acl ' || ${aclText}`;

// Column grants travel with their table's entry.
const RELATIONS_SQL = `
  SELECT a.type AS kind, a.object_names AS names, '{}'::text[] AS args,
         ${owned('c.relowner', acl('c.relacl', "CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END", 'c.relowner'))}
           || coalesce((SELECT ' columns ' || string_agg(quote_ident(at.attname) || ' ' || array_to_string(ARRAY(SELECT x::text FROM unnest(at.attacl) x ORDER BY 1), ' '), ', ' ORDER BY at.attname)
                        FROM pg_attribute at WHERE at.attrelid = c.oid AND at.attnum > 0 AND NOT at.attisdropped AND cardinality(at.attacl) > 0), '') AS text
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN LATERAL pg_identify_object_as_address('pg_class'::regclass, c.oid, 0) a
  WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f', 'S') AND ${userSchema('n')} AND ${notExtensionMember('pg_class', 'c.oid')}`;

const SCHEMAS_SQL = `
  SELECT 'schema' AS kind, ARRAY[n.nspname::text] AS names, '{}'::text[] AS args, ${owned('n.nspowner', acl('n.nspacl', "'n'", 'n.nspowner'))} AS text
  FROM pg_namespace n
  WHERE ${userSchema('n')} AND ${notExtensionMember('pg_namespace', 'n.oid')}`;

const ROUTINES_SQL = `
  SELECT a.type AS kind, a.object_names AS names, a.object_args AS args, ${owned('p.proowner', acl('p.proacl', "'f'", 'p.proowner'))} AS text
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  CROSS JOIN LATERAL pg_identify_object_as_address('pg_proc'::regclass, p.oid, 0) a
  WHERE ${userSchema('n')} AND ${notExtensionMember('pg_proc', 'p.oid')}`;

const TYPES_SQL = `
  SELECT 'type' AS kind, ARRAY[n.nspname::text, t.typname::text] AS names, '{}'::text[] AS args, ${owned('t.typowner', acl('t.typacl', "'T'", 't.typowner'))} AS text
  FROM pg_type t
  JOIN pg_namespace n ON n.oid = t.typnamespace
  WHERE ${userType('t', 'n')}`;

interface Identified {
  kind: string;
  names: string[];
  args: string[];
  text: string;
}

interface Aggregate {
  n: string;
  text: string | null;
}

// Large objects (by OID, which pg_dump keeps) and default privileges as one entry each.
const LARGE_OBJECTS_SQL = `
  SELECT count(*)::text AS n,
         string_agg(m.oid::text || ' ' || ${owned('m.lomowner', acl('m.lomacl', "'L'", 'm.lomowner'))}, E'\\n' ORDER BY m.oid) AS text
  FROM pg_largeobject_metadata m`;

const DEFAULT_PRIVILEGES_SQL = `
  SELECT count(*)::text AS n,
         string_agg(line, E'\\n' ORDER BY line) AS text
  FROM (SELECT quote_ident(pg_get_userbyid(d.defaclrole)) || ' ' || coalesce(quote_ident(n.nspname), '*') || ' ' || d.defaclobjtype::text || ' '
               || array_to_string(ARRAY(SELECT x::text FROM unnest(d.defaclacl) x ORDER BY 1), ' ') AS line
        FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace) lines`;

// The current database's facts; role-specific settings (ALTER ROLE ... IN DATABASE) belong to roles.
const DATABASE_SQL = `
  SELECT ${owned('d.datdba', acl('d.datacl', "'d'", 'd.datdba'))} AS privileges,
         shobj_description(d.oid, 'pg_database') AS comment,
         (SELECT array_to_string(ARRAY(SELECT x FROM unnest(s.setconfig) x ORDER BY 1), E'\\n')
          FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0) AS settings,
         (SELECT cardinality(s.setconfig) FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0) AS "settingCount"
  FROM pg_database d WHERE d.datname = current_database()`;

export async function fingerprintPrivileges(client: Client): Promise<Fingerprint> {
  const fingerprint: Record<string, { count: number; digest: string }> = {};
  for (const sql of [RELATIONS_SQL, SCHEMAS_SQL, ROUTINES_SQL, TYPES_SQL]) {
    for (const row of (await client.query<Identified>(sql)).rows) {
      fingerprint[`${objectKey(row.kind, row.names, row.args)}${PRIVILEGES_FACET}`] = { count: 1, digest: sha256(row.text) };
    }
  }
  const largeObjects = (await client.query<Aggregate>(LARGE_OBJECTS_SQL)).rows[0];
  if (largeObjects.n !== '0') fingerprint[`large objects${PRIVILEGES_FACET}`] = { count: Number(largeObjects.n), digest: sha256(largeObjects.text ?? '') };
  const defaults = (await client.query<Aggregate>(DEFAULT_PRIVILEGES_SQL)).rows[0];
  if (defaults.n !== '0') fingerprint[`default privileges${PRIVILEGES_FACET}`] = { count: Number(defaults.n), digest: sha256(defaults.text ?? '') };
  return fingerprint;
}

export async function fingerprintDatabaseFacts(client: Client): Promise<Fingerprint> {
  const { rows } = await client.query<{ privileges: string; comment: string | null; settings: string | null; settingCount: number | null }>(DATABASE_SQL);
  const facts = rows[0];
  return {
    'database#settings': { count: facts.settingCount ?? 0, digest: sha256(facts.settings ?? '') },
    'database#comment': { count: facts.comment === null ? 0 : 1, digest: sha256(facts.comment ?? '') },
    [`database${PRIVILEGES_FACET}`]: { count: 1, digest: sha256(facts.privileges) },
  };
}
