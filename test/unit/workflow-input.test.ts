import { planBackup, parseRestoreInput, safetyBackupIdFor } from '../../functions/core/workflow-input';
import { decideBackupOutcome } from '../../functions/core/backup-outcome';
import { compareFingerprints, describeDifferences } from '../../functions/core/fingerprint-diff';
import { chooseRunner } from '../../functions/core/runner';
import { readableCause } from '../../functions/core/events';
import { testRuntimeConfig, TEST_WORKER as worker } from '../support/runtime-config';

const config = testRuntimeConfig({
  runner: { lambdaMaxBytes: 1000, maxConcurrency: 3 },
  components: { postgres: { group: 'database', source: { database: 'neuroca_db' }, worker } },
});
const envelope = (input: unknown) => ({ input, executionName: 'exec-1', startTime: '2026-11-23T02:00:00.000Z' });

describe('planBackup', () => {
  test('lists the group components with their workers under one id derived from the execution', () => {
    const plan = planBackup(config, envelope({ group: 'database', trigger: 'scheduled' }));
    expect(plan).toEqual({
      group: 'database',
      backupId: expect.stringMatching(/^20261123T020000Z-[0-9a-f]{6}$/),
      trigger: 'scheduled',
      changed: null,
      maxConcurrency: 3,
      components: [{ component: 'postgres', worker }],
      system: null,
    });
    // A retried Plan step must not mint a second backup id.
    expect(planBackup(config, envelope({ group: 'database' })).backupId).toBe(plan.backupId);
    expect(planBackup(config, { ...envelope({ group: 'database' }), executionName: 'exec-2' }).backupId).not.toBe(plan.backupId);
  });

  test('group all plans every configured component under one id, which is the system recovery point each manifest records', () => {
    const plan = planBackup(config, envelope({ group: 'all' }));
    expect(plan.components.map((c) => c.component)).toEqual(Object.keys(config.components));
    expect(plan.system).toEqual({ systemId: plan.backupId, components: Object.keys(config.components).sort() });
    // Every component starts at once, whatever backup.runner.max_concurrency says for group backups.
    expect(plan.maxConcurrency).toBe(plan.components.length);
    expect(() => planBackup(config, envelope({ group: 'all', components: ['postgres'] }))).toThrow(/components cannot be given with group all/);
  });

  test.each([
    [{ group: 'databse' }, /group 'databse' is not a backup group; allowed: database, memory_tiers/],
    [{ group: 'memory_tiers' }, /group memory_tiers has no configured components.*backup.sources/],
    [{ group: 'database', components: ['redis'] }, /components redis are not configured in group database; configured: postgres/],
    [{ group: 'database', colour: 'red' }, /unknown input field 'colour'; allowed: group, trigger, components, changed, notBefore/],
    [{ group: 'database', trigger: 'hourly' }, /trigger 'hourly' must be scheduled, manual or change/],
    [{ group: 'database', trigger: 'change' }, /changed must name the changed item \(a string of 1 to 2048 UTF-8 bytes\) when trigger is change; got nothing/],
    [{ group: 'database', trigger: 'change', changed: '' }, /changed must name the changed item/],
    [{ group: 'database', trigger: 'change', changed: 'x'.repeat(2049) }, /changed must name the changed item \(a string of 1 to 2048/],
    [{ group: 'database', trigger: 'change', changed: ['/neuroca/a'] }, /changed must name the changed item/],
    [{ group: 'database', changed: '/neuroca/a' }, /changed is only for trigger change, not manual/],
    [{ group: 'database', trigger: 'scheduled', changed: '/neuroca/a' }, /changed is only for trigger change, not scheduled/],
    [{ group: 'database', trigger: 'change', changed: '/neuroca/a', notBefore: 'in five minutes' }, /notBefore "in five minutes" is not a UTC time like 2026-11-30T15:31:00Z/],
    [{ group: 'database', trigger: 'change', changed: '/neuroca/a', notBefore: '2026-02-30T15:31:00Z' }, /notBefore "2026-02-30T15:31:00Z" is not a UTC time/],
    [{ group: 'database', trigger: 'change', changed: '/neuroca/a', notBefore: '2026-11-30T15:31:00+01:00' }, /is not a UTC time/],
    ['database', /must be a JSON object/],
  ])('rejects %j', (input, message) => {
    expect(() => planBackup(config, envelope(input))).toThrow(message);
  });

  test('a change-triggered backup carries the first changed name to the workers; its notBefore has been waited for and stays behind', () => {
    const input = { group: 'database', trigger: 'change', changed: '/neuroca/db/password', notBefore: '2026-11-23T02:06:00Z' };
    const plan = planBackup(config, envelope(input));
    expect(plan).toMatchObject({ trigger: 'change', changed: '/neuroca/db/password' });
    expect(plan).not.toHaveProperty('notBefore');
    expect(planBackup(config, envelope({ ...input, changed: 'x'.repeat(2048), notBefore: '2026-11-23T02:06:00.500Z' })).changed).toHaveLength(2048);
  });
});

describe('parseRestoreInput', () => {
  test('accepts the console example and defaults skipSafetyBackup to false', () => {
    expect(parseRestoreInput(config, { component: 'postgres', backupId: 'latest', targetDatabase: 'neuroca_db' })).toEqual({
      component: 'postgres',
      backupId: 'latest',
      targetDatabase: 'neuroca_db',
      skipSafetyBackup: false,
      options: {},
    });
  });

  test('a target database may be any name backup.yaml accepts for sources.postgres.database: quoted identifiers up to 63 bytes', () => {
    for (const name of ['neuroca db', 'x; drop table', 'Neuroca-"Prod"', 'naïve_base', 'x'.repeat(63), 'é'.repeat(31)]) {
      expect(parseRestoreInput(config, { component: 'postgres', backupId: 'latest', targetDatabase: name }).targetDatabase).toBe(name);
    }
  });

  test('a Redis database index is a target database too', () => {
    expect(parseRestoreInput(config, { component: 'postgres', backupId: 'latest', targetDatabase: '3' }).targetDatabase).toBe('3');
  });

  test.each([
    [{ component: 'mysql', backupId: 'latest' }, /component 'mysql' is not a configured component; configured: postgres/],
    [{ component: 'postgres' }, /backupId is required/],
    [{ component: 'postgres', backupId: 'latest', targetDatabase: '' }, /targetDatabase \(--target-database\) is empty/],
    [{ component: 'postgres', backupId: 'latest', targetDatabase: 'a\0b' }, /is not a database name/],
    [{ component: 'postgres', backupId: 'latest', targetDatabase: 'x'.repeat(64) }, /is not a database name/],
    [{ component: 'postgres', backupId: 'latest', targetDatabase: 'é'.repeat(32) }, /is not a database name/],
    [{ component: 'postgres', backupId: 'latest', targetDatabase: 3 }, /is not a database name/],
    [{ component: 'postgres', backupId: 'latest', skipSafetyBackup: 'yes' }, /skipSafetyBackup must be true or false/],
    [{ component: 'postgres', backupId: 'latest', target: 'db' }, /unknown input field 'target'/],
    [{ component: 'postgres', backupId: 'latest', options: { mode: 'merge' } }, /postgres: options.mode is not a PostgreSQL restore option/],
    [{ component: 'postgres', backupId: 'latest', options: ['merge'] }, /options must be a JSON object/],
    [{ component: 'postgres', backupId: 'latest', options: { targetDatabase: 'x' } }, /options.targetDatabase is not an option: give targetDatabase at the top level/],
  ])('rejects %j', (input, message) => {
    expect(() => parseRestoreInput(config, input)).toThrow(message);
  });

  test('safety backup ids are marked and never collide with scheduled ids of the same execution', () => {
    expect(safetyBackupIdFor(envelope({}))).toMatch(/^20261123T020000Z-[0-9a-f]{6}-safety$/);
  });
});

describe('decideBackupOutcome', () => {
  const ok = { component: 'postgres', status: 'SUCCEEDED' as const, runner: 'lambda', result: { backupId: 'id', bytes: 10, durationMs: 5 } };
  const failed = {
    component: 'redis',
    status: 'FAILED' as const,
    error: 'ToolError',
    cause: JSON.stringify({ errorType: 'ToolError', errorMessage: 'redis: connection refused', trace: [] }),
  };

  test('all succeeded: success events with bytes and duration', () => {
    const outcome = decideBackupOutcome({ group: 'database', backupId: 'id', results: [ok] });
    expect(outcome.status).toBe('SUCCEEDED');
    expect(outcome.eventEntries).toHaveLength(1);
    expect(JSON.parse(outcome.eventEntries[0].Detail)).toEqual({ group: 'database', backupId: 'id', component: 'postgres', bytes: 10, durationMs: 5, runner: 'lambda' });
    expect(outcome.eventEntries[0]).toMatchObject({ Source: 'nca.backup', DetailType: 'Backup Succeeded' });
  });

  test('one failure fails the execution with its error and readable cause, and still reports the others', () => {
    const outcome = decideBackupOutcome({ group: 'database', backupId: 'id', results: [ok, failed] });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe('ToolError');
    expect(outcome.cause).toBe('redis: ToolError: redis: connection refused');
    expect(outcome.eventEntries.map((e) => e.DetailType)).toEqual(['Backup Succeeded', 'Backup Failed']);
  });
});

describe('fingerprints, runner, causes', () => {
  test('compareFingerprints names changed, missing and extra objects', () => {
    const expected = { a: { count: 1, digest: 'x' }, b: { count: 2, digest: 'y' }, c: { count: 3, digest: 'z' } };
    const actual = { a: { count: 1, digest: 'x' }, b: { count: 2, digest: 'Y' }, d: { count: 1, digest: 'w' } };
    const diff = compareFingerprints(expected, actual);
    expect(diff.map((d) => d.object)).toEqual(['b', 'c', 'd']);
    expect(describeDifferences(diff)).toBe('b: same count (2), different content; c: missing after restore; d: not in the backup');
    expect(compareFingerprints(expected, { ...expected })).toEqual([]);
  });

  test('chooseRunner: above lambdaMaxBytes goes to Fargate unless forced', () => {
    expect(chooseRunner(1000, { lambdaMaxBytes: 1000, maxConcurrency: 1 })).toBe('lambda');
    expect(chooseRunner(1001, { lambdaMaxBytes: 1000, maxConcurrency: 1 })).toBe('fargate');
    expect(chooseRunner(10, { lambdaMaxBytes: 1000, maxConcurrency: 1, force: 'fargate' })).toBe('fargate');
  });

  test('readableCause unwraps a Lambda error cause', () => {
    expect(readableCause('{"errorType":"X","errorMessage":"boom"}')).toBe('boom');
    expect(readableCause('plain')).toBe('plain');
  });
});
