/**
 * Row digests: per relation a multiset hash, a 64-bit hash of each row summed and XOR-ed over the
 * relation. It is the same whatever physical order the rows are stored in (pg_restore reloads them in
 * another order than they were written), runs entirely in the server with constant memory, and a changed,
 * missing or extra row changes it.
 *
 * Rows are hashed with hash_record_extended, the type-aware hash PostgreSQL keeps for hash partitioning
 * (several times cheaper than hashing the row's text, which matters because a backup computes it while
 * pg_dump runs). That hash is an equality hash: values that compare equal hash alike, and for many types
 * equal is not the same. numeric 1.0 and 1.00, float8 0 and -0, interval '1 day' and '24 hours', an
 * array and the same elements from lower bound 0, jsonb {"a":1.0} and {"a":1.00}, 'Hello' and 'HELLO'
 * under a nondeterministic collation, citext: each pair hashes alike, so a restore that changed one
 * into the other would pass. And some hashes are not the same after a restore at all: an enum value
 * hashes as its catalog OID, a regclass or regtype value is an OID, an aclitem holds role OIDs.
 *
 * So the binary hash is kept only for columns whose every leaf type is on a short list of built-in types
 * whose equality is identity (IDENTITY_TYPES), under a deterministic collation. Each column's type tree is
 * walked (domains, composites, ranges and multiranges down to their leaves); a column that reaches any
 * other type, an array (lower bounds are not compared), an enum, or a nondeterministic collation is hashed
 * through its text form, which prints every digit, sign, unit, bound, label and name. The per-column
 * choice follows from the types alone, so both sides of a restore choose alike; it is part of the digest.
 *
 * Text output is the expensive part (a float's shortest decimal form, for every element of an embedding
 * array), so the built-in types whose binary send form tells every stored value apart are hashed through
 * that instead (SEND_TYPES: numeric keeps its scale, floats their sign bit, interval its units), and so
 * are arrays of built-in identity or send types (array_send carries the bounds and the element type's
 * fixed built-in OID). Enums, reg* types and user-defined types never take this path: their send forms
 * or element OIDs are catalog OIDs.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { FingerprintEntry } from '../types';
import { quoteIdent } from './connection';

/**
 * Built-in types whose hash is a hash of the value itself: two values that compare equal are the same
 * value (no scale, no negative zero, no unit conversion, no padding; text types under a deterministic
 * collation compare bytes). Everything else, extension types included, is hashed as text. bpchar is not
 * here: it compares and hashes without trailing spaces, so an unbounded char's 'a' and 'a  ' hash alike.
 */
const IDENTITY_TYPES = [
  'bool', 'int2', 'int4', 'int8', '"char"', 'text', 'varchar', 'name', 'bytea', 'uuid',
  'date', 'time', 'timestamp', 'timestamptz',
];

/** Built-in types whose binary send form is the value itself, digit for digit and bit for bit. */
const SEND_TYPES: Record<string, string> = { numeric: 'numeric_send', float4: 'float4send', float8: 'float8send', interval: 'interval_send' };

/** OIDs below this are assigned by initdb and the same in every PostgreSQL (FirstNormalObjectId). */
const FIRST_NORMAL_OID = 16384;

/** bpchar's OID, fixed in every PostgreSQL (pg_type.dat). */
const BPCHAR_OID = 1042;

interface TypeRow {
  oid: number;
  typtype: string;
  /** Domain base type; 0 otherwise. */
  base: number;
  /** Element type of an array (any type with an element type, int2vector and oidvector included); 0 otherwise. */
  element: number;
  /** Subtype of a range or multirange; 0 otherwise. */
  subtype: number;
  /** Column types of a composite type. */
  fields: number[] | null;
  /** On IDENTITY_TYPES. */
  identity: boolean;
  /** The type's name when it is a built-in type (pg_catalog), for SEND_TYPES. */
  builtin: string | null;
  /** The type's send function, e.g. array_send. */
  send: string;
  /** A domain, range or composite field under a nondeterministic collation. */
  nondeterministic: boolean;
}

const NONDETERMINISTIC = (collation: string) => `coalesce((SELECT NOT co.collisdeterministic FROM pg_collation co WHERE co.oid = ${collation}), false)`;

const TYPES_SQL = `
  SELECT t.oid::int8 AS oid, t.typtype,
         t.typbasetype::int8 AS base,
         CASE WHEN t.typelem <> 0 AND t.typlen = -1 OR t.typname IN ('int2vector', 'oidvector') THEN t.typelem ELSE 0 END::int8 AS element,
         coalesce(r.rngsubtype, 0)::int8 AS subtype,
         CASE WHEN t.typtype = 'c' THEN
           (SELECT array_agg(a.atttypid::int8 ORDER BY a.attnum) FROM pg_attribute a
            WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS fields,
         t.oid = ANY ($1::regtype[]) AS identity,
         CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace THEN t.typname::text END AS builtin,
         t.typsend::text AS send,
         (${NONDETERMINISTIC('t.typcollation')} OR ${NONDETERMINISTIC('r.rngcollation')}
          OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
                                          AND NOT a.attisdropped AND ${NONDETERMINISTIC('a.attcollation')}))) AS nondeterministic
  FROM pg_type t
  LEFT JOIN pg_range r ON t.typtype IN ('r', 'm') AND (r.rngtypid = t.oid OR r.rngmultitypid = t.oid)
  WHERE t.typtype <> 'p'`;

/** Decides, per column type, whether the binary hash tells every stored value apart and survives a restore. */
export class TypeTree {
  private readonly verdicts = new Map<number, boolean>();

  private constructor(private readonly types: Map<number, TypeRow>) {}

  static async load(client: Client): Promise<TypeTree> {
    const { rows } = await client.query<TypeRow>(TYPES_SQL, [IDENTITY_TYPES]);
    return new TypeTree(new Map(rows.map((row) => [Number(row.oid), { ...row, fields: row.fields?.map(Number) ?? null }])));
  }

  /** True when the column must be hashed through its text form. */
  needsText(oid: number): boolean {
    const known = this.verdicts.get(oid);
    if (known !== undefined) return known;
    // A composite may reach itself through an array of its own type only via another relation: guard anyway.
    this.verdicts.set(oid, true);
    const verdict = this.judge(oid);
    this.verdicts.set(oid, verdict);
    return verdict;
  }

  /**
   * The send function to hash a column of this type through, when its binary form is faithful and free of
   * catalog OIDs: a built-in SEND_TYPES type (or a domain over one), or an array of built-in identity or
   * send types. Undefined: use the text form.
   */
  sendFunction(oid: number): string | undefined {
    const type = this.types.get(oid);
    if (!type || type.nondeterministic) return undefined;
    if (type.typtype === 'd') return this.sendFunction(Number(type.base));
    if (type.typtype !== 'b') return undefined;
    if (Number(type.element) !== 0) {
      const element = this.types.get(Number(type.element));
      const builtinElement = Number(type.element) < FIRST_NORMAL_OID && element?.typtype === 'b' && !element.nondeterministic;
      const faithful = builtinElement && (element.identity || (element.builtin !== null && element.builtin in SEND_TYPES));
      return type.send === 'array_send' && faithful ? 'array_send' : undefined;
    }
    return type.builtin !== null && oid < FIRST_NORMAL_OID ? SEND_TYPES[type.builtin] : undefined;
  }

  /** bpchar, or a domain over it. */
  isPaddedChar(oid: number): boolean {
    const type = this.types.get(oid);
    if (type?.typtype === 'd') return this.isPaddedChar(Number(type.base));
    return oid === BPCHAR_OID;
  }

  private judge(oid: number): boolean {
    const type = this.types.get(oid);
    if (!type) return true;
    if (type.nondeterministic) return true;
    if (type.typtype === 'd') return this.needsText(Number(type.base));
    // Arrays compare equal whatever their lower bounds; the text form prints them ('[0:1]={1,2}').
    if (Number(type.element) !== 0) return true;
    if (type.typtype === 'r' || type.typtype === 'm') return this.needsText(Number(type.subtype));
    if (type.typtype === 'c') return (type.fields ?? []).some((field) => this.needsText(field));
    return !(type.typtype === 'b' && type.identity);
  }
}

/**
 * A column's text form, compared byte for byte. The cast to text prints what the type's output function
 * prints, except for bpchar, whose cast drops trailing spaces: format() calls the output function itself.
 * COLLATE "C": the text keeps the column's collation otherwise, and under a nondeterministic one
 * 'Hello' and 'HELLO' would hash alike again.
 */
function textForm(column: string, paddedChar: boolean): string {
  return `${paddedChar ? `format('%s', ${column})` : `${column}::text`} COLLATE pg_catalog."C"`;
}

export interface Column {
  name: string;
  type: number;
  /** The column's collation is nondeterministic ('Hello' equals 'HELLO'). */
  nondeterministic?: boolean;
}

/**
 * The per-row hash expression over relation alias `t`, and the method label that goes into the digest.
 * `listed`: the columns are hashed in the order given (an inheritance child's name order), never as the
 * stored record.
 */
export function rowHashExpression(columns: readonly Column[], types: TypeTree, listed = false): { expression: string; method: string } {
  const asText = columns.map((column) => column.nondeterministic === true || types.needsText(column.type));
  if (!listed && !asText.some(Boolean)) return { expression: 'hash_record_extended(t, 0)', method: 'record' };
  const send = columns.map((column, i) => (asText[i] && column.nondeterministic !== true ? types.sendFunction(column.type) : undefined));
  const fields = columns.map((column, i) => {
    const value = `t.${quoteIdent(column.name)}`;
    if (send[i]) return `pg_catalog.${send[i]}(${value})`;
    return asText[i] ? textForm(value, types.isPaddedChar(column.type)) : value;
  });
  const at = (wanted: (i: number) => boolean) => columns.flatMap((_, i) => (wanted(i) ? [i + 1] : [])).join(',');
  const sent = at((i) => send[i] !== undefined);
  return {
    expression: `hash_record_extended(row(${fields.join(', ')}), 0)`,
    method: `record${listed ? ' listed' : ''}, text at ${at((i) => asText[i] && send[i] === undefined)}${sent ? `, binary at ${sent}` : ''}`,
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const rowHashSql = (hash: string, relation: string) =>
  `SELECT count(*)::text AS n, coalesce(sum(${hash}), 0)::text AS sum, coalesce(bit_xor(${hash}), 0)::text AS xor FROM ONLY ${relation} AS t`;

/** 42883: "could not identify a hash function for type …", should the catalog walk misjudge a type. */
const NO_HASH_FUNCTION = '42883';

/**
 * Row count and digest of `relation` (already quoted), read in the caller's transaction. FROM ONLY: rows
 * of inheritance children are counted under the children themselves.
 */
export async function rowDigest(client: Client, relation: string, columns: readonly Column[], types: TypeTree, listed = false): Promise<FingerprintEntry> {
  const { expression, method } = rowHashExpression(columns, types, listed);
  // A failed statement aborts the transaction; the savepoint keeps the snapshot usable for the fallback.
  await client.query('SAVEPOINT nca_fingerprint');
  let result: { method: string; n: string; sum: string; xor: string };
  try {
    const { rows } = await client.query(rowHashSql(expression, relation));
    await client.query('RELEASE SAVEPOINT nca_fingerprint');
    result = { method, ...rows[0] };
  } catch (error) {
    if ((error as { code?: string }).code !== NO_HASH_FUNCTION) throw error;
    await client.query('ROLLBACK TO SAVEPOINT nca_fingerprint');
    // Every column's text form prints labels and names, never OIDs: slower, always restore-proof.
    const everyColumnAsText = `hash_record_extended(row(${columns.map((column) => textForm(`t.${quoteIdent(column.name)}`, types.isPaddedChar(column.type))).join(', ')}), 0)`;
    const { rows } = await client.query(rowHashSql(everyColumnAsText, relation));
    await client.query('RELEASE SAVEPOINT nca_fingerprint');
    result = { method: 'text', ...rows[0] };
  }
  return { count: Number(result.n), digest: sha256(`${result.method}:${result.n}:${result.sum}:${result.xor}`) };
}
