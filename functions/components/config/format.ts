/**
 * The configuration export (`config_<date>.yaml`, sealed by envelope.ts before it is stored): one YAML
 * document, a header saying what was read and when, then the items grouped by store.
 *
 *   format: nca-config-export
 *   format_version: 1
 *   backup_id: "20261130T010000Z-7f3a"
 *   created_at: "2026-11-30T01:00:04.123Z"
 *   sources:                       # what backup.sources.config named when it was read
 *     parameter_paths: ["/neuroca"]
 *     secrets: ["neuroca/"]
 *     files: [{bucket: "neuroca-config", prefix: "config/"}]
 *   parameters:                    # name, type, value, version, last_modified, kms_key_id (SecureString), description, tags
 *     - name: "/neuroca/db/password"
 *       type: "SecureString"
 *       value: "…"
 *       version: "4"
 *       ...
 *   secrets:                       # name, value, encoding (base64 for a binary secret), version, stages, kms_key_id, description, tags
 *   files:                         # name (s3://bucket/key), value, encoding (base64 unless UTF-8 text), version, last_modified
 *
 * Every string is double-quoted, or a literal block (`|`) when it spans lines, so no YAML reader takes
 * "yes", "0x1F", "null" or "~" for anything but text, and whitespace survives. The writer reads its own
 * output back before it returns it: an export that would not restore exactly what was read is never stored.
 * The reader refuses what it does not know (another format version, unknown or missing fields, fields of
 * the wrong type, YAML aliases or tags) with an IntegrityError naming the item and the field.
 */
import { Document, isAlias, Pair, parseDocument, Scalar, visit, YAMLMap, YAMLSeq, type Node } from 'yaml';
import { canonicalJson } from '../../core/canonical-json';
import { IntegrityError } from '../../core/errors';
import type { ConfigFilesLocation, ConfigSourceConfig } from './descriptor';
import { ITEM_KINDS, type ConfigItem, type ConfigItemKind, type ParameterType } from './item';

export const EXPORT_FORMAT = 'nca-config-export';
export const EXPORT_FORMAT_VERSION = 1;
const COMPONENT = 'config';

/** What the export says about itself. */
export interface ExportHeader {
  readonly backupId: string;
  /** When the stores were read (ISO 8601). */
  readonly createdAt: string;
  /** backup.sources.config as it was when the stores were read. */
  readonly sources: ConfigSourceConfig;
}

/** The document's section of each kind of item. */
export const SECTIONS: Readonly<Record<ConfigItemKind, 'parameters' | 'secrets' | 'files'>> = { parameter: 'parameters', secret: 'secrets', file: 'files' };

type FieldName = 'name' | 'type' | 'encoding' | 'value' | 'version' | 'last_modified' | 'kms_key_id' | 'stages' | 'description' | 'tags';
/** Each kind's fields in the order they are written; those after `version` are optional. */
const FIELDS: Readonly<Record<ConfigItemKind, readonly FieldName[]>> = {
  parameter: ['name', 'type', 'value', 'version', 'last_modified', 'kms_key_id', 'description', 'tags'],
  secret: ['name', 'encoding', 'value', 'version', 'last_modified', 'kms_key_id', 'stages', 'description', 'tags'],
  file: ['name', 'encoding', 'value', 'version', 'last_modified'],
};
const REQUIRED: readonly FieldName[] = ['name', 'value', 'version'];
const PARAMETER_TYPES: readonly ParameterType[] = ['String', 'StringList', 'SecureString'];
const HEADER_KEYS = ['format', 'format_version', 'backup_id', 'created_at', 'sources', 'parameters', 'secrets', 'files'];
const SOURCE_KEYS = ['parameter_paths', 'secrets', 'files'];

/** Items sorted by kind (parameters, secrets, files), then by name (code units, as the stores list them): the export's order. */
export function sortItems(items: readonly ConfigItem[]): ConfigItem[] {
  const byName = (a: ConfigItem, b: ConfigItem) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return [...items].sort((a, b) => ITEM_KINDS.indexOf(a.kind) - ITEM_KINDS.indexOf(b.kind) || byName(a, b));
}

// ---------------------------------------------------------------- writing

function text(value: string): Scalar {
  const node = new Scalar(value);
  // The library falls back to double quotes where a literal block cannot hold the text (a \r, a trailing space line).
  node.type = value.includes('\n') ? 'BLOCK_LITERAL' : 'QUOTE_DOUBLE';
  return node;
}

function map(entries: readonly (readonly [string, Node | undefined])[]): YAMLMap {
  const node = new YAMLMap();
  for (const [key, value] of entries) if (value !== undefined) node.items.push(new Pair(new Scalar(key), value));
  return node;
}

function seq(values: readonly Node[]): YAMLSeq {
  const node = new YAMLSeq();
  node.items.push(...values);
  return node;
}

const texts = (values: readonly string[]) => seq(values.map(text));
const optional = (value: string | undefined) => (value === undefined ? undefined : text(value));

function tagsNode(tags: Readonly<Record<string, string>> | undefined): YAMLMap | undefined {
  if (tags === undefined) return undefined;
  const node = new YAMLMap();
  for (const key of Object.keys(tags).sort()) node.items.push(new Pair(text(key), text(tags[key])));
  return node;
}

function itemNode(item: ConfigItem): YAMLMap {
  const fields: Record<FieldName, Node | undefined> = {
    name: text(item.name),
    type: optional(item.type),
    encoding: item.encoding === 'base64' ? text('base64') : undefined,
    value: text(item.value),
    version: text(item.version),
    last_modified: optional(item.lastModified),
    kms_key_id: optional(item.kmsKeyId),
    stages: item.stages === undefined ? undefined : texts(item.stages),
    description: optional(item.description),
    tags: tagsNode(item.tags),
  };
  const unexpected = (Object.keys(fields) as FieldName[]).find((f) => fields[f] !== undefined && !FIELDS[item.kind].includes(f));
  if (unexpected) throw new IntegrityError(`the configuration export cannot hold ${item.kind} ${item.name}: a ${item.kind} has no ${unexpected}.`, { component: COMPONENT });
  return map(FIELDS[item.kind].map((f) => [f, fields[f]] as const));
}

function normalised(items: readonly ConfigItem[]): string {
  return canonicalJson(sortItems(items).map((item) => (item.encoding === 'utf8' ? { ...item, encoding: undefined } : item)));
}

/** The export of `items` (any order; written by kind, then name) as UTF-8 bytes. */
export function writeExport(header: ExportHeader, items: readonly ConfigItem[]): Buffer {
  const sorted = sortItems(items);
  const sources = header.sources;
  const root = map([
    ['format', text(EXPORT_FORMAT)],
    ['format_version', new Scalar(EXPORT_FORMAT_VERSION)],
    ['backup_id', text(header.backupId)],
    ['created_at', text(header.createdAt)],
    [
      'sources',
      map([
        ['parameter_paths', texts(sources.parameterPaths)],
        ['secrets', texts(sources.secrets)],
        ['files', seq(sources.files.map((f) => map([['bucket', text(f.bucket)], ['prefix', text(f.prefix)]])))],
      ]),
    ],
    ...ITEM_KINDS.map((kind) => [SECTIONS[kind], seq(sorted.filter((i) => i.kind === kind).map(itemNode))] as const),
  ]);
  const document = new Document();
  document.contents = root;
  const bytes = Buffer.from(document.toString({ lineWidth: 0, indentSeq: true }), 'utf8');

  const back = readExport(bytes);
  if (normalised(back.items) !== normalised(sorted) || canonicalJson(back.header) !== canonicalJson(header)) {
    const differs = sorted.find((item, i) => canonicalJson(item) !== canonicalJson(back.items[i]));
    throw new IntegrityError(
      `the configuration export would not read back as it was read${differs ? ` (${differs.kind} ${differs.name} differs)` : ''}: nothing was stored.`,
      { component: COMPONENT, hint: 'This is a defect of nca-backup: report it with the item named.' },
    );
  }
  return bytes;
}

// ---------------------------------------------------------------- reading

const refuse = (where: string, problem: string): never => {
  throw new IntegrityError(`the configuration export is not valid: ${where} ${problem}.`, { component: COMPONENT, hint: 'The export was damaged or written by another tool; restore from another backup.' });
};

const kindOf = (value: unknown) => (value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a mapping' : `a ${typeof value}`);

function mapping(value: unknown, where: string): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : refuse(where, `must be a mapping, not ${kindOf(value)}`);
}

function onlyFields(value: Record<string, unknown>, where: string, allowed: readonly string[]): void {
  const unknown = Object.keys(value).find((k) => !allowed.includes(k));
  if (unknown !== undefined) refuse(`${where}.${unknown}`, `is not a field of this format (allowed: ${allowed.join(', ')})`);
}

function record(value: unknown, where: string, allowed: readonly string[]): Record<string, unknown> {
  const fields = mapping(value, where);
  onlyFields(fields, where, allowed);
  return fields;
}

function str(value: unknown, where: string): string {
  return typeof value === 'string' ? value : refuse(where, value === undefined ? 'is missing' : `must be a string, not ${kindOf(value)}`);
}

function nonEmpty(value: unknown, where: string): string {
  const s = str(value, where);
  return s === '' ? refuse(where, 'is empty') : s;
}

function timestamp(value: unknown, where: string): string {
  const s = str(value, where);
  return /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)) ? s : refuse(where, `must be an ISO 8601 time, not ${JSON.stringify(s.slice(0, 40))}`);
}

function list(value: unknown, where: string): unknown[] {
  return Array.isArray(value) ? value : refuse(where, value === undefined ? 'is missing' : `must be a list, not ${kindOf(value)}`);
}

const strings = (value: unknown, where: string) => list(value, where).map((v, i) => str(v, `${where}[${i}]`));

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function readItem(kind: ConfigItemKind, value: unknown, where: string): ConfigItem {
  const raw = mapping(value, where);
  const name = nonEmpty(raw.name, `${where}.name`);
  const at = `${where} (${name})`;
  onlyFields(raw, at, FIELDS[kind]);
  for (const field of REQUIRED) if (!(field in raw)) refuse(`${at}.${field}`, 'is missing');
  const opt = <T>(field: FieldName, read: (v: unknown, w: string) => T): T | undefined => (field in raw ? read(raw[field], `${at}.${field}`) : undefined);

  const type = opt('type', (v, w) => (PARAMETER_TYPES.includes(v as ParameterType) ? (v as ParameterType) : refuse(w, `must be one of ${PARAMETER_TYPES.join(', ')}, not ${JSON.stringify(v)}`)));
  if (kind === 'parameter' && type === undefined) refuse(`${at}.type`, 'is missing');
  const encoding = opt('encoding', (v, w) => (v === 'base64' ? ('base64' as const) : refuse(w, `must be base64 when given (text is the default), not ${JSON.stringify(v)}`)));
  const itemValue = str(raw.value, `${at}.value`);
  if (encoding === 'base64' && !BASE64.test(itemValue)) refuse(`${at}.value`, 'is not base64');
  const tags = opt('tags', (v, w) => Object.fromEntries(Object.entries(mapping(v, w)).map(([k, t]) => [k, str(t, `${w}.${k}`)])));
  const item: ConfigItem = {
    kind,
    name,
    type,
    encoding,
    value: itemValue,
    version: str(raw.version, `${at}.version`),
    lastModified: opt('last_modified', timestamp),
    tags,
    kmsKeyId: opt('kms_key_id', nonEmpty),
    stages: opt('stages', strings),
    description: opt('description', str),
  };
  return Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined)) as unknown as ConfigItem;
}

function readSources(value: unknown): ConfigSourceConfig {
  const raw = record(value, 'sources', SOURCE_KEYS);
  return {
    parameterPaths: strings(raw.parameter_paths, 'sources.parameter_paths'),
    secrets: strings(raw.secrets, 'sources.secrets'),
    files: list(raw.files, 'sources.files').map((f, i): ConfigFilesLocation => {
      const location = record(f, `sources.files[${i}]`, ['bucket', 'prefix']);
      return { bucket: nonEmpty(location.bucket, `sources.files[${i}].bucket`), prefix: str(location.prefix, `sources.files[${i}].prefix`) };
    }),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The header and items of an export (items by kind, then name), or an IntegrityError saying what is wrong where. */
export function readExport(bytes: Uint8Array): { header: ExportHeader; items: ConfigItem[] } {
  let source: string;
  try {
    source = utf8.decode(bytes);
  } catch {
    return refuse('the document', 'is not UTF-8 text');
  }
  const document = parseDocument(source, { schema: 'core', uniqueKeys: true, merge: false, prettyErrors: false });
  const problem = document.errors[0] ?? document.warnings[0];
  // The YAML error's text can quote the document (a value): say where, not what.
  if (problem) refuse('the document', `is not valid YAML (${problem.code} at offset ${problem.pos[0]})`);
  visit(document, {
    Node(_, node) {
      if (isAlias(node) || (node as { anchor?: string }).anchor) refuse('the document', 'uses a YAML anchor or alias, which this format never writes');
      if ((node as { tag?: string }).tag && !/^tag:yaml\.org,2002:(str|map|seq|int)$/.test((node as { tag: string }).tag)) refuse('the document', `uses the YAML tag ${(node as { tag: string }).tag}, which this format never writes`);
    },
  });
  const raw = record(document.toJS(), 'the document', HEADER_KEYS);
  if (raw.format !== EXPORT_FORMAT) refuse('format', `must be ${EXPORT_FORMAT}, not ${JSON.stringify(raw.format)}`);
  if (raw.format_version !== EXPORT_FORMAT_VERSION) {
    refuse('format_version', `is ${JSON.stringify(raw.format_version)}; this nca-backup reads version ${EXPORT_FORMAT_VERSION} (a newer nca-backup wrote it?)`);
  }
  const header: ExportHeader = { backupId: nonEmpty(raw.backup_id, 'backup_id'), createdAt: timestamp(raw.created_at, 'created_at'), sources: readSources(raw.sources) };
  const items: ConfigItem[] = [];
  for (const kind of ITEM_KINDS) {
    const section = SECTIONS[kind];
    const seen = new Set<string>();
    list(raw[section], section).forEach((value, i) => {
      const item = readItem(kind, value, `${section}[${i}]`);
      if (seen.has(item.name)) refuse(`${section}[${i}] (${item.name})`, `names a ${kind} listed before`);
      seen.add(item.name);
      items.push(item);
    });
  }
  return { header, items: sortItems(items) };
}
