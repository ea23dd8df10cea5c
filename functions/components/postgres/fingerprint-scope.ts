/**
 * What the fingerprint looks at: objects in user schemas that pg_dump dumps as the database's own.
 * System schemas (pg_catalog, information_schema, toast and temporary schemas) and members of extensions
 * (recreated by CREATE EXTENSION, not dumped) are left out.
 */

/** SQL condition on a pg_namespace alias: a schema whose objects belong to the database. */
export const userSchema = (n: string) =>
  `(${n}.nspname NOT IN ('pg_catalog', 'information_schema') AND ${n}.nspname NOT LIKE 'pg\\_toast%' AND ${n}.nspname NOT LIKE 'pg\\_temp%')`;

/** SQL condition: the object (catalog `catalog`, OID expression `oid`) is not a member of an extension. */
export const notExtensionMember = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

/**
 * SQL condition on a pg_type alias `t` joined to pg_namespace `n`: the database's own types (base, enum,
 * domain, free-standing composite, range), not the array types and row types PostgreSQL makes for them.
 */
export const userType = (t: string, n: string) => `${userSchema(n)}
    AND ${t}.typtype IN ('b', 'e', 'd', 'c', 'r')
    AND NOT (${t}.typelem <> 0 AND ${t}.typsubscript = 'pg_catalog.array_subscript_handler'::regproc)
    AND (${t}.typtype <> 'c' OR EXISTS (SELECT 1 FROM pg_class tc WHERE tc.oid = ${t}.typrelid AND tc.relkind = 'c'))
    AND ${notExtensionMember('pg_type', `${t}.oid`)}`;

/**
 * Settings for the fingerprint's transaction beyond the stable text output: names print schema-qualified
 * (regclass text, format_type, function definitions) whatever the role's search_path, and a row-level
 * security policy raises an error instead of silently hiding rows from the digest (pg_dump does the same).
 */
export const FINGERPRINT_SETTINGS = ['SET LOCAL search_path = pg_catalog', 'SET LOCAL row_security = off'];
