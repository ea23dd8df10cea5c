import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import {
  ConfigError,
  DEFAULT_CONFIG_FILE,
  loadBackupConfig,
  normalisePrefix,
  parseBackupConfig,
  parseDuration,
  parseSize,
} from '../../config/load';
import type { BackupConfig } from '../../config/types';
import { configWith } from '../infra/fixture-config';
import { thrown } from '../support/thrown';

/** The NCA runbook's example, verbatim (comments included): it must load unchanged. */
const RUNBOOK_YAML = `backup:
  schedule:
    database: "0 2 * * *"  # Daily at 2 AM
    memory_tiers: "0 3 * * *"  # Daily at 3 AM
    configuration: "0 1 * * 0"  # Weekly on Sunday at 1 AM
    model_weights: "0 4 * * 0"  # Weekly on Sunday at 4 AM
  storage:
    primary:
      type: "s3"
      bucket: "neuroca-backups"
      region: "us-west-2"
      path: "/backups"
    secondary:
      type: "s3"
      bucket: "neuroca-dr-backups"
      region: "eu-central-1"
      path: "/backups"
  retention:
    database: 30d
    memory_tiers: 14d
    configuration: 90d
    model_weights: 180d
    logs: 90d
  encryption:
    enabled: true
    key_management: "kms"
    kms_key_id: "arn:aws:kms:us-west-2:123456789012:key/abcd1234-ef56-gh78-ij90-klmn1234pqrs"
`;

const RUNBOOK_KEY = 'arn:aws:kms:us-west-2:123456789012:key/abcd1234-ef56-gh78-ij90-klmn1234pqrs';

/**
 * What the loader makes of the runbook's example: the infra tests' fixture, but with the runbook's key
 * (not hex) and the default bucket naming (the fixture names its buckets exactly).
 */
const RUNBOOK_CONFIG: BackupConfig = configWith((c) => {
  delete c.storage.primary.exactName;
  delete c.storage.secondary.exactName;
  c.encryption.kmsKeyId = RUNBOOK_KEY;
});

/** The runbook's example is documentation: its account and key id load only when documentation values are allowed. */
const DOCS = { allowDocumentationValues: true };
const load = (yamlText: string) => parseBackupConfig(yamlText, DOCS);

type Yaml = { backup: Record<string, any> };

/** The runbook's example as data, changed by `edit`, written back as YAML. */
function runbookWith(edit: (doc: Yaml) => void): string {
  const doc = parse(RUNBOOK_YAML) as Yaml;
  edit(doc);
  return stringify(doc);
}

const errorOf = (yamlText: string) => thrown(ConfigError, () => load(yamlText));
/** As a real backup.yaml is loaded: documentation values refused. */
const strictErrorOf = (yamlText: string) => thrown(ConfigError, () => parseBackupConfig(yamlText));

describe('parseBackupConfig: the runbook example', () => {
  test('loads unchanged, with EventBridge expressions, days, prefixes and defaults', () => {
    expect(load(RUNBOOK_YAML)).toEqual(RUNBOOK_CONFIG);
  });

  test('as a real backup.yaml it is refused: its key id is not hex', () => {
    const error = strictErrorOf(RUNBOOK_YAML);
    expect(error.issues).toEqual([
      { path: 'backup.encryption.kms_key_id', problem: expect.stringMatching(/is not a KMS key ARN.*a key id is a UUID of hex digits.*leave kms_key_id out and the stack creates one/) },
    ]);
  });

  test('yields a postgres component in the database group (sources defaults when absent)', () => {
    expect(Object.keys(load(RUNBOOK_YAML).sources)).toEqual(['postgres']);
  });

  test(`the repository's ${DEFAULT_CONFIG_FILE} loads as a real one: the runbook example without its placeholder key, plus the NCA's memory stores`, () => {
    const config = loadBackupConfig(path.join(__dirname, '..', '..', DEFAULT_CONFIG_FILE));
    // model_weights waits, commented out, for its component.
    const { model_weights: _modelWeights, ...schedule } = RUNBOOK_CONFIG.schedule;
    expect(config).toEqual({
      ...RUNBOOK_CONFIG,
      // The stack creates the key.
      encryption: { enabled: true, keyManagement: 'kms' },
      schedule,
      // Alarms are subscribed by hand after the first deploy (README, "Alarms and notifications").
      notifications: { emails: [], subscribeLater: true },
      sources: {
        ...RUNBOOK_CONFIG.sources,
        redis: { db: 0, keyPatterns: ['*'] },
        mongodb: { database: 'neuroca_episodic' },
        vector: { database: 'neuroca_db', table: 'semantic_memory' },
        memory: { tiers: ['working', 'episodic', 'semantic'], workingNamespace: 'generic', episodicCollection: 'ltm_memories' },
        config: { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [] },
      },
    });
    expect(config.network).toBeUndefined();
  });

  test(`${DEFAULT_CONFIG_FILE} keeps every line of the runbook example but its placeholder key, in order (extensions are only inserted, schedules without a component commented out)`, () => {
    const lines = readFileSync(path.join(__dirname, '..', '..', DEFAULT_CONFIG_FILE), 'utf8').split('\n');
    expect(lines.filter((l) => /^\s*kms_key_id:/.test(l))).toEqual([]);
    let at = 0;
    for (const line of RUNBOOK_YAML.trimEnd().split('\n').filter((l) => !l.includes('kms_key_id'))) {
      const commented = line.replace(/^( *)(configuration|model_weights): "/, '$1# $2: "');
      const found = lines.findIndex((l, i) => i >= at && (l === line || (commented !== line && l === commented)));
      expect([line, found >= 0]).toEqual([line, true]);
      at = found + 1;
    }
  });
});

describe('parseBackupConfig: extensions', () => {
  test('every extension key is read and normalised', () => {
    const config = load(
      runbookWith((d) => {
        d.backup.schedule.time_zone = 'Europe/Berlin';
        d.backup.schedule.logs = '30 */6 * * *';
        delete d.backup.schedule.model_weights;
        d.backup.storage.primary.path = '/nca/backups/';
        d.backup.storage.secondary.path = '/';
        d.backup.storage.cold_storage = { storage_class: 'glacier_ir', after_days: 30 };
        d.backup.storage.object_lock = { mode: 'COMPLIANCE', days: 14 };
        d.backup.retention = { database: '2w', model_weights: '1y' };
        d.backup.encryption = { enabled: true, kms_key_id: 'alias/neuroca-backup' };
        d.backup.sources = {
          postgres: {
            secret_arn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db-AbCdEf',
            database: 'neuroca',
            url: 'postgresql://backup@db.internal:5432/neuroca',
          },
        };
        d.backup.network = {
          vpc_id: 'vpc-0123456789abcdef0',
          subnet_ids: ['subnet-0123456789abcdef0', 'subnet-89abcdef'],
          availability_zones: ['us-west-2a', 'us-west-2b'],
          security_group_ids: ['sg-0123456789abcdef0'],
        };
        d.backup.runner = {
          lambda_max_bytes: '1.5GiB',
          force: 'fargate',
          max_concurrency: 40,
          lambda: { memory_mb: 10240, timeout_minutes: 5 },
          fargate: { cpu: 8192, memory_mb: 20480, ephemeral_storage_gb: 200 },
        };
        d.backup.notifications = { email: 'oncall@example.com', sns_topic_arn: 'arn:aws:sns:us-west-2:123456789012:ops-alerts' };
      }),
    );
    expect(config).toEqual({
      ...RUNBOOK_CONFIG,
      schedule: {
        database: RUNBOOK_CONFIG.schedule.database,
        memory_tiers: RUNBOOK_CONFIG.schedule.memory_tiers,
        configuration: RUNBOOK_CONFIG.schedule.configuration,
        logs: { cron: '30 */6 * * *', expression: 'cron(30 0/6 * * ? *)' },
      },
      timeZone: 'Europe/Berlin',
      storage: {
        primary: { ...RUNBOOK_CONFIG.storage.primary, prefix: 'nca/backups/' },
        secondary: { ...RUNBOOK_CONFIG.storage.secondary, prefix: '' },
        coldStorage: { storageClass: 'GLACIER_IR', afterDays: 30 },
        objectLock: { mode: 'COMPLIANCE', days: 14 },
      },
      retention: { database: 14, memory_tiers: 14, configuration: 90, model_weights: 365, logs: 90 },
      encryption: { enabled: true, keyManagement: 'kms', kmsKeyId: 'alias/neuroca-backup' },
      sources: {
        postgres: {
          secretArn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db-AbCdEf',
          database: 'neuroca',
          url: 'postgresql://backup@db.internal:5432/neuroca',
        },
      },
      network: {
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0', 'subnet-89abcdef'],
        availabilityZones: ['us-west-2a', 'us-west-2b'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      },
      runner: {
        lambdaMaxBytes: 1.5 * 1024 ** 3,
        force: 'fargate',
        maxConcurrency: 40,
        lambda: { memoryMiB: 10240, timeoutMinutes: 5 },
        fargate: { cpu: 8192, memoryMiB: 20480, ephemeralStorageGiB: 200 },
      },
      notifications: { emails: ['oncall@example.com'], snsTopicArn: 'arn:aws:sns:us-west-2:123456789012:ops-alerts' },
    });
  });

  test('memory stores: defaults, and every key read', () => {
    const defaults = load(runbookWith((d) => (d.backup.sources = { redis: null, mongodb: null, vector: null, memory: null })));
    expect(defaults.sources).toEqual({
      redis: { db: 0, keyPatterns: ['*'] },
      mongodb: { database: 'neuroca_episodic' },
      vector: { database: 'neuroca_db', table: 'semantic_memory' },
      memory: { tiers: ['working', 'episodic', 'semantic'], workingNamespace: 'generic', episodicCollection: 'ltm_memories' },
    });
    const full = load(
      runbookWith(
        (d) =>
          (d.backup.sources = {
            redis: { secret_arn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:nca/redis', db: 2, key_patterns: ['memory:*', 'session:*'], url: 'rediss://cache:6380' },
            mongodb: { database: 'episodes', collections: ['memories', 'events'], url: 'mongodb://mongo:27017/?directConnection=true' },
            vector: { database: 'vectors', table: 'public.semantic', url: 'postgresql://nca@pg/vectors' },
            memory: { tiers: ['semantic', 'working', 'working'], working_namespace: 'stm', episodic_collection: 'events' },
          }),
      ),
    );
    expect(full.sources.redis).toEqual({ secretArn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:nca/redis', db: 2, keyPatterns: ['memory:*', 'session:*'], url: 'rediss://cache:6380' });
    expect(full.sources.mongodb).toEqual({ database: 'episodes', collections: ['memories', 'events'], url: 'mongodb://mongo:27017/?directConnection=true' });
    expect(full.sources.vector).toEqual({ database: 'vectors', table: 'public.semantic', url: 'postgresql://nca@pg/vectors' });
    expect(full.sources.memory).toEqual({ tiers: ['semantic', 'working'], workingNamespace: 'stm', episodicCollection: 'events' });
  });

  test('no encryption section: the stack creates the key; empty sources: no components', () => {
    const config = load(
      runbookWith((d) => {
        delete d.backup.encryption;
        d.backup.sources = {};
      }),
    );
    expect(config.encryption).toEqual({ enabled: true, keyManagement: 'kms' });
    expect(config.sources).toEqual({});
  });

  test('`postgres:` with nothing under it means the defaults; an empty schedule means no schedules', () => {
    const config = load(RUNBOOK_YAML.replace(/ {2}schedule:\n(.*\n){4}/, '  schedule:\n') + '  sources:\n    postgres:\n');
    expect(config.sources).toEqual({ postgres: { database: 'neuroca_db' } });
    expect(config.schedule).toEqual({});
    expect(config.timeZone).toBe('UTC');
  });

  test.each([
    [256, 2048],
    [512, 4096],
    [4096, 8192],
    [16384, 32768],
  ])('fargate cpu %i without memory_mb gets the valid size nearest 4096: %i', (cpu, memory) => {
    const config = load(runbookWith((d) => (d.backup.runner = { fargate: { cpu } })));
    expect(config.runner.fargate).toEqual({ cpu, memoryMiB: memory, ephemeralStorageGiB: 21 });
  });

  test('a time zone written in the wrong case is corrected; e-mail lists are kept in order', () => {
    const config = load(
      runbookWith((d) => {
        d.backup.schedule.time_zone = 'utc';
        d.backup.notifications = { email: ['b@example.com', 'a@example.org'] };
      }),
    );
    expect(config.timeZone).toBe('UTC');
    expect(config.notifications.emails).toEqual(['b@example.com', 'a@example.org']);
  });
});

describe('parseBackupConfig: installation and bucket names', () => {
  test('installation defaults to nca-backup; a name and exact_name are read', () => {
    expect(load(RUNBOOK_YAML).installation).toBe('nca-backup');
    const config = load(
      runbookWith((d) => {
        d.backup.installation = 'archive-2';
        d.backup.storage.primary.exact_name = true;
        d.backup.storage.secondary.exact_name = false;
      }),
    );
    expect(config.installation).toBe('archive-2');
    expect(config.storage.primary).toEqual({ ...RUNBOOK_CONFIG.storage.primary, exactName: true });
    expect(config.storage.secondary).toEqual(RUNBOOK_CONFIG.storage.secondary);
  });

  test('a name that only fits without the suffix loads with exact_name: true', () => {
    const name = 'n'.repeat(63);
    expect(errorOf(runbookWith((d) => (d.backup.storage.primary.bucket = name))).path).toBe('backup.storage.primary.bucket');
    expect(load(runbookWith((d) => Object.assign(d.backup.storage.primary, { bucket: name, exact_name: true }))).storage.primary.bucket).toBe(name);
  });

  test('the longest suffixed name that fits is accepted: 40 characters before "-<account>-us-west-2"', () => {
    expect(load(runbookWith((d) => (d.backup.storage.primary.bucket = 'b'.repeat(40)))).storage.primary.bucket).toBe('b'.repeat(40));
  });
});

describe('parseBackupConfig: documentation values are refused in a real backup.yaml', () => {
  const DOCUMENTED = (d: Yaml) => {
    d.backup.encryption.kms_key_id = 'arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    d.backup.sources = { postgres: { secret_arn: 'arn:aws:secretsmanager:us-west-2:111122223333:secret:neuroca/db' } };
    d.backup.notifications = { sns_topic_arn: 'arn:aws:sns:us-west-2:123456789012:ops-alerts' };
    d.backup.storage.break_glass_role = 'arn:aws:iam::444455556666:role/vault-admin';
  };

  test('an ARN in an example account, each named by its field', () => {
    const error = strictErrorOf(runbookWith(DOCUMENTED));
    expect(error.issues).toEqual([
      { path: 'backup.encryption.kms_key_id', problem: expect.stringMatching(/^names the account 123456789012, an example account of the AWS documentation, not yours; give your own key's ARN, or leave kms_key_id out/) },
      { path: 'backup.sources.postgres.secret_arn', problem: expect.stringMatching(/^names the account 111122223333, .*give the ARN of your own resource \(for a secret/) },
      { path: 'backup.notifications.sns_topic_arn', problem: expect.stringMatching(/^names the account 123456789012, .*your own topic's ARN/) },
      { path: 'backup.storage.break_glass_role', problem: expect.stringMatching(/^names the account 444455556666, .*your own role's ARN, or a role name/) },
    ]);
    // Tests of the documentation's examples may allow them.
    expect(load(runbookWith(DOCUMENTED)).storage.breakGlassRole).toBe('arn:aws:iam::444455556666:role/vault-admin');
  });

  test.each([
    ['a key id that is not hex', '0000abcd-ef56-gh78-ij90-klmn1234pqrs', /is not a KMS key ARN.*a UUID of hex digits.*not hex \(an example from the documentation\?\)/],
    ['a key ARN whose key id is not hex', 'arn:aws:kms:us-west-2:210987654321:key/abcd1234-ef56-gh78-ij90-klmn1234pqrs', /not hex/],
    ['a key ARN naming no key id', 'arn:aws:kms:us-west-2:210987654321:key/my-key', /is not a KMS key ARN, alias ARN, alias\/<name> or key id/],
  ])('%s is refused', (_name, key, problem) => {
    const error = strictErrorOf(runbookWith((d) => (d.backup.encryption.kms_key_id = key)));
    expect(error.issues).toEqual([{ path: 'backup.encryption.kms_key_id', problem: expect.stringMatching(problem) }]);
  });

  test.each([
    ['a key ARN', 'arn:aws:kms:us-west-2:210987654321:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
    ['a multi-Region key ARN', 'arn:aws:kms:us-west-2:210987654321:key/mrk-1234abcd12ab34cd56ef1234567890ab'],
    ['an alias ARN', 'arn:aws:kms:us-west-2:210987654321:alias/neuroca-backups'],
    ['an alias', 'alias/neuroca-backups'],
    ['a key id', '1234abcd-12ab-34cd-56ef-1234567890ab'],
  ])('%s of your own is accepted', (_name, key) => {
    expect(parseBackupConfig(runbookWith((d) => (d.backup.encryption.kms_key_id = key))).encryption.kmsKeyId).toBe(key);
  });
});

describe('parseBackupConfig: backup.restore.protected_targets', () => {
  test('read into restore.protectedTargets; absent, empty or an empty list: no section (the system databases stay refused)', () => {
    const config = load(runbookWith((d) => (d.backup.restore = { protected_targets: ['billing', 'shared_episodes', '3'] })));
    expect(config.restore).toEqual({ protectedTargets: ['billing', 'shared_episodes', '3'] });
    expect(load(RUNBOOK_YAML).restore).toBeUndefined();
    expect(load(runbookWith((d) => (d.backup.restore = { protected_targets: [] }))).restore).toBeUndefined();
    expect(load(runbookWith((d) => (d.backup.restore = null))).restore).toBeUndefined();
  });
});

describe('value parsers', () => {
  test.each([
    ['30d', 30],
    ['2w', 14],
    ['1y', 365],
    [' 7D ', 7],
  ])('duration %j → %i days', (text, days) => expect(parseDuration(text)).toBe(days));
  test.each([['0d'], ['30'], [30], ['30x'], ['-3d'], ['1.5d'], ['30 days'], [null]])('not a duration: %j', (value) =>
    expect(parseDuration(value)).toBeUndefined(),
  );

  test.each([
    ['2GiB', 2 * 1024 ** 3],
    ['500MB', 500_000_000],
    ['1.5GiB', 1.5 * 1024 ** 3],
    ['64 MiB', 64 * 1024 ** 2],
    [1048576, 1048576],
    ['1000', 1000],
  ])('size %j → %i bytes', (text, bytes) => expect(parseSize(text)).toBe(bytes));
  test.each([['2 parsecs'], ['GiB'], [0], [-1], [1.5], ['0MB'], [true]])('not a size: %j', (value) => expect(parseSize(value)).toBeUndefined());

  test.each([
    ['/backups', 'backups/'],
    ['backups/', 'backups/'],
    ['/', ''],
    ['', ''],
    ['//a/b//', 'a/b/'],
  ])('prefix %j → %j', (text, prefix) => expect(normalisePrefix(text)).toBe(prefix));
  test.each([['a//b'], ['/../etc'], ['has space'], ['a/./b']])('not a prefix: %j', (text) => expect(normalisePrefix(text)).toBeUndefined());
});

describe('parseBackupConfig: errors name the field and what is allowed', () => {
  type Edit = (d: Yaml) => void;
  const cases: [string, Edit, string, RegExp][] = [
    ['bad duration', (d) => (d.backup.retention.database = '30x'), 'backup.retention.database', /^'30x' is not a duration like 30d/],
    ['bare number of days', (d) => (d.backup.retention.logs = 30), 'backup.retention.logs', /^30 is not a duration like 30d/],
    ['zero days', (d) => (d.backup.retention.logs = '0d'), 'backup.retention.logs', /not a duration like 30d \(a positive whole number/],
    ['unknown group in retention', (d) => (d.backup.retention.memory = '14d'), 'backup.retention.memory', /^unknown key; allowed: database, memory_tiers, configuration, model_weights, logs$/],
    ['unknown top-level section', (d) => ((d as Record<string, unknown>).backups = {}), 'backups', /^unknown key; allowed: backup$/],
    ['unknown key under backup', (d) => (d.backup.schedul = {}), 'backup.schedul', /^unknown key; allowed: installation, schedule, storage, retention, encryption, sources, network, runner, notifications, restore, verification, recovery, audit$/],
    ['unknown key in a location', (d) => (d.backup.storage.primary.buckt = 'x'), 'backup.storage.primary.buckt', /^unknown key; allowed: type, bucket, region, path, exact_name$/],
    ['unknown key four deep', (d) => (d.backup.runner = { fargate: { cpus: 1024 } }), 'backup.runner.fargate.cpus', /^unknown key; allowed: cpu, memory_mb, ephemeral_storage_gb, container_insights$/],
    ['bad cron', (d) => (d.backup.schedule.database = '0 25 * * *'), 'backup.schedule.database', /^hour 25 is out of range 0-23/],
    ['cron with six fields', (d) => (d.backup.schedule.logs = '0 0 2 * * ?'), 'backup.schedule.logs', /has 6 fields; expected five/],
    ['impossible date', (d) => (d.backup.schedule.configuration = '0 1 31 2 *'), 'backup.schedule.configuration', /day-of-month 31 never occurs in FEB/],
    ['both day fields', (d) => (d.backup.schedule.model_weights = '0 4 1 * 0'), 'backup.schedule.model_weights', /both day-of-month and day-of-week.*set one of them to \*/],
    ['schedule not a string', (d) => (d.backup.schedule.database = 2), 'backup.schedule.database', /^2 is not a five-field cron like "0 2 \* \* \*"$/],
    ['bad time zone', (d) => (d.backup.schedule.time_zone = 'Mars/Olympus_Mons'), 'backup.schedule.time_zone', /^'Mars\/Olympus_Mons' is not an IANA time zone like UTC or Europe\/Berlin$/],
    ['offset is not a time zone', (d) => (d.backup.schedule.time_zone = '+01:00'), 'backup.schedule.time_zone', /is not an IANA time zone/],
    ['encryption disabled', (d) => (d.backup.encryption.enabled = false), 'backup.encryption.enabled', /backups are never written unencrypted; set enabled: true/],
    ['other key management', (d) => (d.backup.encryption.key_management = 'aes256'), 'backup.encryption.key_management', /^'aes256' is not allowed; allowed: kms$/],
    ['bad key id', (d) => (d.backup.encryption.kms_key_id = 'my-key'), 'backup.encryption.kms_key_id', /is not a KMS key ARN, alias ARN, alias\/<name> or key id/],
    ['key in another region', (d) => (d.backup.encryption.kms_key_id = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'), 'backup.encryption.kms_key_id', /is in us-east-1, but the primary bucket is in us-west-2/],
    ['url with a password', (d) => (d.backup.sources = { postgres: { url: 'postgresql://neuroca:hunter2@db:5432/neuroca_db' } }), 'backup.sources.postgres.url', /must not contain a password.*NCA_POSTGRES_URL or PGPASSWORD/],
    ['url with a password parameter', (d) => (d.backup.sources = { postgres: { url: 'postgres://neuroca@db/neuroca_db?password=hunter2' } }), 'backup.sources.postgres.url', /must not contain a password/],
    ['url of another scheme', (d) => (d.backup.sources = { postgres: { url: 'mysql://db/neuroca_db' } }), 'backup.sources.postgres.url', /scheme mysql: is not allowed; use postgresql:\/\//],
    ['bad secret ARN', (d) => (d.backup.sources = { postgres: { secret_arn: 'arn:aws:ssm:us-west-2:123456789012:parameter/db' } }), 'backup.sources.postgres.secret_arn', /is not a Secrets Manager secret ARN/],
    ['secret in another region', (d) => (d.backup.sources = { postgres: { secret_arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:db' } }), 'backup.sources.postgres.secret_arn', /is in eu-west-1, but the primary bucket is in us-west-2/],
    ['unknown source', (d) => (d.backup.sources = { mongo: {} }), 'backup.sources.mongo', /^unknown key; allowed: postgres, redis, mongodb, vector, memory, config, models, logs$/],
    ['redis url with a password', (d) => (d.backup.sources = { redis: { url: 'redis://:hunter2@cache:6379' } }), 'backup.sources.redis.url', /must not contain a password.*NCA_REDIS_URL/],
    ['redis url of another scheme', (d) => (d.backup.sources = { redis: { url: 'http://cache:6379' } }), 'backup.sources.redis.url', /scheme http: is not allowed; use redis:\/\//],
    ['redis db out of range', (d) => (d.backup.sources = { redis: { db: -1 } }), 'backup.sources.redis.db', /^-1 is not a whole number from 0 to 1023$/],
    ['redis empty key patterns', (d) => (d.backup.sources = { redis: { key_patterns: [] } }), 'backup.sources.redis.key_patterns', /is not a non-empty list of key patterns/],
    ['redis key pattern with a space', (d) => (d.backup.sources = { redis: { key_patterns: ['memory *'] } }), 'backup.sources.redis.key_patterns[0]', /is not a Redis key pattern/],
    ['redis secret in another region', (d) => (d.backup.sources = { redis: { secret_arn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cache' } }), 'backup.sources.redis.secret_arn', /is in eu-west-1/],
    ['mongodb database with a dot', (d) => (d.backup.sources = { mongodb: { database: 'neuroca.episodic' } }), 'backup.sources.mongodb.database', /is not a MongoDB database name/],
    ['mongodb system collection', (d) => (d.backup.sources = { mongodb: { collections: ['system.users'] } }), 'backup.sources.mongodb.collections[0]', /is not a collection name/],
    ['mongodb url with a password', (d) => (d.backup.sources = { mongodb: { url: 'mongodb://nca:hunter2@mongo:27017' } }), 'backup.sources.mongodb.url', /must not contain a password.*NCA_MONGODB_URL/],
    ['vector bad table', (d) => (d.backup.sources = { vector: { table: 'semantic memory' } }), 'backup.sources.vector.table', /is not a table name like semantic_memory/],
    ['memory unknown tier', (d) => (d.backup.sources = { redis: {}, memory: { tiers: ['working', 'longterm'] } }), 'backup.sources.memory.tiers[1]', /^'longterm' is not allowed; allowed: working, episodic, semantic$/],
    ['memory tier without its store', (d) => (d.backup.sources = { redis: {}, memory: { tiers: ['working', 'episodic'] } }), 'backup.sources.memory.tiers', /the episodic tier needs backup.sources.mongodb/],
    ['memory unknown key', (d) => (d.backup.sources = { redis: {}, memory: { tiers: ['working'], tier: ['working'] } }), 'backup.sources.memory.tier', /^unknown key; allowed: tiers, working_namespace, episodic_collection$/],
    ['bad region', (d) => (d.backup.storage.primary.region = 'us-west'), 'backup.storage.primary.region', /^'us-west' is not an AWS region like us-west-2$/],
    ['same region', (d) => (d.backup.storage.secondary.region = 'us-west-2'), 'backup.storage.secondary.region', /is the primary's region; cross-region replication needs another region/],
    ['same bucket', (d) => (d.backup.storage.secondary.bucket = 'neuroca-backups'), 'backup.storage.secondary.bucket', /is the primary's bucket/],
    ['bad bucket name', (d) => (d.backup.storage.primary.bucket = 'Neuroca_Backups'), 'backup.storage.primary.bucket', /is not a valid S3 bucket name: may contain only lowercase letters/],
    ['bucket like an IP', (d) => (d.backup.storage.primary.bucket = '192.168.1.1'), 'backup.storage.primary.bucket', /must not look like an IP address/],
    ['storage type', (d) => (d.backup.storage.primary.type = 'gcs'), 'backup.storage.primary.type', /^'gcs' is not allowed; allowed: s3$/],
    ['bad path', (d) => (d.backup.storage.primary.path = '/back ups'), 'backup.storage.primary.path', /is not a key prefix like "\/backups"/],
    ['missing secondary', (d) => delete d.backup.storage.secondary, 'backup.storage.secondary', /^is required: a mapping with type, bucket, region, path$/],
    ['missing bucket', (d) => delete d.backup.storage.primary.bucket, 'backup.storage.primary.bucket', /^is required: an S3 bucket name/],
    ['missing storage', (d) => delete d.backup.storage, 'backup.storage', /^is required: primary and secondary/],
    ['fargate cpu/memory', (d) => (d.backup.runner = { fargate: { cpu: 1024, memory_mb: 1024 } }), 'backup.runner.fargate.memory_mb', /^1024 is not valid with cpu 1024; allowed: 2048-8192 in steps of 1024$/],
    ['fargate 256 has no 1536', (d) => (d.backup.runner = { fargate: { cpu: 256, memory_mb: 1536 } }), 'backup.runner.fargate.memory_mb', /allowed: 512, 1024, 2048$/],
    ['fargate cpu', (d) => (d.backup.runner = { fargate: { cpu: 3000 } }), 'backup.runner.fargate.cpu', /^3000 is not a Fargate CPU size; allowed: 256, 512, 1024, 2048, 4096, 8192, 16384$/],
    ['fargate storage', (d) => (d.backup.runner = { fargate: { ephemeral_storage_gb: 20 } }), 'backup.runner.fargate.ephemeral_storage_gb', /^20 is not a whole number from 21 to 200$/],
    ['lambda memory', (d) => (d.backup.runner = { lambda: { memory_mb: 64 } }), 'backup.runner.lambda.memory_mb', /^64 is not a whole number from 128 to 10240$/],
    ['lambda timeout', (d) => (d.backup.runner = { lambda: { timeout_minutes: 16 } }), 'backup.runner.lambda.timeout_minutes', /from 1 to 15/],
    ['concurrency', (d) => (d.backup.runner = { max_concurrency: 0 }), 'backup.runner.max_concurrency', /^0 is not a whole number from 1 to 40$/],
    ['size', (d) => (d.backup.runner = { lambda_max_bytes: '2 parsecs' }), 'backup.runner.lambda_max_bytes', /is not a size like 2GiB, 500MB/],
    ['force', (d) => (d.backup.runner = { force: 'ec2' }), 'backup.runner.force', /^'ec2' is not allowed; allowed: lambda, fargate$/],
    ['object lock longer than retention', (d) => (d.backup.storage.object_lock = { mode: 'GOVERNANCE', days: 30 }), 'backup.storage.object_lock.days', /30 exceeds the shortest retention \(memory_tiers: 14 days\).*allowed: 1-14/],
    ['object lock mode', (d) => (d.backup.storage.object_lock = { mode: 'LEGAL_HOLD', days: 7 }), 'backup.storage.object_lock.mode', /allowed: GOVERNANCE, COMPLIANCE/],
    ['cold storage after every retention', (d) => (d.backup.storage.cold_storage = { storage_class: 'GLACIER_IR', after_days: 180 }), 'backup.storage.cold_storage.after_days', /180 is not less than the longest retention \(180 days\)/],
    ['cold storage class', (d) => (d.backup.storage.cold_storage = { storage_class: 'ONEZONE_IA', after_days: 30 }), 'backup.storage.cold_storage.storage_class', /allowed: GLACIER_IR, STANDARD_IA, INTELLIGENT_TIERING$/],
    ['cold storage in GLACIER', (d) => (d.backup.storage.cold_storage = { storage_class: 'GLACIER', after_days: 30 }), 'backup.storage.cold_storage.storage_class', /^'GLACIER' is not allowed: GLACIER objects must be restored \(RestoreObject.*every restore would fail; use GLACIER_IR \(millisecond retrieval\) or INTELLIGENT_TIERING/],
    ['cold storage in DEEP_ARCHIVE', (d) => (d.backup.storage.cold_storage = { storage_class: 'deep_archive', after_days: 90 }), 'backup.storage.cold_storage.storage_class', /^'deep_archive' is not allowed: DEEP_ARCHIVE objects must be restored.*use GLACIER_IR/],
    ['exact_name not a boolean', (d) => (d.backup.storage.secondary.exact_name = 'yes'), 'backup.storage.secondary.exact_name', /^'yes' is not true or false$/],
    ['suffixed bucket name too long', (d) => (d.backup.storage.primary.bucket = 'b'.repeat(41)), 'backup.storage.primary.bucket', /^'b{41}' is too long: the stacks name the bucket 'b{41}-<account>-us-west-2', 64 characters with the 12-digit account id, and S3 allows 63; shorten it to at most 40 characters, or set exact_name: true/],
    ['installation in the suffix makes it too long', (d) => ((d.backup.installation = 'archive-two'), (d.backup.storage.secondary.bucket = 'neuroca-dr-backups-of-the-nca')), 'backup.storage.secondary.bucket', /the stacks name the bucket 'neuroca-dr-backups-of-the-nca-archive-two-<account>-eu-central-1', 67 characters/],
    ['installation with upper case', (d) => (d.backup.installation = 'NcaBackup'), 'backup.installation', /^'NcaBackup' is not an installation name like nca-backup \(2-20 of a-z, 0-9 and -/],
    ['installation too long', (d) => (d.backup.installation = 'a'.repeat(21)), 'backup.installation', /is not an installation name/],
    ['installation ending in a hyphen', (d) => (d.backup.installation = 'nca-'), 'backup.installation', /is not an installation name/],
    ['installation under alias/aws', (d) => (d.backup.installation = 'aws-backup'), 'backup.installation', /must not start with aws \(KMS reserves alias\/aws\*\)/],
    ['installation not a string', (d) => (d.backup.installation = 7), 'backup.installation', /^7 is not an installation name/],
    ['STANDARD_IA too early', (d) => (d.backup.storage.cold_storage = { storage_class: 'STANDARD_IA', after_days: 7 }), 'backup.storage.cold_storage.after_days', /too early for STANDARD_IA.*30 days/],
    ['network lengths', (d) => (d.backup.network = { vpc_id: 'vpc-01234567', subnet_ids: ['subnet-01234567', 'subnet-89abcdef'], availability_zones: ['us-west-2a'], security_group_ids: ['sg-01234567'] }), 'backup.network.availability_zones', /has 1 entries but subnet_ids has 2/],
    ['network ids', (d) => (d.backup.network = { vpc_id: 'vpc-xyz', subnet_ids: ['subnet-01234567'], availability_zones: ['us-west-2a'], security_group_ids: ['sg-01234567'] }), 'backup.network.vpc_id', /^'vpc-xyz' is not a VPC id like vpc-0123456789abcdef0$/],
    ['network subnet id', (d) => (d.backup.network = { vpc_id: 'vpc-01234567', subnet_ids: ['sn-1'], availability_zones: ['us-west-2a'], security_group_ids: ['sg-01234567'] }), 'backup.network.subnet_ids[0]', /is not a subnet id like subnet-/],
    ['network zone elsewhere', (d) => (d.backup.network = { vpc_id: 'vpc-01234567', subnet_ids: ['subnet-01234567'], availability_zones: ['us-east-1a'], security_group_ids: ['sg-01234567'] }), 'backup.network.availability_zones', /us-east-1a not in us-west-2/],
    ['network missing key', (d) => (d.backup.network = { vpc_id: 'vpc-01234567', subnet_ids: ['subnet-01234567'], availability_zones: ['us-west-2a'] }), 'backup.network.security_group_ids', /^is required: a list of security group ids/],
    ['e-mail', (d) => (d.backup.notifications = { email: ['ops@example.com', 'not-an-address'] }), 'backup.notifications.email[1]', /is not an e-mail address like oncall@example.com/],
    ['topic in another region', (d) => (d.backup.notifications = { sns_topic_arn: 'arn:aws:sns:eu-central-1:123456789012:ops' }), 'backup.notifications.sns_topic_arn', /CloudWatch alarms notify topics in their own region only/],
    ['subscribe_later beside an address', (d) => (d.backup.notifications = { email: ['ops@example.com'], subscribe_later: true }), 'backup.notifications.subscribe_later', /^is only for a deploy with neither email nor sns_topic_arn/],
    ['subscribe_later not a boolean', (d) => (d.backup.notifications = { subscribe_later: 'yes' }), 'backup.notifications.subscribe_later', /^'yes' is not true or false$/],
    ['section not a mapping', (d) => (d.backup.runner = ['lambda']), 'backup.runner', /^a list is not a mapping; allowed keys: lambda_max_bytes, force/],
    ['protected targets not a list', (d) => (d.backup.restore = { protected_targets: 'neuroca_db' }), 'backup.restore.protected_targets', /^'neuroca_db' is not a non-empty list of database names like "neuroca_db"$/],
    ['protected target empty', (d) => (d.backup.restore = { protected_targets: ['billing', ' '] }), 'backup.restore.protected_targets[1]', /^' ' is not a database name \(1-63 characters, no NUL\)$/],
    ['protected target too long', (d) => (d.backup.restore = { protected_targets: ['x'.repeat(64)] }), 'backup.restore.protected_targets[0]', /is not a database name \(1-63 characters, no NUL\)$/],
    ['protected target not a name', (d) => (d.backup.restore = { protected_targets: [3] }), 'backup.restore.protected_targets[0]', /^3 is not a database name/],
    ['protected target listed twice', (d) => (d.backup.restore = { protected_targets: ['billing', 'billing'] }), 'backup.restore.protected_targets', /^'billing' is listed twice$/],
    ['unknown key under restore', (d) => (d.backup.restore = { protected_target: ['billing'] }), 'backup.restore.protected_target', /^unknown key; allowed: protected_targets$/],
    ['restore not a mapping', (d) => (d.backup.restore = ['billing']), 'backup.restore', /^a list is not a mapping; allowed keys: protected_targets$/],
  ];

  test.each(cases)('%s', (_name, edit, fieldPath, problem) => {
    const error = errorOf(runbookWith(edit));
    expect(error.path).toBe(fieldPath);
    expect(error.problem).toMatch(problem);
    expect(error.message.split('\n')[0]).toBe(`${fieldPath}: ${error.problem}`);
    // Each case breaks exactly one rule: nothing else is reported.
    expect(error.issues).toHaveLength(1);
  });

  test('a password in the URL is never echoed', () => {
    const error = errorOf(runbookWith((d) => (d.backup.sources = { postgres: { url: 'postgresql://neuroca:hunter2@db/x' } })));
    expect(error.message).not.toContain('hunter2');
    const malformed = errorOf(runbookWith((d) => (d.backup.sources = { postgres: { url: 'postgresql://neuroca:hunter2@db:99999999/x' } })));
    expect(malformed.message).not.toContain('hunter2');
  });

  test('all problems are reported at once, one per line, the first as path/problem', () => {
    const error = errorOf(
      runbookWith((d) => {
        d.backup.retention.database = '30x';
        d.backup.storage.primary.buckt = 'x';
        d.backup.encryption.enabled = false;
        d.backup.schedule.logs = '0 0 31 2 *';
      }),
    );
    expect(error.issues.map((i) => i.path)).toEqual([
      'backup.schedule.logs',
      'backup.storage.primary.buckt',
      'backup.retention.database',
      'backup.encryption.enabled',
    ]);
    expect(error.path).toBe('backup.schedule.logs');
    expect(error.message.split('\n')).toEqual(error.issues.map((i) => `${i.path}: ${i.problem}`));
  });

  test('a cross-field rule is not applied to a field that is itself invalid', () => {
    // The secondary region is invalid: "same region as primary" must not be reported on top.
    const error = errorOf(runbookWith((d) => (d.backup.storage.secondary.region = 'nowhere')));
    expect(error.issues).toEqual([{ path: 'backup.storage.secondary.region', problem: "'nowhere' is not an AWS region like us-west-2" }]);
  });

  test.each([
    ['a YAML syntax error, with its line', 'backup:\n  schedule:\n    database: "0 2 * * *\n  storage: {}\n', /^line \d+, column \d+$/, /is not valid YAML/],
    ['an unquoted leading * (YAML alias syntax)', 'backup:\n  schedule:\n    database: */15 * * * *\n', /^line 3, column \d+$/, /is not valid YAML: .*alias.*quote values that contain \*/],
    ['a duplicate key', 'backup:\n  retention:\n    logs: 30d\n    logs: 60d\n', /^line 4, column 5$/, /Map keys must be unique/],
    ['no backup section', 'storage: {}\n', /^backup$/, /must have a top-level backup: mapping/],
    ['an empty file', '', /^backup$/, /must have a top-level backup: mapping/],
    ['backup as a list', 'backup:\n  - schedule\n', /^backup$/, /^a list is not a mapping; allowed keys: installation, schedule, storage/],
  ])('%s', (_name, text, fieldPath, problem) => {
    const error = errorOf(text);
    expect(error.path).toMatch(fieldPath);
    expect(error.problem).toMatch(problem);
  });

  test('an unquoted cron that does not start with * is plain YAML and loads', () => {
    const text = RUNBOOK_YAML.replace('"0 2 * * *"', '0 2 * * *');
    expect(text).not.toBe(RUNBOOK_YAML);
    expect(load(text).schedule.database).toEqual({ cron: '0 2 * * *', expression: 'cron(0 2 * * ? *)' });
  });

  test('a YAML error names the source it came from', () => {
    expect(() => parseBackupConfig('backup: [\n', { source: 'conf/prod.yaml' })).toThrow(/conf\/prod\.yaml is not valid YAML/);
  });
});

describe('loadBackupConfig', () => {
  test('reads a file; a missing file is a ConfigError naming it', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nca-config-'));
    try {
      const file = path.join(dir, 'backup.yaml');
      writeFileSync(file, RUNBOOK_YAML.replace(RUNBOOK_KEY, 'alias/neuroca-backups'));
      expect(loadBackupConfig(file)).toEqual(configWith((c) => {
        delete c.storage.primary.exactName;
        delete c.storage.secondary.exactName;
        c.encryption.kmsKeyId = 'alias/neuroca-backups';
      }));
      const missing = path.join(dir, 'nope.yaml');
      expect(() => loadBackupConfig(missing)).toThrow(ConfigError);
      expect(() => loadBackupConfig(missing)).toThrow(`${missing}: no such file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
