/**
 * `nca-backup` as operators and the Fargate task run it: the real bin script in a child process, with
 * backup.yaml from a file and the local-run environment variables, against PostgreSQL and s3rver.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { createDatabase, sql, testPostgresUrl, urlFor } from '../support/postgres-db';
import { execFile } from 'node:child_process';
import { cliEnv, postgresBackupYaml, runCli, writeBackupYaml, type CliRun } from '../support/cli';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';
import { startS3Proxy } from '../support/s3-proxy';
import { acquireLock, lockKey, releaseLock } from '../../functions/core/operation-lock';
import { newBackupId } from '../../functions/core/backup-id';

let env: NodeJS.ProcessEnv;
let configFile: string;
let database: string;
let bucket: string;

function cli(...args: string[]): Promise<CliRun> {
  return runCli(env, args);
}

const CONFIG = postgresBackupYaml;

beforeAll(async () => {
  database = await createDatabase('cli');
  await loadSampleNcaDatabase(urlFor(database), { rows: 500 });
  bucket = await createTestBucket(testS3Client(), 'cli');
  configFile = writeBackupYaml(CONFIG(database));
  env = cliEnv(bucket, { NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR });
});

describe('nca-backup command line', () => {
  test('backup, list, verify and restore latest into a new database', async () => {
    const backup = await cli('backup', 'postgres', '--config', configFile);
    expect(backup.code).toBe(0);
    expect(backup.json).toMatchObject({ component: 'postgres', trigger: 'manual', database, backupId: expect.stringMatching(/^\d{8}T\d{6}Z-[0-9a-f]+$/) });
    expect(backup.json.bytes).toBeGreaterThan(10_000);
    // Progress is JSON lines on stderr, never on stdout.
    const progress = backup.stderr.trim().split('\n').map((line) => JSON.parse(line));
    expect(progress.map((p) => p.message)).toEqual(expect.arrayContaining(['backup started', 'artifact stored', 'backup completed']));

    const list = await cli('list', 'postgres', '--config', configFile);
    expect(list.json.backups.map((b: { backupId: string }) => b.backupId)).toEqual([backup.json.backupId]);

    const verify = await cli('verify', 'postgres', '--backup-id', 'latest', '--config', configFile);
    expect(verify.json).toMatchObject({ backupId: backup.json.backupId, intact: true, bytes: backup.json.bytes });

    const restore = await cli('restore', 'postgres', '--backup-id', 'latest', '--target-database', `${database}_restored`, '--config', configFile);
    expect(restore.code).toBe(0);
    expect(restore.json).toMatchObject({ backupId: backup.json.backupId, fingerprintMatch: true, replacedExisting: false, safetyBackup: { skipped: true } });
    const source = await connectPostgres({ database }, env);
    const copy = await connectPostgres({ database: `${database}_restored` }, env);
    expect(await postgres.fingerprint(copy)).toEqual(await postgres.fingerprint(source));
  });

  test('verify reports a damaged artifact with exit code 1 and the digest mismatch', async () => {
    const backup = await cli('backup', 'postgres', '--config', configFile, '--backup-id', '20260101T000000Z-dead');
    expect(backup.code).toBe(0);
    await testS3Client().send(new PutObjectCommand({ Bucket: bucket, Key: `backups/database/postgres/20260101T000000Z-dead/${database}.dump`, Body: 'overwritten' }));
    const verify = await cli('verify', 'postgres', '--backup-id', '20260101T000000Z-dead', '--config', configFile);
    expect(verify.code).toBe(1);
    expect(verify.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining('has 11 bytes, the manifest says') });
  });

  test('bad input: unknown component, unknown backup id, missing --backup-id, malformed backup.yaml', async () => {
    const unknown = await cli('backup', 'mysql', '--config', configFile);
    expect(unknown.code).toBe(1);
    expect(unknown.json.message).toMatch(/component 'mysql' is not configured/);

    const missing = await cli('restore', 'postgres', '--backup-id', '20200101T000000Z-0000', '--config', configFile);
    expect(missing.code).toBe(1);
    expect(missing.json).toMatchObject({ error: 'BackupNotFoundError' });

    const noId = await cli('verify', 'postgres', '--config', configFile);
    expect(noId.json.message).toMatch(/--backup-id is required/);

    const bad = writeBackupYaml(CONFIG(database).replace('database: 30d', 'database: 30x'), 'bad.yaml');
    const malformed = await cli('list', 'postgres', '--config', bad);
    expect(malformed.code).toBe(2);
    expect(malformed.json.message).toContain("backup.retention.database: '30x' is not a duration like 30d");
    // Without --config, NCA_BACKUP_CONFIG names the file (as for `cdk deploy`).
    const byEnvironment = await runCli({ ...env, NCA_BACKUP_CONFIG: bad }, ['list', 'postgres']);
    expect(byEnvironment.code).toBe(2);
    expect(byEnvironment.json.message).toContain("backup.retention.database: '30x' is not a duration like 30d");

    const usage = await cli('frobnicate', 'postgres', '--config', configFile);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown command 'frobnicate'[\s\S]*usage: nca-backup/);
  });
});

describe('the command line contract: exit codes, errors that name their component, never 0 without a result', () => {
  test('usage errors exit 2 with a JSON error: unknown flag, missing component, YAML alias bomb', async () => {
    const flag = await cli('backup', 'postgres', '--frobnicate', '--config', configFile);
    expect(flag.code).toBe(2);
    expect(flag.json).toMatchObject({ error: 'UsageError', message: expect.stringContaining("Unknown option '--frobnicate'"), component: 'postgres' });
    expect(flag.stderr).toContain('usage: nca-backup');

    const none = await cli('list', '--config', configFile);
    expect(none.code).toBe(2);
    expect(none.json).toMatchObject({ error: 'UsageError', message: 'list needs a component' });

    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const bomb = writeBackupYaml(`${levels.join('\n')}\n${CONFIG(database)}`, 'bomb.yaml');
    const exploded = await cli('list', 'postgres', '--config', bomb);
    expect(exploded.code).toBe(2);
    expect(exploded.json).toMatchObject({ error: 'ConfigError', component: 'postgres', message: expect.stringMatching(/alias/i) });
  });

  test.each(['toString', '__proto__', 'constructor', 'hasOwnProperty'])('list %s is an unknown component, not an empty list', async (name) => {
    const run = await cli('list', name, '--config', configFile);
    expect(run.code).toBe(1);
    expect(run.json).toMatchObject({ error: 'InvalidInputError', component: name, message: expect.stringContaining(`component '${name}' is not configured`) });
  });

  test('an S3 permission error names the component and the key', async () => {
    const proxy = await startS3Proxy(process.env.NCA_TEST_S3_ENDPOINT!);
    try {
      proxy.failNext(1000, 403, 'AccessDenied');
      const run = await runCli({ ...env, NCA_S3_ENDPOINT: proxy.endpoint }, ['list', 'postgres', '--config', configFile]);
      expect(run.code).toBe(1);
      expect(run.json).toMatchObject({ error: 'AccessDeniedError', component: 'postgres', message: expect.stringContaining('backups/database/postgres/') });
      expect(run.stderr).toMatch(/^nca-backup: AccessDeniedError: postgres: S3 refused listing/m);
    } finally {
      await proxy.stop();
    }
  });

  test('--target-database takes any name backup.yaml accepts: spaces, quotes, unicode, 63 bytes', async () => {
    const backup = await cli('backup', 'postgres', '--config', configFile);
    expect(backup.code).toBe(0);
    const target = `nca "restored" copy ${'é'.repeat(20)}`.slice(0, 40);
    expect(Buffer.byteLength(target)).toBeLessThanOrEqual(63);
    const restore = await cli('restore', 'postgres', '--backup-id', backup.json.backupId, '--target-database', target, '--config', configFile);
    expect({ code: restore.code, error: restore.json?.error, message: restore.json?.message }).toEqual({ code: 0, error: undefined, message: undefined });
    expect(restore.json).toMatchObject({ targetDatabase: target, fingerprintMatch: true });
    const tooLong = await cli('restore', 'postgres', '--backup-id', 'latest', '--target-database', 'é'.repeat(32), '--config', configFile);
    expect(tooLong.json).toMatchObject({ error: 'InvalidInputError', message: expect.stringContaining('1 to 63 bytes') });
  });

  test('backup and restore take the component lock: a second operation fails at once naming the first; none is left behind', async () => {
    const vault = vaultOf(bucket);
    await acquireLock(vault, { group: 'database', component: 'postgres', owner: 'restore-exec-42', operation: 'restore' });
    try {
      for (const args of [['backup', 'postgres'], ['restore', 'postgres', '--backup-id', 'latest', '--target-database', `${database}_locked`]]) {
        const run = await cli(...args, '--config', configFile);
        expect(run.code).toBe(1);
        expect(run.json).toMatchObject({ error: 'OperationInProgressError', component: 'postgres', message: expect.stringContaining('restore restore-exec-42 (since ') });
      }
    } finally {
      await releaseLock(vault, 'database', 'postgres', 'restore-exec-42');
    }
    const backup = await cli('backup', 'postgres', '--config', configFile);
    expect(backup.code).toBe(0);
    const restore = await cli('restore', 'postgres', '--backup-id', 'latest', '--target-database', `${database}_after_lock`, '--config', configFile);
    expect(restore.code).toBe(0);
    expect(await vault.getJson(lockKey('database', 'postgres'))).toBeUndefined();
  });

  function fixture(mode: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [join(__dirname, '..', 'support', 'cli-process-fixture.js'), mode], (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  }

  test.each([
    ['pending', 'NoResultError', /stopped without a result/],
    ['error-event', 'Error', /Connection terminated unexpectedly/],
    ['rejection', 'Error', /write EPIPE/],
  ])('a command that %s ends with exit 1 and a JSON error, never 0', async (mode, name, message) => {
    const run = await fixture(mode);
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stdout)).toMatchObject({ error: name, component: 'postgres', message: expect.stringMatching(message) });
    expect(run.stderr).toMatch(message);
  });

  test('a command that settles exits 0 with its result only', async () => {
    const run = await fixture('ok');
    expect(run).toEqual({ code: 0, stdout: '{"ok": true}\n', stderr: expect.not.stringContaining('nca-backup') });
  });
});

describe('refused before anything is written or touched: backup ids, empty targets (issue 8)', () => {
  /** Every key in the bucket, wherever a bad id could have sent a write. */
  const bucketKeys = () => vaultOf(bucket, { prefix: '' }).listKeys('');

  test('backup --backup-id: a path, a malformed id or one dated in the future is refused naming the field; nothing is written', async () => {
    const before = await bucketKeys();
    const future = newBackupId(new Date(Date.now() + 60 * 60 * 1000), 'f00d');
    const cases: [string, RegExp][] = [
      ['../../x', /^postgres: --backup-id '\.\.\/\.\.\/x' is not a backup id: .* like 20261123T020000Z-7f3a/],
      ['20260101T000000Z-dead/../../x', /is not a backup id/],
      ['', /--backup-id '' is not a backup id/],
      [future, /--backup-id '.*' is dated .*, more than 5 minutes after the current time .* \(the allowance for clock skew\)/],
    ];
    for (const [id, message] of cases) {
      const run = await cli('backup', 'postgres', '--backup-id', id, '--config', configFile);
      // An input error, like an unknown component: exit 1 (2 is for a malformed command line or backup.yaml).
      expect({ code: run.code, error: run.json?.error, component: run.json?.component }).toEqual({ code: 1, error: 'InvalidInputError', component: 'postgres' });
      expect(run.json.message).toMatch(message);
    }
    expect(await bucketKeys()).toEqual(before);
  });

  test('a worker step (run-step, as the Fargate task runs it) refuses a future backup id and an empty target the same way', async () => {
    const future = newBackupId(new Date(Date.now() + 60 * 60 * 1000), 'beef');
    const backup = await cli('run-step', JSON.stringify({ operation: 'backup', component: 'postgres', backupId: future, trigger: 'manual', stepId: 'guard-backup' }), '--config', configFile);
    expect(backup.code).toBe(1);
    expect(backup.json).toMatchObject({ error: 'InvalidInputError', message: expect.stringMatching(/backupId '.*' is dated .* \(the allowance for clock skew\)/) });
    expect((await bucketKeys()).filter((key) => key.includes(future))).toEqual([]);

    const restore = await cli('run-step', JSON.stringify({ operation: 'check-compatibility', component: 'postgres', backupId: '20260101T000000Z-dead', targetDatabase: '', stepId: 'guard-restore' }), '--config', configFile);
    expect(restore.code).toBe(1);
    expect(restore.json).toMatchObject({ error: 'InvalidInputError', message: expect.stringContaining('targetDatabase (--target-database) is empty') });
  });

  test('restore --target-database "" or "   " is refused; the backed-up database keeps what it holds, no safety backup, no lock', async () => {
    const backup = await cli('backup', 'postgres', '--config', configFile);
    expect(backup.code).toBe(0);
    // Written after the backup: an in-place restore would remove it.
    await sql(database, 'CREATE TABLE after_backup (marker text)');
    await sql(database, "INSERT INTO after_backup VALUES ('still here')");
    try {
      for (const target of ['', '   ']) {
        const run = await cli('restore', 'postgres', '--backup-id', backup.json.backupId, '--target-database', target, '--config', configFile);
        expect({ code: run.code, error: run.json?.error, component: run.json?.component }).toEqual({ code: 1, error: 'InvalidInputError', component: 'postgres' });
        expect(run.json.message).toMatch(/targetDatabase \(--target-database\) is empty.*Nothing was touched\. Name the database to restore into, e\.g\. --target-database/);
      }
      expect(await sql(database, 'SELECT marker FROM after_backup')).toEqual([{ marker: 'still here' }]);
      expect((await bucketKeys()).filter((key) => key.includes('-safety/') || key.endsWith('_lock.json'))).toEqual([]);
    } finally {
      await sql(database, 'DROP TABLE IF EXISTS after_backup');
    }
  });
});
