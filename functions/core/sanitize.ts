/**
 * Sanitization of a drill's sandbox kept for people (runbook: "Sanitize sensitive data in test restores"):
 * `backup.verification.sanitize` rules applied after verification, before anyone can reach the sandbox.
 * A kept sandbox must never hold unsanitized data, so every rule either applies or throws: a rule naming a
 * table, column or collection the sandbox lacks, or a value its column cannot take, is InvalidInputError
 * naming the rule, and the caller drops the sandbox. postgres and vector rules run in one transaction
 * (all or nothing).
 */
import { createHash } from 'node:crypto';
import type { AnyBulkWriteOperation, Document } from 'mongodb';
import type { Client } from 'pg';
import type { ComponentName } from '../../config/components';
import { splitColumnPath, splitFieldPath, type SanitizeRule } from '../../config/verification';
import type { MongoTarget } from '../components/mongodb/connection';
import { withClient as withMongoClient } from '../components/mongodb/connection';
import { quoteIdent, withClient as withPostgresClient, type PostgresTarget } from '../components/postgres/connection';
import { pgErrorCode } from '../components/postgres/errors';
import { withRedis, type RedisTarget } from '../components/redis/connection';
import { withVectorClient, type VectorTarget } from '../components/vector/connection';
import { InvalidInputError } from './errors';

export interface SanitizeResult {
  readonly target: string;
  readonly action: SanitizeRule['action'];
  /** Rows updated (postgres, vector), documents modified (mongodb), keys replaced or deleted (redis). */
  readonly rowsOrKeys: number;
  /** redis: keys the pattern matched whose type a replacement does not apply to (hash, list, set...), left as they are. */
  readonly skippedKeys?: number;
  /** Why keys were skipped. */
  readonly note?: string;
}

/** hash: SHA-256 hex of the value's UTF-8 text (the same digest PostgreSQL's expression gives). */
export const hashValue = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** mask: every character but the last four replaced by `*`. */
export const maskValue = (text: string): string => {
  const chars = [...text];
  return chars.length <= 4 ? text : '*'.repeat(chars.length - 4) + chars.slice(-4).join('');
};

/** How a rule is named in errors: its place in backup.yaml and what it targets. */
const ruleName = (component: string, index: number, rule: SanitizeRule) => `sanitization rule backup.verification.sanitize.${component}[${index}] (${rule.target}, ${rule.action})`;

const TEXT_TYPES = new Set(['text', 'character varying', 'character', 'name', 'citext']);

/** The replacement of `column` (base type `base`, full type `type`) for `action`; `$1` is fixed's value. */
function replacement(action: SanitizeRule['action'], column: string, base: string, type: string): string {
  const text = `${column}::text`;
  const computed =
    action === 'hash'
      ? `encode(sha256(convert_to(${text}, 'UTF8')), 'hex')`
      : action === 'mask'
        ? `CASE WHEN char_length(${text}) <= 4 THEN ${text} ELSE repeat('*', char_length(${text}) - 4) || right(${text}, 4) END`
        : '$1::text';
  if (action === 'null') return 'NULL';
  if (TEXT_TYPES.has(base)) return computed;
  // A JSON column gets the replacement as a JSON string; any other type must accept it as its text input.
  if (base === 'jsonb') return `to_jsonb(${computed})`;
  if (base === 'json') return `to_json(${computed})`;
  return `(${computed})::${type}`;
}

async function sanitizeSql(client: Client, component: string, rules: readonly SanitizeRule[]): Promise<SanitizeResult[]> {
  const results: SanitizeResult[] = [];
  await client.query('BEGIN');
  try {
    for (const [index, rule] of rules.entries()) {
      const name = ruleName(component, index, rule);
      const path = splitColumnPath(rule.target);
      if (!path) throw new InvalidInputError(`${name}: ${rule.target} is not schema.table.column or table.column.`, { component });
      const table = `${quoteIdent(path.schema)}.${quoteIdent(path.table)}`;
      const found = await client.query<{ relkind: string; base: string | null; type: string | null }>(
        `SELECT c.relkind::text AS relkind, a.atttypid::regtype::text AS base, format_type(a.atttypid, a.atttypmod) AS type
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped
         WHERE n.nspname = $1 AND c.relname = $2`,
        [path.schema, path.table, path.column],
      );
      const relation = found.rows[0];
      if (!relation) throw new InvalidInputError(`${name}: the sandbox has no table ${table}; nothing was kept unsanitized (the sandbox is dropped).`, { component });
      if (!['r', 'p'].includes(relation.relkind)) throw new InvalidInputError(`${name}: ${table} is not a table (relkind ${relation.relkind}); sanitize the table it reads from.`, { component });
      if (relation.type === null || relation.base === null) throw new InvalidInputError(`${name}: table ${table} has no column ${quoteIdent(path.column)}; nothing was kept unsanitized (the sandbox is dropped).`, { component });
      const column = quoteIdent(path.column);
      // Only values that exist are replaced: a NULL holds nothing to hide, and stays NULL.
      const sql = `UPDATE ${table} SET ${column} = ${replacement(rule.action, column, relation.base, relation.type)} WHERE ${column} IS NOT NULL`;
      try {
        await client.query('SAVEPOINT rule');
        const { rowCount } = await client.query(sql, rule.action === 'fixed' ? [rule.value ?? ''] : []);
        await client.query('RELEASE SAVEPOINT rule');
        results.push({ target: rule.target, action: rule.action, rowsOrKeys: rowCount ?? 0 });
      } catch (error) {
        const code = pgErrorCode(error);
        if (code === undefined || /^08|^57P/.test(code)) throw error;
        throw new InvalidInputError(`${name}: ${table}.${column} (${relation.type}) cannot be sanitized that way: ${(error as Error).message} (SQLSTATE ${code}).`, { component });
      }
    }
    await client.query('COMMIT');
    return results;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** The value at a dotted path of a document, or undefined. */
function valueAt(doc: Document, path: string): unknown {
  let value: unknown = doc;
  for (const part of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

/** A value's text for hash and mask: a string as it is, anything else as JSON. */
const textOf = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value) ?? String(value));

async function sanitizeMongo(target: MongoTarget, rules: readonly SanitizeRule[]): Promise<SanitizeResult[]> {
  return withMongoClient(target, 'sanitizing the drill sandbox', async (client) => {
    const db = client.db(target.database);
    const existing = new Set((await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name));
    const results: SanitizeResult[] = [];
    for (const [index, rule] of rules.entries()) {
      const name = ruleName('mongodb', index, rule);
      const path = splitFieldPath(rule.target);
      if (!path) throw new InvalidInputError(`${name}: ${rule.target} is not collection.field.`, { component: 'mongodb' });
      if (!existing.has(path.collection)) {
        throw new InvalidInputError(`${name}: the sandbox has no collection ${path.collection}; nothing was kept unsanitized (the sandbox is dropped).`, { component: 'mongodb' });
      }
      const collection = db.collection(path.collection);
      const present = { [path.field]: { $exists: true, $ne: null } };
      let modified = 0;
      if (rule.action === 'null') {
        modified = (await collection.updateMany({ [path.field]: { $exists: true } }, { $unset: { [path.field]: '' } })).modifiedCount;
      } else if (rule.action === 'fixed') {
        modified = (await collection.updateMany(present, { $set: { [path.field]: rule.value ?? '' } })).modifiedCount;
      } else {
        // Computed per document here, not in an update pipeline: the same digest and mask as PostgreSQL's and Redis's.
        let batch: AnyBulkWriteOperation[] = [];
        const flush = async () => {
          if (batch.length > 0) modified += (await collection.bulkWrite(batch, { ordered: true })).modifiedCount;
          batch = [];
        };
        for await (const doc of collection.find(present, { projection: { [path.field]: 1 } })) {
          const text = textOf(valueAt(doc, path.field));
          batch.push({ updateOne: { filter: { _id: doc._id }, update: { $set: { [path.field]: rule.action === 'hash' ? hashValue(text) : maskValue(text) } } } });
          if (batch.length >= 500) await flush();
        }
        await flush();
      }
      results.push({ target: rule.target, action: rule.action, rowsOrKeys: modified });
    }
    return results;
  });
}

async function sanitizeRedis(target: RedisTarget, rules: readonly SanitizeRule[]): Promise<SanitizeResult[]> {
  return withRedis(target, async (redis) => {
    const results: SanitizeResult[] = [];
    for (const rule of rules) {
      let changed = 0;
      let skipped = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scanBuffer(cursor, 'MATCH', rule.target, 'COUNT', 1000);
        cursor = String(next);
        for (const key of keys) {
          if (rule.action === 'null') {
            changed += await redis.del(key);
            continue;
          }
          if ((await redis.type(key)) !== 'string') {
            skipped += 1;
            continue;
          }
          const value = await redis.getBuffer(key);
          if (value === null) continue;
          const replaced = rule.action === 'hash' ? hashValue(value) : rule.action === 'mask' ? maskValue(value.toString('utf8')) : (rule.value ?? '');
          // KEEPTTL: a sanitized key expires when the restored one would have.
          await redis.set(key, replaced, 'KEEPTTL');
          changed += 1;
        }
      } while (cursor !== '0');
      results.push({
        target: rule.target,
        action: rule.action,
        rowsOrKeys: changed,
        ...(skipped > 0 ? { skippedKeys: skipped, note: `${skipped} matching key(s) are not strings (hash, list, set, sorted set, stream) and were left as they are; a null rule deletes them` } : {}),
      });
    }
    return results;
  });
}

/**
 * Applies `rules` to a drill's sandbox (`target`: the component's restore target, pointed at the sandbox).
 * postgres, vector: UPDATE of each column (hash: SHA-256 hex of its text, mask, NULL, fixed value), in one
 * transaction; mongodb: $unset / $set, hash and mask computed per document; redis: keys matching the pattern,
 * string values replaced (hash, mask, fixed) or any key deleted (null), other types skipped and said so.
 * Throws InvalidInputError naming the rule when one cannot apply; the caller must then drop the sandbox.
 */
export async function sanitizeSandbox(
  component: ComponentName | string,
  target: PostgresTarget | VectorTarget | RedisTarget | MongoTarget,
  rules: readonly SanitizeRule[],
): Promise<readonly SanitizeResult[]> {
  if (rules.length === 0) return [];
  switch (component) {
    case 'postgres':
      return withPostgresClient(target as PostgresTarget, (client) => sanitizeSql(client, component, rules));
    case 'vector':
      return withVectorClient(target as VectorTarget, (client) => sanitizeSql(client, component, rules));
    case 'mongodb':
      return sanitizeMongo(target as MongoTarget, rules);
    case 'redis':
      return sanitizeRedis(target as RedisTarget, rules);
    default:
      throw new InvalidInputError(`${component} has no sanitization: rules apply to postgres, vector, mongodb and redis.`, { component });
  }
}
