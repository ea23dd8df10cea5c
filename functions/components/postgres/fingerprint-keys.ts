/**
 * The names of PostgreSQL fingerprint entries. A key is `<kind> <qualified name>[#facet]`:
 *
 *   table "public"."users"                 rows of a table (leaf partitions included, partitioned parents not)
 *   table "public"."users"#columns         its columns, partition bound or key, inheritance
 *   table "public"."users"#constraints     constraints, indexes, triggers, rules, policies (when it has any)
 *   materialized view "s"."m"              rows of a materialized view (and "#columns", "#constraints")
 *   view "s"."v", foreign table "s"."f"#columns, schema "s", type "s"."t"
 *   sequence "public"."users_id_seq"       last_value and is_called ("#definition": type, bounds, increment)
 *   function "public"."f"(integer, text)   pg_get_functiondef; also procedure … and aggregate …
 *                                          (argument types as PostgreSQL prints them, schema-qualified)
 *   table column "public"."t"."c"#comment  a comment, keyed by the object it is on
 *   table "public"."users"#privileges      owner and grants (every ownership or grant entry ends in #privileges)
 *   large objects, large objects#privileges, default privileges#privileges
 *   database#settings, database#comment, database#privileges
 *
 * Every identifier is double-quoted with inner quotes doubled, always, so no two objects share a key
 * whatever their names hold (`"a.b"."c"` and `"a"."b.c"` differ). OIDs and the database's own name never
 * appear: a restore renumbers the first and may choose another for the second.
 */

/** Entries about ownership and grants: a restore that drops owners and grants leaves exactly these out. */
export const PRIVILEGES_FACET = '#privileges';

export function isPrivilegesKey(key: string): boolean {
  return key.endsWith(PRIVILEGES_FACET);
}

export function quoteName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Object kinds whose identity includes an argument list, printed even when it is empty: `function "s"."f"()`. */
const TAKES_ARGUMENTS = new Set(['function', 'procedure', 'aggregate']);

/**
 * `kind` and `names` as pg_identify_object_as_address gives them (names unqualified, outermost first);
 * `args` are type names in PostgreSQL's own schema-qualified spelling, which quotes where needed.
 */
export function objectKey(kind: string, names: readonly string[], args: readonly string[] = []): string {
  const list = args.length > 0 || TAKES_ARGUMENTS.has(kind) ? `(${args.join(', ')})` : '';
  return `${kind} ${names.map(quoteName).join('.')}${list}`;
}
