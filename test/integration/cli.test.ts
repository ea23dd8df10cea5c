/**
 * `nca-backup` as operators and the Fargate task run it: the real bin script in a child process, with
 * backup.yaml from a file and the local-run environment variables, against PostgreSQL and s3rver.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectPostgres, postgres } from '../../functions/components/postgres';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { createDatabase, testPostgresUrl, urlFor } from '../support/postgres-db';
import { runCli, type CliRun } from '../support/cli';
import { createTestBucket, testS3Client } from '../support/s3';

let env: NodeJS.ProcessEnv;
let configFile: string;
let database: string;
let bucket: string;

function cli(...args: string[]): Promise<CliRun> {
  return runCli(env, args);
}

function writeConfig(dir: string, name: string, body: string): string {
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

const CONFIG = (db: string) => `
backup:
  schedule:
    database: "0 2 * * *"
  storage:
    primary: { type: "s3", bucket: "neuroca-backups", region: "us-west-2", path: "/backups" }
    secondary: { type: "s3", bucket: "neuroca-dr-backups", region: "eu-central-1", path: "/backups" }
  retention:
    database: 30d
  encryption:
    enabled: true
    key_management: "kms"
  sources:
    postgres:
      database: ${db}
`;

beforeAll(async () => {
  database = await createDatabase('cli');
  await loadSampleNcaDatabase(urlFor(database), { rows: 500 });
  bucket = await createTestBucket(testS3Client(), 'cli');
  const dir = mkdtempSync(join(tmpdir(), 'nca-cli-'));
  configFile = writeConfig(dir, 'backup.yaml', CONFIG(database));
  env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT,
    NCA_BUCKET: bucket,
    NCA_POSTGRES_URL: testPostgresUrl(),
    NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  };
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

    const dir = mkdtempSync(join(tmpdir(), 'nca-cli-bad-'));
    const bad = writeConfig(dir, 'bad.yaml', CONFIG(database).replace('database: 30d', 'database: 30x'));
    const malformed = await cli('list', 'postgres', '--config', bad);
    expect(malformed.code).toBe(2);
    expect(malformed.json.message).toContain("backup.retention.database: '30x' is not a duration like 30d");

    const usage = await cli('frobnicate', 'postgres', '--config', configFile);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown command 'frobnicate'[\s\S]*usage: nca-backup/);
  });
});
