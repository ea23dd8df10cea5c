/**
 * parseManifest is the gate every restore, verify and listing passes: a manifest read back from the vault
 * is refused, naming what is wrong, unless it is one this nca-backup wrote for the backup asked for. Each
 * refusal is an IntegrityError that names the object and carries the bare problem for listings.
 */
import { MANIFEST_SCHEMA_VERSION, parseManifest, type Manifest } from '../../functions/core/manifest';
import { sampleManifest } from '../support/manifests';
import { thrown } from '../support/thrown';

const ID = '20261123T020000Z-a1b2';
const KEY = `backups/database/postgres/${ID}/manifest.json`;
const WHERE = { group: 'database', component: 'postgres', backupId: ID, key: KEY };
const ARTIFACT = { name: 'neuroca_db.dump', bytes: 3, sha256: 'a'.repeat(64), contentType: 'application/octet-stream' };

/** The sample manifest with `changes` applied; a change to `undefined` removes the field. */
function manifest(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const m: Record<string, unknown> = { ...sampleManifest('database', 'postgres', ID) };
  for (const [field, value] of Object.entries(changes)) {
    if (value === undefined) delete m[field];
    else m[field] = value;
  }
  return m;
}

/** The source section of the sample with `changes`. */
const source = (changes: Record<string, unknown>) => ({ ...sampleManifest('database', 'postgres', ID).source, ...changes });

/** What parseManifest throws for `value`. */
function refusal(value: unknown, where: Parameters<typeof parseManifest>[1] = WHERE): Error & { problem?: string; component?: string; backupId?: string } {
  return thrown(Error, () => parseManifest(value, where));
}

describe('parseManifest accepts', () => {
  test('a manifest this nca-backup wrote for the backup asked for, unchanged', () => {
    const valid = manifest();
    expect(parseManifest(valid, WHERE)).toEqual(valid as unknown as Manifest);
  });

  test('an older schemaVersion, a missing group when none is asked for, and informational fields it does not check', () => {
    expect(parseManifest(manifest({ schemaVersion: MANIFEST_SCHEMA_VERSION - 1 }), WHERE).schemaVersion).toBe(MANIFEST_SCHEMA_VERSION - 1);
    expect(parseManifest(manifest({ group: undefined }), { component: 'postgres', backupId: ID }).backupId).toBe(ID);
    expect(parseManifest(manifest({ report: { skipped: 2 }, producer: { anything: true } }), WHERE).report).toEqual({ skipped: 2 });
  });

  test('a change-triggered backup\'s trigger and first changed name, and a manifest written before either existed', () => {
    const changed = manifest({ trigger: 'change', changed: '/neuroca/db/password' });
    expect(parseManifest(changed, WHERE)).toMatchObject({ trigger: 'change', changed: '/neuroca/db/password' });
    expect(parseManifest(manifest({ changed: undefined }), WHERE)).not.toHaveProperty('changed');
  });

  test('a system recovery point\'s membership: its own id and the planned components, checked like the rest', () => {
    const system = { systemId: ID, components: ['postgres', 'redis'] };
    expect(parseManifest(manifest({ system }), WHERE).system).toEqual(system);
    expect(refusal(manifest({ system: { ...system, systemId: '20261123T020000Z-ffff' } })).message).toMatch(/system.systemId "20261123T020000Z-ffff" that is not its own backup id/);
    expect(refusal(manifest({ system: { ...system, components: ['postgres', 'oracle'] } })).message).toMatch(/system.components naming "oracle", which is no component/);
    expect(refusal(manifest({ system: { ...system, components: ['redis'] } })).message).toMatch(/system.components without its own component postgres/);
    expect(refusal(manifest({ system: { ...system, components: ['postgres', 'postgres'] } })).message).toMatch(/listing a component twice/);
    expect(refusal(manifest({ system: 'all' })).message).toMatch(/system section that is not an object/);
  });

  test('artifacts without a contentType, and names up to 201 safe characters', () => {
    const long = `a${'b'.repeat(200)}`;
    const artifacts = [{ name: long, bytes: 0, sha256: 'b'.repeat(64) }, { ...ARTIFACT, name: 'db0.rdbdump' }];
    expect(parseManifest(manifest({ artifacts }), WHERE).artifacts.map((a) => a.name)).toEqual([long, 'db0.rdbdump']);
  });

  test('names of tables, collections and tiers that are plain strings', () => {
    const tiers = source({
      database: 'neuroca_episodic',
      working: { namespace: 'generic' },
      episodic: { database: 'neuroca_episodic', collection: 'ltm_memories' },
      semantic: { database: 'neuroca_db', table: 'semantic_memory', embeddingColumn: 'embedding', metadataColumn: 'metadata' },
    });
    expect(parseManifest(manifest({ source: tiers }), WHERE).source).toEqual(tiers);
  });
});

/** A database name an attacker records so that a restore would connect elsewhere. */
const CONNECTION_STRING = `postgresql://attacker@evil.example/${'x'.repeat(40)}`;

describe('parseManifest refuses, naming what is wrong', () => {
  test('an IntegrityError naming the object, the component and the backup, with the problem for listings', () => {
    const error = refusal(manifest({ fingerprint: undefined }));
    expect(error).toMatchObject({ name: 'IntegrityError', component: 'postgres', backupId: ID, problem: 'has no fingerprint' });
    expect(error.message).toBe(`postgres ${ID}: ${KEY} has no fingerprint. The backup cannot be trusted; pick another backup id.`);
  });

  test('without a key, the error names manifest.json', () => {
    expect(refusal(null, { component: 'postgres', backupId: ID }).message).toContain(': manifest.json is not a JSON object.');
  });

  test.each([
    ['null', null],
    ['a string', '{"schemaVersion":1}'],
    ['a number', 1],
  ])('a manifest that is %s: not a JSON object', (_what, value) => {
    expect(refusal(value).problem).toBe('is not a JSON object');
  });

  test.each([
    ['missing', undefined],
    ['a string', '1'],
  ])('a schemaVersion %s: no schemaVersion', (_what, schemaVersion) => {
    expect(refusal(manifest({ schemaVersion })).problem).toBe('has no schemaVersion');
  });

  test('a newer schemaVersion: upgrade nca-backup', () => {
    expect(refusal(manifest({ schemaVersion: MANIFEST_SCHEMA_VERSION + 1 })).problem).toBe(
      `has schemaVersion ${MANIFEST_SCHEMA_VERSION + 1}, newer than this nca-backup understands (${MANIFEST_SCHEMA_VERSION}); upgrade nca-backup`,
    );
  });

  test('another backup, component or group than the one asked for (a copied manifest)', () => {
    expect(refusal(manifest({ backupId: '20261122T020000Z-ffff' })).problem).toBe(`names backup 20261122T020000Z-ffff, not ${ID}`);
    expect(refusal(manifest({ backupId: undefined })).problem).toBe(`names backup undefined, not ${ID}`);
    expect(refusal(manifest({ component: 'redis' })).problem).toBe('names component redis, not postgres');
    expect(refusal(manifest({ group: 'memory_tiers' })).problem).toBe('names group memory_tiers, not database');
  });

  test.each([
    ['missing', undefined],
    ['empty', []],
    ['not a list', { 'neuroca_db.dump': ARTIFACT }],
  ])('artifacts %s: lists no artifacts', (_what, artifacts) => {
    expect(refusal(manifest({ artifacts })).problem).toBe('lists no artifacts');
  });

  test.each([
    ['null', null],
    ['without a name', { bytes: 3, sha256: 'a'.repeat(64) }],
    ['with a name that is not a string', { ...ARTIFACT, name: 7 }],
    ['without bytes', { name: 'x.dump', sha256: 'a'.repeat(64) }],
    ['with negative bytes', { ...ARTIFACT, bytes: -1 }],
    ['with fractional bytes', { ...ARTIFACT, bytes: 1.5 }],
    ['with bytes as a string', { ...ARTIFACT, bytes: '3' }],
    ['without sha256', { name: 'x.dump', bytes: 3 }],
    ['with an upper-case sha256', { ...ARTIFACT, sha256: 'A'.repeat(64) }],
    ['with a short sha256', { ...ARTIFACT, sha256: 'a'.repeat(63) }],
  ])('an artifact entry %s', (_what, entry) => {
    expect(refusal(manifest({ artifacts: [entry] })).problem).toBe(`has an artifact entry without name, bytes and sha256: ${JSON.stringify(entry)}`);
  });

  test.each([
    ['a path into another backup', '../20261122T020000Z-ffff/neuroca_db.dump'],
    ['a path below the backup', 'sub/neuroca_db.dump'],
    ['an absolute path', '/etc/passwd'],
    ['a hidden name', '.dump'],
    ['the manifest itself', 'manifest.json'],
    ['an empty name', ''],
    ['a name with a space', 'neuroca db.dump'],
    ['a name with a control character', 'neuroca\ndb.dump'],
    ['a name longer than 201 characters', 'a'.repeat(202)],
  ])('an artifact named as %s: not a plain file name', (_what, name) => {
    expect(refusal(manifest({ artifacts: [{ ...ARTIFACT, name }] })).problem).toBe(`names an artifact ${JSON.stringify(name.slice(0, 100))} that is not a plain file name`);
  });

  test('the same artifact twice', () => {
    expect(refusal(manifest({ artifacts: [ARTIFACT, { ...ARTIFACT }] })).problem).toBe('lists artifact neuroca_db.dump twice');
  });

  test('an artifact contentType that is not a string', () => {
    expect(refusal(manifest({ artifacts: [{ ...ARTIFACT, contentType: 1 }] })).problem).toBe('gives artifact neuroca_db.dump a contentType that is not a string');
  });

  test.each([
    ['missing', undefined],
    ['null', null],
    ['a string', 'abc'],
  ])('a fingerprint %s: no fingerprint', (_what, fingerprint) => {
    expect(refusal(manifest({ fingerprint })).problem).toBe('has no fingerprint');
  });

  test('no source, or a source without the server version', () => {
    expect(refusal(manifest({ source: undefined })).problem).toBe('has no source');
    expect(refusal(manifest({ source: null })).problem).toBe('has no source');
    expect(refusal(manifest({ source: { database: 'neuroca_db', serverVersion: '15.18' } })).problem).toBe('does not record the source server version');
    expect(refusal(manifest({ source: source({ serverMajor: '15' }) })).problem).toBe('does not record the source server version');
  });

  test.each([
    ['a database name with a newline', { database: 'neuroca\ndb' }, 'source.database "neuroca\\ndb" contains control characters'],
    ['a database name with NUL', { database: 'neuroca\u0000db' }, 'source.database "neuroca\\u0000db" contains control characters'],
    // DEL and C1 controls are escaped like C0 ones: a message never carries a raw control character.
    ['a database name with a C1 control', { database: 'neuroca\u0085db' }, 'source.database "neuroca\\u0085db" contains control characters'],
    ['a connection string for a database name', { database: CONNECTION_STRING }, `source.database ${JSON.stringify(CONNECTION_STRING)} is not a database name (1 to 63 bytes)`],
    ['an empty database name', { database: '' }, 'source.database "" is not a database name (1 to 63 bytes)'],
    ['a database name that is not a string', { database: 5 }, 'source.database is not a string'],
    ['no database name', { database: undefined }, 'source.database is not a string'],
    ['a table name with a control character', { table: 'semantic\rmemory' }, 'source.table "semantic\\rmemory" contains control characters'],
    ['a collection name over 255 bytes', { collection: 'c'.repeat(256) }, `source.collection ${JSON.stringify('c'.repeat(80))} is not 1 to 255 bytes`],
    ['an empty column name', { embeddingColumn: '' }, 'source.embeddingColumn "" is not 1 to 255 bytes'],
    ['a namespace that is not a string', { namespace: ['generic'] }, 'source.namespace is not a string'],
    ['a tier section that is not an object', { working: 'generic' }, 'source.working is not an object'],
    ['a tier namespace with a control character', { working: { namespace: 'gen\teric' } }, 'source.working.namespace "gen\\teric" contains control characters'],
    ['a tier database that is too long', { episodic: { database: 'd'.repeat(64) } }, `source.episodic.database "${'d'.repeat(64)}" is not a database name (1 to 63 bytes)`],
    ['a tier table with a control character', { semantic: { table: 'semantic\u007fmemory' } }, 'source.semantic.table "semantic\\u007fmemory" contains control characters'],
  ])('a source with %s', (_what, changes, problem) => {
    expect(refusal(manifest({ source: source(changes) })).problem).toBe(`has a ${problem}`);
  });

  test.each([
    ['no totalBytes', { totalBytes: undefined }],
    ['a totalBytes that is a string', { totalBytes: '3' }],
    ['no completedAt', { completedAt: undefined }],
  ])('%s', (_what, changes) => {
    expect(refusal(manifest(changes)).problem).toBe('has no totalBytes or completedAt');
  });
});
