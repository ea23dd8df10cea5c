/**
 * Issue 8, sections 3-5: what an operator or a schedule hands in is refused before anything is written or
 * touched: backup ids that are malformed or dated in the future, a component listed twice, and restore
 * targets that are empty, a server's system database, or configured as protected.
 */
import { localRuntimeConfig } from '../../functions/core/local-config';
import { componentEntry } from '../../functions/components';
import { checkNewBackupId, checkRestoreTarget, parseRestoreInput, planBackup, restoreTarget } from '../../functions/core/workflow-input';
import { InvalidInputError } from '../../functions/core/errors';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { parseBackupConfig } from '../../config/load';
import { deployedRuntimeConfig } from '../../infra/runtime-config';
import { testRuntimeConfig, TEST_WORKER as worker } from '../support/runtime-config';
import { thrown } from '../support/thrown';

const config = testRuntimeConfig({
  runner: { lambdaMaxBytes: 1000, maxConcurrency: 3 },
  components: {
    postgres: { group: 'database', source: { database: 'neuroca_db' }, worker },
    redis: { group: 'database', source: { db: 0, keyPatterns: ['*'] }, worker },
    mongodb: { group: 'database', source: { database: 'neuroca_episodic' }, worker },
    vector: { group: 'database', source: { database: 'neuroca_db', table: 'semantic_memory' }, worker },
    memory: { group: 'memory_tiers', source: { tiers: ['working'], workingNamespace: 'generic', episodicCollection: 'ltm_memories' }, worker },
  },
});
const NOW = new Date('2026-11-30T10:00:00.000Z');

const refusal = (run: () => unknown) => thrown(InvalidInputError, run);

describe('backup ids given by an operator or a workflow', () => {
  test('an id made from the current time, or one taken up to 5 minutes ahead (clock skew), is accepted', () => {
    expect(checkNewBackupId('20261130T100000Z-7f3a', { field: '--backup-id', now: NOW })).toBe('20261130T100000Z-7f3a');
    expect(checkNewBackupId('20261130T100400Z-7f3a', { field: '--backup-id', now: NOW })).toBe('20261130T100400Z-7f3a');
    expect(checkNewBackupId('20200101T000000Z-0000', { field: '--backup-id', now: NOW })).toBe('20200101T000000Z-0000');
    expect(checkNewBackupId('20261130T100000Z-7f3a-safety', { field: 'safetyBackupId', now: NOW, safety: true })).toBe('20261130T100000Z-7f3a-safety');
  });

  test.each([
    ['../../x'],
    ['20261130T100000Z-7f3a/../../other'],
    ['../20261130T100000Z-7f3a'],
    ['20261130T100000Z-7F3A'],
    ['20261130T100000Z-'],
    [''],
    ['latest'],
    ['20261399T100000Z-7f3a'],
    ['20261130T256000Z-7f3a'],
  ])('%j is not a backup id: refused naming the field and the format', (id) => {
    const error = refusal(() => checkNewBackupId(id, { field: '--backup-id', now: NOW, component: 'postgres' }));
    expect(error.name).toBe('InvalidInputError');
    expect(error.message).toMatch(/^postgres: --backup-id '.*' is not a backup id: .* like 20261123T020000Z-7f3a/);
  });

  test('an id dated more than 5 minutes ahead is refused, naming the allowance for clock skew', () => {
    const error = refusal(() => checkNewBackupId('20261130T100600Z-7f3a', { field: 'backupId', now: NOW }));
    expect(error.message).toMatch(/backupId '20261130T100600Z-7f3a' is dated 2026-11-30T10:06:00.000Z, more than 5 minutes after the current time 2026-11-30T10:00:00.000Z \(the allowance for clock skew\)/);
    expect(() => checkNewBackupId('29991231T235959Z-ffff', { field: 'backupId', now: NOW })).toThrow(InvalidInputError);
  });

  test('the -safety suffix belongs to safety backups only', () => {
    expect(refusal(() => checkNewBackupId('20261130T100000Z-7f3a-safety', { field: '--backup-id', now: NOW })).message).toMatch(/ends in -safety, which only safety backups/);
    expect(refusal(() => checkNewBackupId('20261130T100000Z-7f3a', { field: 'safetyBackupId', now: NOW, safety: true })).message).toMatch(/must end in -safety/);
  });

  test('non-strings are refused', () => {
    expect(refusal(() => checkNewBackupId(42, { field: 'backupId', now: NOW })).message).toMatch(/backupId 42 is not a backup id/);
    expect(refusal(() => checkNewBackupId(undefined, { field: 'backupId', now: NOW })).message).toMatch(/backupId nothing is not a backup id/);
  });

  test("the plan's id passes the same check: an execution dated far in the future is refused", () => {
    const envelope = { input: { group: 'database' }, executionName: 'exec-1', startTime: '2999-01-01T00:00:00.000Z' };
    expect(refusal(() => planBackup(config, envelope)).message).toMatch(/backupId \(from the execution start time\) '29990101T000000Z-[0-9a-f]{6}' is dated 2999-01-01/);
  });
});

describe('a component listed twice in a backup input', () => {
  const envelope = (components: unknown) => ({ input: { group: 'database', components }, executionName: 'exec-1', startTime: '2026-11-23T02:00:00.000Z' });

  test('is refused, naming each repeated component once', () => {
    const error = refusal(() => planBackup(config, envelope(['postgres', 'redis', 'postgres', 'redis', 'postgres'])));
    expect(error.message).toMatch(/^components lists postgres, redis more than once; each component is backed up once per backup id\. Give each component once, e\.g\. \["postgres","redis"\]\.$/);
  });

  test('a list without repeats still plans each component once', () => {
    expect(planBackup(config, envelope(['redis', 'postgres'])).components.map((c) => c.component)).toEqual(['redis', 'postgres']);
  });
});

describe('restore targets that must be refused', () => {
  const input = (component: string, targetDatabase?: unknown, extra: Record<string, unknown> = {}) => ({ component, backupId: 'latest', ...(targetDatabase === undefined ? {} : { targetDatabase }), ...extra });

  test.each([[''], [' '], ['\t  ']])('an empty target %j is refused: it never means "the backed-up database"', (target) => {
    const error = refusal(() => parseRestoreInput(config, input('postgres', target)));
    expect(error.message).toMatch(/^postgres: targetDatabase \(--target-database\) is empty.*Nothing was touched\./);
  });

  test.each([
    ['postgres', 'template1', /is the system database template1 \(every later CREATE DATABASE copies it, restored data and all\)/],
    ['postgres', 'template0', /is the system database template0/],
    ['postgres', 'postgres', /is the system database postgres \(the maintenance database: the restore itself connects to it/],
    ['vector', 'template1', /is the system database template1/],
    ['mongodb', 'admin', /is the system database admin \(it holds the users, roles/],
    ['mongodb', 'local', /is the system database local \(it holds the replication oplog/],
    ['mongodb', 'config', /is the system database config/],
    ['mongodb', 'ADMIN', /'ADMIN' is the system database admin/],
  ])('%s: %s is refused before anything is touched, with how to restore elsewhere', (component, target, reason) => {
    const error = refusal(() => parseRestoreInput(config, input(component, target)));
    expect(error.message).toMatch(new RegExp(`^${component}: targetDatabase \\(--target-database\\) '${target}' `));
    expect(error.message).toMatch(reason);
    expect(error.message).toMatch(/a restore never writes to it\. Nothing was touched\. To restore elsewhere, name another database: targetDatabase in the restore input, --target-database <name>/);
  });

  test('names only a system database of its own server: "Template1" is another PostgreSQL database, admin a fine PostgreSQL name', () => {
    expect(parseRestoreInput(config, input('postgres', 'Template1')).targetDatabase).toBe('Template1');
    expect(parseRestoreInput(config, input('postgres', 'admin')).targetDatabase).toBe('admin');
    expect(parseRestoreInput(config, input('mongodb', 'template1')).targetDatabase).toBe('template1');
    expect(parseRestoreInput(config, input('redis', '0')).targetDatabase).toBe('0');
  });

  test('a configured protected target is refused for every component, matched as the server compares names', () => {
    const guarded: RuntimeConfig = { ...config, protectedTargets: ['billing', 'Shared_Episodes', '3'] };
    expect(refusal(() => parseRestoreInput(guarded, input('postgres', 'billing'))).message).toMatch(
      /^postgres: targetDatabase \(--target-database\) 'billing' is a protected target \(backup\.restore\.protected_targets lists 'billing'\): a restore never writes to it\. Nothing was touched\./,
    );
    expect(refusal(() => parseRestoreInput(guarded, input('mongodb', 'shared_episodes'))).message).toMatch(/lists 'Shared_Episodes'/);
    expect(refusal(() => parseRestoreInput(guarded, input('redis', 'db3'))).message).toMatch(/'db3' is a protected target \(backup\.restore\.protected_targets lists '3'\)/);
    // PostgreSQL names are quoted, case and all: another database.
    expect(parseRestoreInput(guarded, input('postgres', 'shared_episodes')).targetDatabase).toBe('shared_episodes');
    expect(parseRestoreInput(config, input('postgres', 'billing')).targetDatabase).toBe('billing');
  });

  test("the backed-up database (the manifest's source.database, the target when none is given) passes the same check", () => {
    expect(restoreTarget(config, 'postgres', undefined, 'neuroca_db')).toBe('neuroca_db');
    expect(restoreTarget(config, 'postgres', 'copy', 'template1')).toBe('copy');
    expect(refusal(() => restoreTarget(config, 'postgres', undefined, 'template1')).message).toMatch(
      /^postgres: the backed-up database 'template1' \(the target when none is given\) is the system database template1.*--target-database <name>/,
    );
    expect(refusal(() => restoreTarget({ ...config, protectedTargets: ['neuroca_db'] }, 'postgres', undefined, 'neuroca_db')).message).toMatch(/is a protected target/);
    expect(refusal(() => checkRestoreTarget(config, 'mongodb', 'config')).name).toBe('InvalidInputError');
  });

  test('a vector restore never writes a table into a system schema', () => {
    for (const table of ['pg_catalog.semantic_memory', 'information_schema.semantic_memory', 'pg_toast.x']) {
      expect(refusal(() => parseRestoreInput(config, input('vector', undefined, { options: { targetTable: table } }))).message).toMatch(
        /^vector: options\.targetTable '.*' is in the system schema .*; a restore never writes there\. Nothing was touched\./,
      );
    }
    expect(parseRestoreInput(config, input('vector', undefined, { options: { targetTable: 'public.semantic_memory_restored' } })).options).toEqual({ targetTable: 'public.semantic_memory_restored' });
  });

  test('the last check before a target is connected to refuses the same, whatever path reached it (CLI, worker, safety backup)', () => {
    const postgresTarget = { host: 'h', port: 5432, user: 'u', database: 'neuroca_db' };
    expect(() => componentEntry('postgres').retarget(postgresTarget, { targetDatabase: 'template1' })).toThrow(/is the system database template1/);
    expect(() => componentEntry('postgres').retarget(postgresTarget, { targetDatabase: '' })).toThrow(/targetDatabase is empty/);
    expect(() => componentEntry('redis').retarget({ host: 'h', port: 6379, db: 0 }, { targetDatabase: '  ' })).toThrow(/targetDatabase is empty \(only spaces\)/);
    expect(() => componentEntry('mongodb').retarget({ hosts: 'h', database: 'x' }, { targetDatabase: 'Local' })).toThrow(/is the system database local/);
    expect(componentEntry('postgres').retarget(postgresTarget, { targetDatabase: 'copy' })).toMatchObject({ database: 'copy' });
    expect(componentEntry('postgres').retarget(postgresTarget, {})).toMatchObject({ database: 'neuroca_db' });
  });
});

describe('backup.restore.protected_targets reaches the deployed functions', () => {
  const yaml = (restore: string) => `backup:
  storage:
    primary: { type: "s3", bucket: "neuroca-backups", region: "us-west-2", path: "/backups" }
    secondary: { type: "s3", bucket: "neuroca-dr-backups", region: "eu-central-1", path: "/backups" }
${restore}`;

  test('as protectedTargets in NCA_RUNTIME_CONFIG, refused by the restore input check; absent when none is configured', () => {
    const runtime = deployedRuntimeConfig(parseBackupConfig(yaml('  restore:\n    protected_targets: ["billing", "neuroca_db"]\n')), { kmsKeyId: 'k' });
    expect(runtime.protectedTargets).toEqual(['billing', 'neuroca_db']);
    expect(refusal(() => parseRestoreInput(runtime, { component: 'postgres', backupId: 'latest', targetDatabase: 'billing' })).message).toMatch(/is a protected target/);
    expect(deployedRuntimeConfig(parseBackupConfig(yaml('')), { kmsKeyId: 'k' })).not.toHaveProperty('protectedTargets');
  });

  test('and the CLI\'s local runs, from the same backup.yaml', () => {
    const local = localRuntimeConfig(parseBackupConfig(yaml('  restore:\n    protected_targets: ["billing"]\n')), {});
    expect(local.protectedTargets).toEqual(['billing']);
    expect(refusal(() => parseRestoreInput(local, { component: 'postgres', backupId: 'latest', targetDatabase: 'billing' })).message).toMatch(/is a protected target/);
  });
});
