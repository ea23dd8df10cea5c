/**
 * The portable memory item: the NCA's model (id, content, metadata, embedding) as one JSON object per
 * line of a tier export, plus `native`, the store fields outside the model that a restore into another
 * store needs. A restore into the kind of store the tier came from does not use items: it writes the
 * tier's native records (format.ts), which are what the store held, byte for byte.
 *
 * Two kinds of rules, checked at backup and again at restore:
 * - shape rules: without them an item cannot be written back into a store (no id, content that is not an
 *   object, an embedding with a non-number). A violation fails the backup naming the tier and the item:
 *   a portable export that silently drops or alters items would restore an incomplete memory.
 * - model rules (uuid ids, status values, 0..1 ranges, ...): the NCA's own invariants. A violation is
 *   counted and shown in the manifest's report, and the item is exported as it is. Refusing the whole
 *   day's recovery point because one importance is 1.0000001 would protect nothing.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json';

export const MEMORY_STATUSES = ['active', 'archived', 'consolidated', 'forgotten', 'decaying'] as const;

/** Timestamps of the model's metadata: ISO-8601 strings in the portable format (see episodic.ts for BSON dates). */
export const METADATA_TIMESTAMPS = ['created_at', 'last_accessed', 'updated_at', 'expires_at'] as const;

export type JsonObject = { [key: string]: unknown };

export interface MemoryContent extends JsonObject {
  text?: string | null;
  summary?: string | null;
  json_data?: unknown;
  content_type?: string;
  language?: string | null;
}

export interface MemoryMetadata extends JsonObject {
  created_at?: string | number | null;
  last_accessed?: string | number | null;
  updated_at?: string | number | null;
  status?: string;
  importance?: number;
  strength?: number;
  access_count?: number;
  tags?: Record<string, unknown> | string[];
  source?: string | null;
  tier?: string | null;
  expires_at?: string | number | null;
  priority?: unknown;
  embedding_model?: string | null;
  embedding_dimensions?: number | null;
}

/** Store fields outside the model, per tier (format specification in format.ts). */
export interface NativeFields {
  /** working: absolute expiry (Unix ms) of the item's metadata key, when it has a TTL of its own. */
  metadataExpireAt?: number;
  /** episodic: the document has no memory_id; `id` was made from its _id ("_id:" + relaxed Extended JSON). */
  noMemoryId?: true;
  /** working: the item hash's other fields (strings); episodic: the document's other fields (MongoDB relaxed Extended JSON); semantic: the metadata column's other keys. */
  fields?: JsonObject;
  /** working: absolute expiry (Unix ms) of the item's hash key, when it has a TTL. */
  expireAt?: number;
  /** semantic: the row's metadata column was SQL NULL. */
  metadataIsNull?: true;
  /**
   * semantic: the metadata column's text as PostgreSQL prints it (what a restore writes back).
   * working: the metadata key's text when `metadata` could not carry it as it is: Python's NaN/Infinity
   * (`metadata` has null there), or a value that is not a JSON object (`metadata` is absent).
   */
  metadataText?: string;
  /** working: the metadata key's bytes (base64) when they are not UTF-8 text (`metadata` is absent). */
  metadataBase64?: string;
  /** working: hash fields whose name or value is not UTF-8 text (an embedding stored as float bytes), as base64. */
  binaryFields?: Array<{ field?: string; fieldBase64?: string; base64: string }>;
}

/** Absent keys stay absent through a round trip: "no content field" and "content: null" are different stores. */
export interface MemoryItem {
  id: string;
  /** An object, or the text the store holds (the NCA writes working-memory content and LTM content as plain text). */
  content?: MemoryContent | string | null;
  metadata?: MemoryMetadata | null;
  embedding?: number[] | null;
  native?: NativeFields;
}

const ITEM_KEYS = new Set(['id', 'content', 'metadata', 'embedding', 'native']);
const NATIVE_KEYS = new Set(['fields', 'expireAt', 'metadataExpireAt', 'metadataIsNull', 'metadataText', 'metadataBase64', 'binaryFields', 'noMemoryId']);

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The shape rule violated by `value`, or undefined when it can be written back into a store. */
export function shapeProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'is not a JSON object';
  if (typeof value.id !== 'string' || value.id.length === 0) return 'has no id (a non-empty string)';
  for (const key of Object.keys(value)) if (!ITEM_KEYS.has(key)) return `has an unknown key "${key}"`;
  if (value.content !== undefined && value.content !== null && !isObject(value.content) && typeof value.content !== 'string') return 'has a content that is neither an object nor text';
  if (value.metadata !== undefined && value.metadata !== null && !isObject(value.metadata)) return 'has a metadata that is not an object';
  const embedding = value.embedding;
  if (embedding !== undefined && embedding !== null) {
    if (!Array.isArray(embedding)) return 'has an embedding that is not a list';
    for (let i = 0; i < embedding.length; i++) {
      if (typeof embedding[i] !== 'number' || !Number.isFinite(embedding[i])) return `has an embedding whose element ${i} is not a finite number`;
    }
  }
  const native = value.native;
  if (native !== undefined) {
    if (!isObject(native)) return 'has a native part that is not an object';
    for (const key of Object.keys(native)) if (!NATIVE_KEYS.has(key)) return `has an unknown native key "${key}"`;
    if (native.fields !== undefined && !isObject(native.fields)) return 'has native.fields that is not an object';
    if (native.metadataText !== undefined && typeof native.metadataText !== 'string') return 'has native.metadataText that is not text';
    if (native.metadataBase64 !== undefined && typeof native.metadataBase64 !== 'string') return 'has native.metadataBase64 that is not text';
    if (native.binaryFields !== undefined) {
      if (!Array.isArray(native.binaryFields)) return 'has native.binaryFields that is not a list';
      for (const f of native.binaryFields as unknown[]) {
        if (!isObject(f) || typeof f.base64 !== 'string' || (typeof f.field !== 'string') === (typeof f.fieldBase64 !== 'string')) return 'has a native.binaryFields entry without one field or fieldBase64 and its base64';
      }
    }
    for (const key of ['expireAt', 'metadataExpireAt'] as const) {
      if (native[key] !== undefined && !Number.isSafeInteger(native[key])) return `has native.${key} that is not a Unix time in ms`;
    }
    for (const key of ['metadataIsNull', 'noMemoryId'] as const) {
      if (native[key] !== undefined && native[key] !== true) return `has native.${key} other than true`;
    }
  }
  return undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isUnit = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;
const isTimestamp = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number';
const isOptionalString = (v: unknown) => v === undefined || v === null || typeof v === 'string';

/** The NCA model rules `item` breaks (empty when none); reported, never fatal. */
export function modelProblems(item: MemoryItem): string[] {
  const problems: string[] = [];
  // A document without a memory_id is named by its _id: no uuid to check.
  if (!UUID.test(item.id) && !item.native?.noMemoryId) problems.push('id is not a uuid');
  const content = item.content;
  if (!content) problems.push('content is missing');
  else if (typeof content !== 'string') {
    if (!isOptionalString(content.text)) problems.push('content.text is not a string');
    if (!isOptionalString(content.summary)) problems.push('content.summary is not a string');
    if (content.content_type !== undefined && typeof content.content_type !== 'string') problems.push('content.content_type is not a string');
    if (!isOptionalString(content.language)) problems.push('content.language is not a string');
  }
  const metadata = item.metadata;
  if (!metadata) problems.push('metadata is missing');
  else {
    if (metadata.status !== undefined && !(MEMORY_STATUSES as readonly unknown[]).includes(metadata.status)) {
      problems.push(`metadata.status ${JSON.stringify(metadata.status)} is not one of ${MEMORY_STATUSES.join('|')}`);
    }
    for (const key of ['importance', 'strength'] as const) {
      if (metadata[key] !== undefined && !isUnit(metadata[key])) problems.push(`metadata.${key} ${JSON.stringify(metadata[key])} is not within 0..1`);
    }
    if (metadata.access_count !== undefined && !(Number.isSafeInteger(metadata.access_count) && metadata.access_count >= 0)) {
      problems.push('metadata.access_count is not a non-negative integer');
    }
    // The model's tags are a dict (tag -> value); older writers used a list of strings.
    const tags: unknown = metadata.tags;
    if (tags !== undefined && !isObject(tags) && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) {
      problems.push('metadata.tags is neither a dict nor a list of strings');
    }
    for (const key of METADATA_TIMESTAMPS) {
      if (metadata[key] !== undefined && !isTimestamp(metadata[key])) problems.push(`metadata.${key} is not a timestamp`);
    }
    const declared = metadata.embedding_dimensions;
    if (declared !== undefined && declared !== null && Array.isArray(item.embedding) && declared !== item.embedding.length) {
      problems.push(`metadata.embedding_dimensions ${JSON.stringify(declared)} differs from the embedding's ${item.embedding.length}`);
    }
  }
  return problems;
}

/**
 * JSON.parse, except that integers beyond ±2^53 become BigInts instead of being rounded (Python writes
 * them exactly; canonicalJson prints a BigInt's digits back). Needs Node 22's reviver source text; on an
 * older Node such integers are rounded as JSON.parse rounds them.
 */
export function parseJsonExact(text: string): unknown {
  // A reviver costs a call per value: only text with a 16-digit run can hold an integer beyond 2^53.
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  return JSON.parse(text, (_key, value, context?: { source?: string }) =>
    typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value) && context?.source !== undefined && /^-?\d+$/.test(context.source)
      ? BigInt(context.source)
      : value,
  );
}

/**
 * JSON as Python's json.dumps writes it by default (allow_nan): NaN, Infinity and -Infinity outside
 * strings, which JSON.parse refuses, read as null. `replaced` says whether any was.
 */
export function parsePythonJson(text: string): { value: unknown; replaced: boolean } {
  if (!/NaN|Infinity/.test(text)) return { value: parseJsonExact(text), replaced: false };
  let out = '';
  let replaced = false;
  for (let i = 0; i < text.length; ) {
    const char = text[i];
    if (char === '"') {
      // Copy the string as it is, escapes included.
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const token = /^(?:-?Infinity|NaN)/.exec(text.slice(i, i + 9));
    if (token) {
      out += 'null';
      replaced = true;
      i += token[0].length;
      continue;
    }
    out += char;
    i++;
  }
  return { value: parseJsonExact(out), replaced };
}

/** JSON text with integers beyond 2^53 printed exactly (JSON.rawJSON, Node 22+), object keys in their order. */
export function jsonText(value: unknown): string {
  const raw = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? (raw ? raw(v.toString()) : Number(v)) : v));
}


/** What a version 1 export's fingerprint covered: the item but its clock-derived expiry (kept to verify restores of such backups). */
export function fingerprintText(item: MemoryItem): string {
  if (item.native?.expireAt === undefined && item.native?.metadataExpireAt === undefined && item.native?.metadataText === undefined) return canonicalJson(item);
  const { expireAt: _clock, metadataExpireAt: _clock2, metadataText: _v2, ...native } = item.native;
  return canonicalJson({ ...item, native: Object.keys(native).length > 0 ? native : undefined });
}

const MASK = (1n << 256n) - 1n;

/**
 * An order-independent digest of a multiset of items: the SHA-256 of each item's canonical JSON, summed
 * (mod 2^256) and XOR-ed. Stores return items in any order (SCAN, natural order, heap order), so the
 * digest must not depend on it; a changed, missing or extra item changes it. Memory is constant.
 */
export class ItemDigest {
  private n = 0;
  private sum = 0n;
  private xor = 0n;

  add(item: MemoryItem): void {
    this.addText(fingerprintText(item));
  }

  /** Adds an item by its fingerprintText, when the caller already has it. */
  addText(text: string): void {
    this.n++;
    this.addHash(text);
  }

  /**
   * Adds what the store holds (a native record's bytes or value digest) without counting an item: a
   * tier's digest covers every key or document, its count the memories.
   */
  addStored(stored: string | Buffer): void {
    this.stored++;
    this.addHash(stored);
  }

  /** Counts an item whose stored form is added by addStored. */
  countItem(): void {
    this.n++;
  }

  private stored = 0;

  private addHash(data: string | Buffer): void {
    const hash = BigInt(`0x${createHash('sha256').update(data).digest('hex')}`);
    this.sum = (this.sum + hash) & MASK;
    this.xor ^= hash;
  }

  get count(): number {
    return this.n;
  }

  /** Version 1 digests covered items only; version 2 ones (with stored records) say how many records they cover. */
  entry(): { count: number; digest: string } {
    const label = this.stored === 0 ? `nca-memory-v1:${this.n}` : `nca-memory-v2:${this.n}:${this.stored}`;
    const digest = createHash('sha256').update(`${label}:${this.sum.toString(16)}:${this.xor.toString(16)}`).digest('hex');
    return { count: this.n, digest };
  }
}
