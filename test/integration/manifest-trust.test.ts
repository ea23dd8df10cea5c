/**
 * Nothing read back from the vault is trusted until checked (issue 8, sections 1, 2 and 4), tried as an
 * attacker who can write to the vault bucket but holds no manifest key: forged and copied manifests,
 * artifact names that leave their backup, a database name that is a connection string, damaged and
 * missing objects; and as a second attempt of the same backup, which must never replace or delete the
 * first one's objects. The CLI runs as operators run it (child process); the write-once cases call the
 * engine directly.
 */
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { manifestKey } from '../../functions/core/catalog';
import { runBackup } from '../../functions/core/backup-run';
import { loadManifest } from '../../functions/core/restore-steps';
import { createHmacKey } from '../support/kms-server';
import type { EngineContext } from '../../functions/core/context';
import { silentLogger } from '../../functions/core/logger';
import type { Manifest } from '../../functions/core/manifest';
import type { BackupVault } from '../../functions/core/storage';
import { loadSampleNcaDatabase } from '../../scripts/sample-nca-db';
import { cliEnv, postgresBackupYaml, runCli, writeBackupYaml, type CliRun } from '../support/cli';
import { plantManifest, testAuthenticator } from '../support/manifests';
import { createDatabase, databaseExists, testPostgresUrl, urlFor } from '../support/postgres-db';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client, vaultOf } from '../support/s3';

const GOOD = '20261101T000000Z-good';
const FUTURE = '20991231T235959Z-f0f0';

let env: NodeJS.ProcessEnv;
let configFile: string;
let database: string;
let bucket: string;
let vault: BackupVault;
let good: Manifest;

const cli = (...args: string[]): Promise<CliRun> => runCli(env, [...args, '--config', configFile]);
const s3 = testS3Client();
const fullKey = (relative: string) => `backups/${relative}`;

/** Copies every object of backup `from` to backup `to` (the attacker's cheapest forgery: a real backup under a new id). */
async function copyBackup(from: string, to: string, manifest: (m: Manifest) => Record<string, unknown>, options: { sign?: boolean } = {}): Promise<string> {
  for (const artifact of good.artifacts) {
    await s3.send(new CopyObjectCommand({
      Bucket: bucket,
      CopySource: `${bucket}/${fullKey(`database/postgres/${from}/${artifact.name}`)}`,
      Key: fullKey(`database/postgres/${to}/${artifact.name}`),
    }));
  }
  const { authentication, ...content } = good;
  const key = manifestKey('database', 'postgres', to);
  if (options.sign) {
    const { authentication: _dropped, ...changed } = { ...content, ...manifest(good), backupId: to } as Record<string, unknown>;
    return plantManifest(vault, changed as unknown as Manifest, { authenticator: testAuthenticator() });
  }
  // A forger without the key keeps the MAC the original carried, unless `manifest` drops it.
  await vault.putJson(key, { ...content, authentication, ...manifest(good), backupId: to });
  return key;
}

beforeAll(async () => {
  database = await createDatabase('trust');
  await loadSampleNcaDatabase(urlFor(database), { rows: 200 });
  bucket = await createTestBucket(s3, 'trust');
  vault = vaultOf(bucket);
  configFile = writeBackupYaml(postgresBackupYaml(database));
  env = cliEnv(bucket, { NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR, NCA_LOG_LEVEL: 'silent' });
  const backup = await cli('backup', 'postgres', '--backup-id', GOOD);
  expect(backup.json).toMatchObject({ backupId: GOOD });
  good = (await vault.getJson<Manifest>(manifestKey('database', 'postgres', GOOD)))!;
});

describe('manifests are authenticated', () => {
  test('a backup carries a MAC; a forged manifest with a future id is listed as untrusted, is never latest, and a restore or verify naming it fails naming its key', async () => {
    expect(good.authentication).toMatchObject({ algorithm: 'HMAC_SHA_256', keyId: expect.stringMatching(/^local:[0-9a-f]{16}$/), mac: expect.any(String) });
    // The forger copies a real backup under a future id; without the key the MAC is the original's (or none).
    const forged = await copyBackup(GOOD, FUTURE, () => ({ authentication: undefined }));

    const list = await cli('list', 'postgres');
    expect(list.code).toBe(0);
    expect(list.json.backups).toEqual([
      { backupId: FUTURE, status: 'untrusted', problem: expect.stringContaining('no MAC'), key: `s3://${bucket}/${fullKey(forged)}` },
      expect.objectContaining({ backupId: GOOD, status: 'trusted', database }),
    ]);

    const latest = await cli('verify', 'postgres', '--backup-id', 'latest');
    expect(latest.json).toMatchObject({ backupId: GOOD, intact: true });

    for (const command of ['restore', 'verify']) {
      const named = await cli(command, 'postgres', '--backup-id', FUTURE, '--target-database', `${database}_forged`);
      expect(named.code).toBe(1);
      expect(named.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining(`manifest s3://${bucket}/${fullKey(forged)} is not trusted`) });
    }
    expect(await databaseExists(`${database}_forged`)).toBe(false);
  });

  test('a valid manifest copied under another backup id, MAC and all, fails its MAC', async () => {
    const id = '20261102T000000Z-c0de';
    const copied = await copyBackup(GOOD, id, () => ({}));
    const verify = await cli('verify', 'postgres', '--backup-id', id);
    expect(verify.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining(`${fullKey(copied)} is not trusted: its MAC does not verify`) });
    // Copied verbatim (its own backupId inside) it fails the same way, before its contents are read.
    await vault.deleteKeys([copied]);
    await vault.putJson(copied, good);
    const verbatim = await cli('verify', 'postgres', '--backup-id', id);
    expect(verbatim.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining('its MAC does not verify') });
  });

  test('a tampered byte anywhere in the manifest breaks its MAC', async () => {
    const id = '20261103T000000Z-7a3e';
    const key = await copyBackup(GOOD, id, () => ({}), { sign: true });
    const signed = (await vault.getJson<Manifest>(key))!;
    expect((await cli('verify', 'postgres', '--backup-id', id)).json).toMatchObject({ intact: true });
    await vault.deleteKeys([key]);
    await vault.putJson(key, { ...signed, totalBytes: signed.totalBytes + 1 });
    expect((await cli('verify', 'postgres', '--backup-id', id)).json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining('not trusted') });
  });
});

describe('the backed-up database as the default target', () => {
  test('passes the same refusals as a named target: a protected database is refused with no lock left behind', async () => {
    const protectedConfig = writeBackupYaml(`${postgresBackupYaml(database)}  restore:\n    protected_targets: ["${database}"]\n`);
    const before = (await runCli(env, ['list', 'postgres', '--config', protectedConfig])).json;
    const refused = await runCli(env, ['restore', 'postgres', '--backup-id', GOOD, '--skip-safety-backup', '--config', protectedConfig]);
    expect(refused.code).toBe(1);
    expect(refused.json).toMatchObject({ error: 'InvalidInputError', component: 'postgres', message: expect.stringContaining(`the backed-up database '${database}' (the target when none is given) is a protected target`) });
    expect(await vault.listKeys('database/postgres/_lock.json')).toEqual([]);
    expect((await runCli(env, ['list', 'postgres', '--config', protectedConfig])).json).toEqual(before);
  });
});

describe('what a manifest says is validated before use', () => {
  test.each([
    ['MACed with the key', true, 'is damaged', 'not a plain file name'],
    ['forged', false, 'is not trusted', 'no MAC'],
  ])('an artifact name ../other-id/x in a manifest %s is refused; nothing is read from the other backup', async (_label, sign, verdict, reason) => {
    const id = sign ? '20261104T000000Z-aaaa' : '20261104T000000Z-bbbb';
    const escape = `../${GOOD}/${good.artifacts[0].name}`;
    const key = await copyBackup(GOOD, id, (m) => ({ artifacts: [{ ...m.artifacts[0], name: escape }, ...m.artifacts.slice(1)], authentication: undefined }), { sign });
    const restore = await cli('restore', 'postgres', '--backup-id', id, '--target-database', `${database}_escape`);
    expect(restore.code).toBe(1);
    expect(restore.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining(`${fullKey(key)} ${verdict}`) });
    expect(restore.json.message).toContain(reason);
    expect(await databaseExists(`${database}_escape`)).toBe(false);
  });

  test('a damaged manifest is listed as damaged and the listing goes on; using it is an IntegrityError naming it', async () => {
    const id = '20261105T000000Z-bad0';
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: fullKey(`database/postgres/${id}/manifest.json`), Body: '{"schemaVersion": 1, "backupId": ' }));
    const list = await cli('list', 'postgres');
    expect(list.code).toBe(0);
    expect(list.json.backups).toEqual(expect.arrayContaining([
      { backupId: id, status: 'damaged', problem: 'it is not valid JSON', key: `s3://${bucket}/${fullKey(`database/postgres/${id}/manifest.json`)}` },
      expect.objectContaining({ backupId: GOOD, status: 'trusted' }),
    ]));
    const verify = await cli('verify', 'postgres', '--backup-id', id);
    expect(verify.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining(`${fullKey(`database/postgres/${id}/manifest.json`)} is damaged`) });
    expect(verify.json.message).not.toMatch(/SyntaxError|Unexpected end/);
  });

  test('a missing artifact is an IntegrityError naming the object, not a raw NoSuchKey', async () => {
    const id = '20261106T000000Z-0000';
    await copyBackup(GOOD, id, () => ({}), { sign: true });
    const dump = fullKey(`database/postgres/${id}/${good.artifacts[0].name}`);
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: dump }));
    const verify = await cli('verify', 'postgres', '--backup-id', id);
    expect(verify.code).toBe(1);
    expect(verify.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining(`s3://${bucket}/${dump} is missing`) });
  });

  test('a database name that reads as a connection string reaches pg_restore as a name only', async () => {
    // Authentic (MACed) and still hostile: if libpq read it as a connection string, pg_restore would connect to port 1 and fail.
    const id = '20261107T000000Z-dbdb';
    const hostile = 'host=127.0.0.1 port=1 dbname=x';
    await copyBackup(GOOD, id, (m) => ({ source: { ...m.source, database: hostile } }), { sign: true });
    const restore = await cli('restore', 'postgres', '--backup-id', id, '--skip-safety-backup');
    expect(restore.json).toMatchObject({ backupId: id, targetDatabase: hostile, fingerprintMatch: true });
    expect(await databaseExists(hostile)).toBe(true);
  });

  test('control characters in a recorded name are refused, even under a valid MAC', async () => {
    const id = '20261108T000000Z-c0c0';
    await copyBackup(GOOD, id, (m) => ({ source: { ...m.source, database: 'neuroca\ndb' } }), { sign: true });
    const restore = await cli('restore', 'postgres', '--backup-id', id);
    expect(restore.json).toMatchObject({ error: 'IntegrityError', message: expect.stringContaining('source.database "neuroca\\ndb" contains control characters') });
  });
});

/** The engine as a worker runs it; with `manifestKey`, MACs go through the run's KMS substitute. */
const context = (manifestKey?: string): EngineContext => {
  const config = testRuntimeConfig({
    bucket,
    ...(manifestKey ? { manifestKey: { kmsKeyId: manifestKey } } : {}),
    components: { postgres: { group: 'database', source: { database } } },
  });
  const env = { ...process.env, NCA_POSTGRES_URL: testPostgresUrl(), NCA_KMS_ENDPOINT: process.env.NCA_TEST_KMS_ENDPOINT };
  return { config, vault, env, log: silentLogger, runner: 'test', now: () => new Date() };
};

describe('a deployment MACs with its KMS HMAC key', () => {
  test('a backup MACed by the KMS key verifies with it, and not with the local key or another KMS key', async () => {
    const [key, other] = [await createHmacKey(process.env.NCA_TEST_KMS_ENDPOINT!), await createHmacKey(process.env.NCA_TEST_KMS_ENDPOINT!)];
    const id = '20261111T000000Z-4444';
    const manifest = await runBackup(context(key), { component: 'postgres', backupId: id, trigger: 'scheduled' });
    expect(manifest.authentication).toMatchObject({ algorithm: 'HMAC_SHA_256', keyId: key });
    expect(await loadManifest(context(key), 'postgres', id)).toEqual(manifest);
    for (const reader of [context(), context(other)]) {
      await expect(loadManifest(reader, 'postgres', id)).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringContaining('is not trusted') });
    }
  });
});

describe('one attempt never touches another', () => {
  const exists = (relative: string) => s3.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(relative) })).then(() => true, () => false);

  test('a second attempt of a completed backup returns it untouched (the retried step)', async () => {
    const again = await runBackup(context(), { component: 'postgres', backupId: GOOD, trigger: 'manual' });
    expect(again).toEqual(good);
  });

  test('an attempt that finds another attempt\'s object fails without replacing it and deletes only what it wrote', async () => {
    const id = '20261109T000000Z-2222';
    // The other attempt has written its globals (last artifact) and is still running: no manifest yet.
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: fullKey(`database/postgres/${id}/globals.json`), Body: 'the other attempt' }));
    const attempt = runBackup(context(), { component: 'postgres', backupId: id, trigger: 'manual' });
    await expect(attempt).rejects.toMatchObject({ name: 'OperationInProgressError', message: expect.stringContaining('globals.json already exists') });
    // Its own dump is gone, the other attempt's object is as that attempt wrote it.
    expect(await exists(`database/postgres/${id}/${good.artifacts[0].name}`)).toBe(false);
    const other = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(`database/postgres/${id}/globals.json`) }));
    expect(await other.Body!.transformToString()).toBe('the other attempt');
  });

  test('a planted manifest under the id a backup is about to use is neither overwritten nor trusted', async () => {
    const id = '20261110T000000Z-3333';
    const planted = await copyBackup(GOOD, id, () => ({ authentication: undefined }));
    await expect(runBackup(context(), { component: 'postgres', backupId: id, trigger: 'manual' })).rejects.toMatchObject({
      name: 'IntegrityError',
      message: expect.stringContaining(`${fullKey(planted)} is not trusted`),
    });
  });
});
