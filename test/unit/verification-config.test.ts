/** backup.verification: drill schedule and recovery point, sandbox lifetime and servers, sample checks, sanitization, RPOs and RTOs; and how long a schedule can leave a backup aging. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENTS } from '../../config/components';
import { longestIntervalMs } from '../../config/cron';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { DEFAULT_VERIFICATION, rpoOf, splitColumnPath } from '../../config/verification';
import { thrown } from '../support/thrown';

const yaml = (section: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
${section}`;
const load = (section: string) => parseBackupConfig(yaml(section), { components: COMPONENTS });
const issues = (section: string) => thrown(ConfigError, () => load(section)).issues;
const HOUR = 3_600_000;

describe('backup.verification', () => {
  test('absent: quarterly drills of the latest backup, sandboxes dropped, the runbook\'s RPOs', () => {
    expect(load('').verification).toEqual(DEFAULT_VERIFICATION);
    expect(DEFAULT_VERIFICATION.schedule).toEqual({ cron: '0 6 1 */3 *', expression: 'cron(0 6 1 1/3 ? *)' });
  });

  test('as written', () => {
    expect(load('  verification:\n    schedule: "0 3 * * 6"\n    recovery_point: random\n    window_days: 14\n    keep_hours: 24\n    rpo: { database: 12h, models: 2w, logs: 2d }\n').verification).toEqual({
      schedule: { cron: '0 3 * * 6', expression: 'cron(0 3 ? * SAT *)' },
      recoveryPoint: 'random',
      windowDays: 14,
      keepHours: 24,
      rpoHours: { database: 12, models: 336, logs: 48 },
      integrityCycleHours: 168,
      sandbox: {},
      samples: {},
      sanitize: {},
      rtoHours: {},
    });
  });

  test.each([
    ['    schedule: "0 6 31 2 *"', 'backup.verification.schedule', /never occurs/],
    ['    recovery_point: oldest', 'backup.verification.recovery_point', /latest, random/],
    ['    keep_hours: 1000', 'backup.verification.keep_hours', /from 0 to 336/],
    ['    rpo: { database: 24 }', 'backup.verification.rpo.database', /not a duration like 24h/],
    ['    rpo: { postgress: 24h }', 'backup.verification.rpo.postgress', /unknown key/],
    ['    rto: { database: soon }', 'backup.verification.rto.database', /not a duration like 24h/],
    ['    rto: { full_system: 12h }', 'backup.verification.rto.full_system', /unknown key/],
  ])('%s is refused at %s', (line, path, problem) => {
    expect(issues(`  verification:\n${line}\n`)).toEqual([expect.objectContaining({ path, problem: expect.stringMatching(problem) })]);
  });
});

describe('backup.verification: RTOs, sandboxes, sample checks, sanitization', () => {
  const sources = `  sources:
    postgres: { host: db.internal, port: 5432, database: neuroca_db }
    redis: { url: "redis://cache.internal:6379", db: 0 }
    mongodb: { url: "mongodb://mongo.internal:27017" }
    vector: { table: semantic_memory }
`;
  const withSources = (section: string) => load(`${sources}  verification:\n${section}`).verification;
  const refusals = (section: string, withSource = sources) => thrown(ConfigError, () => load(`${withSource}  verification:\n${section}`)).issues;

  test('rto like rpo, by group or component', () => {
    expect(withSources('    rto: { database: 4h, memory: 6h, redis: 1d }\n').rtoHours).toEqual({ database: 4, memory: 6, redis: 24 });
  });

  test('sandbox: the connection fields of each component, camelCased as the runtime source has them', () => {
    const sandbox = withSources(`    sandbox:
      postgres: { host: drill.internal, port: 6543 }
      vector: { secret_arn: "arn:aws:secretsmanager:us-west-2:111122223333:secret:drill-db" }
      redis: { db: 14 }
      mongodb: { url: "mongodb://drill.internal:27017" }
`).sandbox;
    expect(sandbox).toEqual({
      postgres: { host: 'drill.internal', port: 6543 },
      vector: { secretArn: 'arn:aws:secretsmanager:us-west-2:111122223333:secret:drill-db' },
      redis: { db: 14 },
      mongodb: { url: 'mongodb://drill.internal:27017' },
    });
  });

  test('a redis sandbox on another server may use production\'s index', () => {
    expect(withSources('    sandbox: { redis: { url: "redis://drill-cache.internal:6379", db: 0 } }\n').sandbox).toEqual({ redis: { url: 'redis://drill-cache.internal:6379', db: 0 } });
  });

  test.each([
    ['    sandbox: { postgres: { database: other } }', 'backup.verification.sandbox.postgres.database', /unknown key; allowed: secret_arn, host, port, url/],
    ['    sandbox: { redis: { db: 16 } }', 'backup.verification.sandbox.redis.db', /from 0 to 15/],
    ['    sandbox: { redis: { key_patterns: ["*"] } }', 'backup.verification.sandbox.redis.key_patterns', /allowed: secret_arn, url, db/],
    ['    sandbox: { postgres: { port: 0 } }', 'backup.verification.sandbox.postgres.port', /from 1 to 65535/],
    ['    sandbox: { mongodb: { url: "mongodb://u:secret@drill:27017" } }', 'backup.verification.sandbox.mongodb.url', /must not contain a password/],
    ['    sandbox: { models: { url: "s3://x" } }', 'backup.verification.sandbox.models', /unknown key; allowed: postgres, redis, mongodb, vector/],
    ['    sandbox: { redis: { db: 0 } }', 'backup.verification.sandbox.redis.db', /0 is backup.sources.redis.db \(0\) on the same server/],
    ['    sandbox: { redis: { url: "redis://CACHE.internal:6379", db: 0 } }', 'backup.verification.sandbox.redis.db', /0 is backup.sources.redis.db \(0\)/],
    ['    samples: { postgres: [ { keys: "memory:*" } ] }', 'backup.verification.samples.postgres[0].keys', /unknown key; allowed: sql, min_rows/],
    ['    samples: { redis: [ { sql: "select 1" } ] }', 'backup.verification.samples.redis[0].sql', /unknown key; allowed: keys, min_keys/],
    ['    samples: { mongodb: [ { collection: ltm_memories, filter: 3 } ] }', 'backup.verification.samples.mongodb[0].filter', /not a mapping/],
    ['    samples: { vector: [ { sql: "select 1", min_rows: 0 } ] }', 'backup.verification.samples.vector[0].min_rows', /from 1 to/],
    ['    samples: { redis: [ { keys: "a b" } ] }', 'backup.verification.samples.redis[0].keys', /no spaces/],
    ['    samples: { memory: [ { sql: "select 1" } ] }', 'backup.verification.samples.memory', /unknown key; allowed: postgres, redis, mongodb, vector/],
    ['    samples: { postgres: [] }', 'backup.verification.samples.postgres', /non-empty list/],
    ['    sanitize: { postgres: [ { column: users.email, action: scramble } ] }', 'backup.verification.sanitize.postgres[0].action', /allowed: hash, mask, null, fixed/],
    ['    sanitize: { postgres: [ { column: email, action: hash } ] }', 'backup.verification.sanitize.postgres[0].column', /schema.table.column or table.column/],
    ['    sanitize: { postgres: [ { column: users.email, action: fixed } ] }', 'backup.verification.sanitize.postgres[0].value', /required with action fixed/],
    ['    sanitize: { postgres: [ { column: users.email, action: hash, value: x } ] }', 'backup.verification.sanitize.postgres[0].value', /only action fixed takes a value/],
    ['    sanitize: { mongodb: [ { field: ltm_memories, action: null } ] }', 'backup.verification.sanitize.mongodb[0].field', /collection.path/],
    ['    sanitize: { redis: [ { column: a.b, action: null } ] }', 'backup.verification.sanitize.redis[0].column', /unknown key; allowed: keys, action, value/],
  ])('%s is refused at %s', (line, path, problem) => {
    expect(refusals(`${line}\n`)).toEqual([expect.objectContaining({ path, problem: expect.stringMatching(problem) })]);
  });

  test('a configured redis sandbox on production\'s index is refused naming both; the default index is left to the drill, so backups still load', () => {
    const onFifteen = sources.replace('db: 0', 'db: 15');
    expect(refusals('    sandbox: { redis: { db: 15 } }\n', onFifteen)).toEqual([
      expect.objectContaining({ path: 'backup.verification.sandbox.redis.db', problem: expect.stringMatching(/^15 is backup.sources.redis.db \(15\) on the same server/) }),
    ]);
    expect(load(onFifteen).verification).toEqual(DEFAULT_VERIFICATION);
    expect(load(`${onFifteen}  verification:\n    sandbox: { redis: { db: 14 } }\n`).verification.sandbox).toEqual({ redis: { db: 14 } });
  });

  test('samples: the kind each component takes, min_* defaulting to 1', () => {
    expect(
      withSources(`    samples:
      postgres: [ { sql: "select id from memory.memory_items", min_rows: 5 } ]
      vector: [ { sql: "select 1 from semantic_memory" } ]
      redis: [ { keys: "memory:stm:*", min_keys: 2 } ]
      mongodb: [ { collection: ltm_memories, filter: { importance: { $gte: 0.5 } }, min_documents: 3 }, { collection: other } ]
`).samples,
    ).toEqual({
      postgres: [{ sql: 'select id from memory.memory_items', minRows: 5 }],
      vector: [{ sql: 'select 1 from semantic_memory', minRows: 1 }],
      redis: [{ keys: 'memory:stm:*', minKeys: 2 }],
      mongodb: [
        { collection: 'ltm_memories', filter: { importance: { $gte: 0.5 } }, minDocuments: 3 },
        { collection: 'other', filter: {}, minDocuments: 1 },
      ],
    });
  });

  test('sanitize: rules as targets and actions, a fixed value kept as text', () => {
    expect(
      withSources(`    sanitize:
      postgres: [ { column: memory.memory_items.summary, action: hash }, { column: '"odd ""t"".x".email', action: fixed, value: 42 } ]
      mongodb: [ { field: ltm_memories.content.text, action: mask } ]
      redis: [ { keys: "memory:*:metadata:*", action: null } ]
`).sanitize,
    ).toEqual({
      postgres: [
        { target: 'memory.memory_items.summary', action: 'hash' },
        { target: '"odd ""t"".x".email', action: 'fixed', value: '42' },
      ],
      mongodb: [{ target: 'ltm_memories.content.text', action: 'mask' }],
      redis: [{ target: 'memory:*:metadata:*', action: 'null' }],
    });
  });

  test('the README\'s example of sandboxes, samples and sanitization loads', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const example = /```yaml\n(  verification:\n    keep_hours: 24\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const verification = load(`${sources}${example}`).verification;
    expect(verification.sandbox).toEqual({ postgres: { host: 'drill-db.internal' }, redis: { db: 14 } });
    expect(verification.sanitize.redis).toEqual([{ target: 'session:*', action: 'null' }]);
  });

  test('column paths: quoted names may hold dots and quotes; bare names are taken as written', () => {
    expect(splitColumnPath('users.email')).toEqual({ schema: 'public', table: 'users', column: 'email' });
    expect(splitColumnPath('"my schema"."odd ""t"".x".Email')).toEqual({ schema: 'my schema', table: 'odd "t".x', column: 'Email' });
    expect(splitColumnPath('a.b.c.d')).toBeUndefined();
    expect(splitColumnPath('a."b')).toBeUndefined();
    expect(splitColumnPath('a.')).toBeUndefined();
  });
});

describe('RPOs', () => {
  const schedule = (cron: string) => ({ cron, expression: '' });
  test('configured by component over group, then the runbook\'s, then the schedule\'s longest interval plus a tenth (at least 2 hours)', () => {
    const v = { ...DEFAULT_VERIFICATION, rpoHours: { database: 12, redis: 6 } };
    expect(rpoOf(v, 'redis', 'database')).toEqual({ hours: 6, from: 'configured' });
    expect(rpoOf(v, 'postgres', 'database')).toEqual({ hours: 12, from: 'configured' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'memory', 'memory_tiers')).toEqual({ hours: 24, from: 'runbook' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'config', 'configuration')).toEqual({ hours: 168, from: 'runbook' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'models', 'model_weights', schedule('0 4 * * 0'))).toEqual({ hours: 185, from: 'schedule' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'logs', 'logs', schedule('0 5 * * *'))).toEqual({ hours: 27, from: 'schedule' });
    expect(rpoOf(DEFAULT_VERIFICATION, 'logs', 'logs')).toEqual({ hours: 0, from: 'none' });
  });

  test.each([
    ['0 2 * * *', 24],
    ['0 1 * * 0', 168],
    ['0 4 * * 1-5', 72],
    ['*/15 * * * *', 0.25],
    ['0 6 1 */3 *', 92 * 24],
    ['@monthly', 31 * 24],
    ['0 0,12 * * *', 12],
  ])('the longest interval of %s is %d hours', (cron, hours) => {
    expect(longestIntervalMs(cron) / HOUR).toBe(hours);
  });
});
