/**
 * The configuration export's YAML document: what it writes reads back exactly, whatever the values hold,
 * and what it did not write (another version, a missing or mistyped field, YAML it never uses) is refused
 * with an IntegrityError naming the item and the field, never quoting a value.
 */
import { randomBytes } from 'node:crypto';
import { parseDocument } from 'yaml';
import { fingerprintItems } from '../../functions/components/config/fingerprint';
import { readExport, writeExport, type ExportHeader } from '../../functions/components/config/format';
import type { ConfigItem } from '../../functions/components/config/item';
import { IntegrityError } from '../../functions/core/errors';
import { thrown } from '../support/thrown';

const HEADER: ExportHeader = {
  backupId: '20261130T010000Z-7f3a',
  createdAt: '2026-11-30T01:00:04.123Z',
  sources: { parameterPaths: ['/neuroca'], secrets: ['neuroca/', 'arn:aws:secretsmanager:us-east-1:000000000000:secret:neuroca/api-AbC123'], files: [{ bucket: 'neuroca-config', prefix: 'config/' }] },
};
const PEM = `-----BEGIN RSA PRIVATE KEY-----\n${randomBytes(300).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END RSA PRIVATE KEY-----\n`;
const SECRET_VALUE = 'sk-live-do-not-leak-0123456789';

/** Values a YAML writer gets wrong when it is careless: types in disguise, whitespace, line breaks, non-ASCII. */
const HOSTILE = ['yes', 'no', 'on', 'NO', '0x1F', '0o17', '1e3', '.inf', '-.NaN', 'null', '~', 'Null', 'true', '12', '012', '1_000', '2026-11-30', '',
  ' leading', 'trailing ', '  both  ', '\tindented', 'a: b', '- item', '#not a comment', '&anchor', '*alias', '!tag', '%YAML', '---', '...', '{a: 1}', '[1, 2]',
  '"quoted"', "'single'", 'back\\slash', 'line\nbreak', 'ends with newline\n', 'two newlines\n\n', '\nstarts with one', 'crlf\r\nline', 'lone\rcr', 'trailing space line\n  ',
  'ünïcødé ✓ 日本語 🚀', 'nul\u0000byte', 'bell\u0007', 'del\u007f', 'nel\u0085', 'ls\u2028ps\u2029', '\ufeffbom first', 'lone \ud800 surrogate', 'x'.repeat(4096), PEM];

const sample = (): ConfigItem[] => [
  ...HOSTILE.map((value, i): ConfigItem => ({ kind: 'parameter', name: `/neuroca/hostile/p${String(i).padStart(2, '0')}`, type: 'String', value: value || 'x', version: String(i + 1), lastModified: '2026-11-29T10:00:00.000Z' })),
  { kind: 'parameter', name: '/neuroca/db/password', type: 'SecureString', value: SECRET_VALUE, version: '4', lastModified: '2026-11-29T10:00:00.000Z', kmsKeyId: 'arn:aws:kms:us-east-1:000000000000:key/1234', description: 'the NCA database: yes, its password', tags: { owner: 'platform', 'null': '~', 'yes': 'no', 'with space': ' v ' } },
  { kind: 'parameter', name: '/neuroca/hosts', type: 'StringList', value: 'a.example,b.example', version: '1' },
  ...HOSTILE.map((value, i): ConfigItem => ({ kind: 'secret', name: `neuroca/hostile-${i}`, value, version: `v-${i}`, stages: ['AWSCURRENT'] })),
  { kind: 'secret', name: 'neuroca/tls', value: randomBytes(700).toString('base64'), encoding: 'base64', version: '0f1e2d3c-uuid', stages: ['AWSCURRENT', 'NCA-DEPLOYED'], kmsKeyId: 'alias/neuroca', description: 'binary', tags: { env: 'prod' }, lastModified: '2026-11-29T10:00:00.000Z' },
  { kind: 'file', name: 's3://neuroca-config/config/neuroca.yaml', value: 'memory:\n  working_memory:\n    capacity: 7\n  enabled: yes\n', version: '3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo', lastModified: '2026-11-29T10:00:00.000Z' },
  { kind: 'file', name: 's3://neuroca-config/config/.env', value: 'NCA_ENV=production\r\nEMPTY=\r\n', version: 'd41d8cd98f00b204e9800998ecf8427e' },
  { kind: 'file', name: 's3://neuroca-config/config/logo.png', value: randomBytes(2000).toString('base64'), encoding: 'base64', version: 'etag' },
  { kind: 'file', name: 's3://neuroca-config/config/empty.txt', value: '', version: 'etag0' },
];


/** The sample's export with one item's field changed (or removed with undefined), as a tampered or foreign file would be. */
function edited(edit: (document: Record<string, unknown>) => void): Buffer {
  const document = parseDocument(writeExport(HEADER, sample()).toString('utf8')).toJS() as Record<string, unknown>;
  edit(document);
  return Buffer.from(JSON.stringify(document)); // JSON is YAML: the reader sees the edited document
}
const secure = (document: Record<string, unknown>) => (document.parameters as Record<string, unknown>[]).find((p) => p.name === '/neuroca/db/password')!;

describe('the configuration export', () => {
  test('reads back exactly what it wrote: YAML specials, whitespace, line breaks, control characters, unicode (a lone surrogate too), 4 KB values, a PEM key, binary', () => {
    const items = sample();
    const { header, items: back } = readExport(writeExport(HEADER, [...items].reverse()));
    expect(header).toEqual(HEADER);
    expect(back).toEqual([...items].sort((a, b) => ['parameter', 'secret', 'file'].indexOf(a.kind) - ['parameter', 'secret', 'file'].indexOf(b.kind) || (a.name < b.name ? -1 : 1)));
    for (const item of back) expect(typeof item.value).toBe('string');
  });

  test('is one YAML document whose strings any YAML reader takes for strings, and whose PEM key is a readable literal block', () => {
    const text = writeExport(HEADER, sample()).toString('utf8');
    expect(text).toMatch(/^format: "nca-config-export"\nformat_version: 1\nbackup_id: "20261130T010000Z-7f3a"\n/);
    expect(text).toContain('value: "yes"\n');
    expect(text).toContain('value: "0x1F"\n');
    expect(text).toContain('value: "~"\n');
    expect(text).toContain('"null": "~"');
    expect(text).toContain('-----BEGIN RSA PRIVATE KEY-----\n');
    expect(text).toMatch(/^parameters:$/m);
    expect(text).toMatch(/^secrets:$/m);
    expect(text).toMatch(/^files:$/m);
    // A YAML 1.1 reader resolves plain yes/~/0x1F to booleans, null and numbers: quoted, they stay strings there too.
    const asYaml11 = parseDocument(text, { version: '1.1' }).toJS() as { parameters: { value: unknown }[] };
    expect(asYaml11.parameters.every((p) => typeof p.value === 'string')).toBe(true);
  });

  test('an empty configuration writes empty sections and reads back empty', () => {
    const text = writeExport(HEADER, []).toString('utf8');
    expect(text).toContain('parameters: []\nsecrets: []\nfiles: []\n');
    expect(readExport(Buffer.from(text)).items).toEqual([]);
  });

  test.each([
    ['another format version', (d: Record<string, unknown>) => void (d.format_version = 2), /format_version is 2; this nca-backup reads version 1/],
    ['another format', (d: Record<string, unknown>) => void (d.format = 'nca-memory-export'), /format must be nca-config-export/],
    ['no backup id', (d: Record<string, unknown>) => void delete d.backup_id, /backup_id is missing/],
    ['a created_at that is no time', (d: Record<string, unknown>) => void (d.created_at = 'yesterday'), /created_at must be an ISO 8601 time/],
    ['a section that is not a list', (d: Record<string, unknown>) => void (d.secrets = {}), /secrets must be a list, not a mapping/],
    ['a missing section', (d: Record<string, unknown>) => void delete d.files, /files is missing/],
    ['an unknown top-level field', (d: Record<string, unknown>) => void (d.extra = 1), /the document\.extra is not a field of this format/],
    ['a missing value', (d: Record<string, unknown>) => void delete secure(d).value, /parameters\[\d+\] \(\/neuroca\/db\/password\)\.value is missing/],
    ['a value that is a number', (d: Record<string, unknown>) => void (secure(d).value = 12), /parameters\[\d+\] \(\/neuroca\/db\/password\)\.value must be a string, not a number/],
    ['a version that is a number', (d: Record<string, unknown>) => void (secure(d).version = 4), /\(\/neuroca\/db\/password\)\.version must be a string, not a number/],
    ['a missing parameter type', (d: Record<string, unknown>) => void delete secure(d).type, /\(\/neuroca\/db\/password\)\.type is missing/],
    ['an unknown parameter type', (d: Record<string, unknown>) => void (secure(d).type = 'Secure'), /\(\/neuroca\/db\/password\)\.type must be one of String, StringList, SecureString/],
    ['a tag that is not text', (d: Record<string, unknown>) => void (secure(d).tags = { owner: ['x'] }), /\(\/neuroca\/db\/password\)\.tags\.owner must be a string, not a list/],
    ['an empty KMS key id', (d: Record<string, unknown>) => void (secure(d).kms_key_id = ''), /\(\/neuroca\/db\/password\)\.kms_key_id is empty/],
    ['a field its kind does not have', (d: Record<string, unknown>) => void (secure(d).stages = ['AWSCURRENT']), /\(\/neuroca\/db\/password\)\.stages is not a field of this format/ ],
    ['an unnamed item', (d: Record<string, unknown>) => void delete secure(d).name, /parameters\[\d+\]\.name is missing/],
    ['a name listed twice', (d: Record<string, unknown>) => void (d.files as unknown[]).push((d.files as unknown[])[0]), /files\[\d+\] \(s3:\/\/neuroca-config\/config\/\.env\) names a file listed before/],
    ['stages that are not a list', (d: Record<string, unknown>) => void ((d.secrets as Record<string, unknown>[])[0].stages = 'AWSCURRENT'), /secrets\[0\] \(neuroca\/hostile-0\)\.stages must be a list, not a string/],
    ['an unknown encoding', (d: Record<string, unknown>) => void ((d.files as Record<string, unknown>[])[0].encoding = 'hex'), /files\[0\] \(.+\)\.encoding must be base64 when given/],
    ['base64 that is not', (d: Record<string, unknown>) => void ((d.files as Record<string, unknown>[]).find((f) => f.encoding === 'base64')!.value = `${SECRET_VALUE}!`), /\(s3:\/\/neuroca-config\/config\/logo\.png\)\.value is not base64/],
    ['a source list of numbers', (d: Record<string, unknown>) => void ((d.sources as Record<string, unknown>).parameter_paths = [1]), /sources\.parameter_paths\[0\] must be a string, not a number/],
  ])('%s is refused with an IntegrityError naming the field', (_, edit, message) => {
    const error = thrown(IntegrityError, () => readExport(edited(edit)));
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(SECRET_VALUE);
  });

  test.each([
    ['an alias', 'format: &f "nca-config-export"\nformat_version: 1\nbackup_id: *f\n', /uses a YAML anchor or alias/],
    ['a foreign tag', 'format: !!binary "bmNh"\n', /uses the YAML tag tag:yaml\.org,2002:binary/],
    ['a duplicate key', `format: "nca-config-export"\nformat: "x"\n`, /is not valid YAML \(DUPLICATE_KEY at offset \d+\)/],
    ['two documents', `format: "nca-config-export"\n---\nformat: "x"\n`, /is not valid YAML/],
    ['broken YAML quoting a secret', `value: "${SECRET_VALUE}\n`, /is not valid YAML/],
    ['a list at the top', '- 1\n', /the document must be a mapping, not a list/],
  ])('YAML it never writes (%s) is refused', (_, text, message) => {
    const error = thrown(IntegrityError, () => readExport(Buffer.from(text)));
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain(SECRET_VALUE);
  });

  test('bytes that are not UTF-8 are refused', () => {
    expect(thrown(IntegrityError, () => readExport(Buffer.from([0x66, 0x6f, 0xff, 0xfe]))).message).toMatch(/is not UTF-8 text/);
  });
});

describe('the configuration fingerprint', () => {
  const items = sample();
  const fingerprint = fingerprintItems(items);

  test('counts each store and is independent of order, versions, times and stages', () => {
    expect(Object.keys(fingerprint).sort()).toEqual(['files', 'parameters', 'secrets']);
    expect(fingerprint.parameters.count).toBe(HOSTILE.length + 2);
    expect(fingerprint.secrets.count).toBe(HOSTILE.length + 1);
    expect(fingerprint.files.count).toBe(4);
    const restored = [...items].reverse().map((item) => ({ ...item, version: `${item.version}-new`, lastModified: '2026-12-01T00:00:00.000Z', stages: item.stages && ['AWSCURRENT'] }));
    expect(fingerprintItems(restored)).toEqual(fingerprint);
    expect(fingerprintItems(readExport(writeExport(HEADER, items)).items)).toEqual(fingerprint);
  });

  test.each([
    ['a value', (i: ConfigItem) => ({ ...i, value: `${i.value}!` })],
    ['a type', (i: ConfigItem) => ({ ...i, type: 'String' as const })],
    ['a KMS key', (i: ConfigItem) => ({ ...i, kmsKeyId: 'alias/other' })],
    ['a tag', (i: ConfigItem) => ({ ...i, tags: { ...i.tags, owner: 'someone-else' } })],
    ['a name', (i: ConfigItem) => ({ ...i, name: `${i.name}2` })],
  ])('changes in its store when %s changes', (_, change) => {
    const changed = items.map((i) => (i.name === '/neuroca/db/password' ? change(i) : i));
    const after = fingerprintItems(changed);
    expect(after.parameters.digest).not.toBe(fingerprint.parameters.digest);
    expect(after.secrets).toEqual(fingerprint.secrets);
  });

  test('a missing item changes the count and the digest; the digests hold no value', () => {
    const after = fingerprintItems(items.filter((i) => i.name !== 'neuroca/tls'));
    expect(after.secrets.count).toBe(fingerprint.secrets.count - 1);
    expect(after.secrets.digest).not.toBe(fingerprint.secrets.digest);
    expect(JSON.stringify(fingerprint)).not.toContain(SECRET_VALUE);
  });
});
