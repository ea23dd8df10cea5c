/**
 * Row digests: per relation a multiset hash, a 64-bit hash of each row summed and XOR-ed over the
 * relation. It is the same whatever physical order the rows are stored in (pg_restore reloads them in
 * another order than they were written), runs entirely in the server with constant memory, and a changed,
 * missing or extra row changes it.
 *
 * Rows are hashed with hash_record_extended, the type-aware hash PostgreSQL keeps for hash partitioning
 * (about four times cheaper than hashing the row's text, which matters because a backup computes it while
 * pg_dump runs). That hash is not the same after a restore for every type: an enum value hashes as its
 * catalog OID, a regclass or regtype value is an OID, an aclitem holds role OIDs; a restore renumbers all
 * of them. So each column's type tree is walked (domains, arrays, composites, ranges and multiranges down
 * to their leaves) and a column that reaches an OID-valued type, or a type without a hash function (json,
 * xml, point), is hashed through its text form, which prints labels and names. The others keep the binary
 * hash. The per-column choice follows from the types alone, so both sides of a restore choose alike; it
 * is part of the digest.
 */
import { createHash } from 'node:crypto';
import type { Client } from 'pg';
import type { FingerprintEntry } from '../types';
import { quoteIdent } from './connection';

/** Types whose values are OIDs, or hold them, so their hash changes when a restore renumbers the catalog. */
const OID_VALUED_TYPES = [
  'regclass', 'regcollation', 'regconfig', 'regdictionary', 'regnamespace', 'regoper', 'regoperator',
  'regproc', 'regprocedure', 'regrole', 'regtype', 'aclitem',
];

interface TypeRow {
  oid: number;
  typtype: string;
  /** Domain base type; 0 otherwise. */
  base: number;
  /** Element type of a true array (subscripted by array_subscript_handler); 0 otherwise. */
  element: number;
  /** Subtype of a range or multirange; 0 otherwise. */
  subtype: number;
  /** Column types of a composite type. */
  fields: number[] | null;
  oidValued: boolean;
  /** A default hash operator class with an extended (64-bit, seeded) hash function applies. */
  hashable: boolean;
}

// Hashability follows the type cache's rule: a default hash opclass for the type, or for a type it is
// binary-coercible to (varchar uses text's). Enums, arrays, ranges and records use polymorphic opclasses,
// so their hashability is decided by the walk below instead.
const TYPES_SQL = `
  WITH hash_opclass_types AS (
         SELECT oc.opcintype AS oid FROM pg_opclass oc
         JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
         JOIN pg_amproc p ON p.amprocfamily = oc.opcfamily AND p.amprocnum = 2
                         AND p.amproclefttype = oc.opcintype AND p.amprocrighttype = oc.opcintype
         WHERE oc.opcdefault),
       hashable AS (
         SELECT oid FROM hash_opclass_types
         UNION SELECT c.castsource FROM pg_cast c JOIN hash_opclass_types h ON h.oid = c.casttarget WHERE c.castmethod = 'b'),
       oid_valued AS (SELECT unnest($1::regtype[])::oid AS oid)
  SELECT t.oid::int8 AS oid, t.typtype,
         t.typbasetype::int8 AS base,
         CASE WHEN t.typelem <> 0 AND t.typsubscript = 'pg_catalog.array_subscript_handler'::regproc THEN t.typelem ELSE 0 END::int8 AS element,
         coalesce(r.rngsubtype, 0)::int8 AS subtype,
         CASE WHEN t.typtype = 'c' THEN
           (SELECT array_agg(a.atttypid::int8 ORDER BY a.attnum) FROM pg_attribute a
            WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END AS fields,
         t.oid IN (SELECT oid FROM oid_valued) AS "oidValued",
         t.oid IN (SELECT oid FROM hashable) AS hashable
  FROM pg_type t
  LEFT JOIN pg_range r ON t.typtype IN ('r', 'm') AND (r.rngtypid = t.oid OR r.rngmultitypid = t.oid)
  WHERE t.typtype <> 'p'`;

/** Decides, per column type, whether the binary hash survives a restore. */
export class TypeTree {
  private readonly verdicts = new Map<number, boolean>();

  private constructor(private readonly types: Map<number, TypeRow>) {}

  static async load(client: Client): Promise<TypeTree> {
    const { rows } = await client.query<TypeRow>(TYPES_SQL, [OID_VALUED_TYPES]);
    return new TypeTree(new Map(rows.map((row) => [Number(row.oid), { ...row, fields: row.fields?.map(Number) ?? null }])));
  }

  /** True when the column must be hashed through its text form. */
  needsText(oid: number): boolean {
    const known = this.verdicts.get(oid);
    if (known !== undefined) return known;
    // A composite may reach itself through an array of its own type only via another relation: guard anyway.
    this.verdicts.set(oid, false);
    const verdict = this.judge(oid);
    this.verdicts.set(oid, verdict);
    return verdict;
  }

  private judge(oid: number): boolean {
    const type = this.types.get(oid);
    if (!type) return true;
    if (type.oidValued || type.typtype === 'e') return true;
    if (type.typtype === 'd') return this.needsText(Number(type.base));
    if (Number(type.element) !== 0) return this.needsText(Number(type.element));
    if (type.typtype === 'r' || type.typtype === 'm') return this.needsText(Number(type.subtype));
    if (type.typtype === 'c') return (type.fields ?? []).some((field) => this.needsText(field));
    return !type.hashable;
  }
}

export interface Column {
  name: string;
  type: number;
}

/** The per-row hash expression over relation alias `t`, and the method label that goes into the digest. */
export function rowHashExpression(columns: readonly Column[], types: TypeTree): { expression: string; method: string } {
  const asText = columns.map((column) => types.needsText(column.type));
  if (!asText.some(Boolean)) return { expression: 'hash_record_extended(t, 0)', method: 'record' };
  const fields = columns.map((column, i) => `t.${quoteIdent(column.name)}${asText[i] ? '::text' : ''}`);
  const positions = asText.flatMap((text, i) => (text ? [i + 1] : []));
  return { expression: `hash_record_extended(row(${fields.join(', ')}), 0)`, method: `record, text at ${positions.join(',')}` };
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
export async function rowDigest(client: Client, relation: string, columns: readonly Column[], types: TypeTree): Promise<FingerprintEntry> {
  const { expression, method } = rowHashExpression(columns, types);
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
    // The whole row's text form prints labels and names, never OIDs: slower, always restore-proof.
    const { rows } = await client.query(rowHashSql('hashtextextended(t::text, 0)', relation));
    await client.query('RELEASE SAVEPOINT nca_fingerprint');
    result = { method: 'text', ...rows[0] };
  }
  return { count: Number(result.n), digest: sha256(`${result.method}:${result.n}:${result.sum}:${result.xor}`) };
}
