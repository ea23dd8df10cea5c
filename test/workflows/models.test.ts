/**
 * The models component through the real state machines: model files in an S3 prefix (s3rver behind the
 * proxy's copy and checksum shim) and in a directory; a first backup stores each content once, a second
 * with nothing changed stores nothing new, a third after one file changed stores that file only; a deleted
 * and a corrupted file come back from a restore of everything, a subset goes to another target; the janitor's
 * prune deletes only blobs no backup references once past their grace period, and a backup that meets a
 * prune is retried, not failed. Every check on the restored files reads them with the SDK or the file
 * system and hashes them here, not through the component.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { sweepIncompleteAttempts } from '../../functions/core/janitor';
import { vaultFor } from '../../functions/core/context';
import { authenticatorFor } from '../../functions/core/manifest-mac';
import { silentLogger } from '../../functions/core/logger';
import { acquireLock, releaseLock } from '../../functions/core/operation-lock';
import { localWorker, workflowHarness, type WorkflowHarness } from '../../scripts/local-workflows';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, listKeys, readObject, testS3Client } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

const MiB = 1024 * 1024;
let s3: S3Client;
let vault: string;
let models: string;
let dir: string;
let config: RuntimeConfig;
let harness: WorkflowHarness;
const original = new Map<string, Buffer>();

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const object = (bucket: string, key: string) => readObject(s3, bucket, key);
const put = (key: string, body: Buffer) => s3.send(new PutObjectCommand({ Bucket: models, Key: key, Body: body }));
const keys = (bucket: string, prefix: string) => listKeys(s3, bucket, prefix);
const blobKeys = () => keys(vault, 'backups/blobs/models/');

async function manifestOf(backupId: string): Promise<any> {
  return JSON.parse((await object(vault, `backups/models/models/${backupId}/manifest.json`)).toString());
}

beforeAll(async () => {
  s3 = testS3Client();
  [vault, models] = await Promise.all([createTestBucket(s3, 'models-vault'), createTestBucket(s3, 'models-src')]);
  dir = mkdtempSync(join(tmpdir(), 'nca-models-'));
  // An S3 model: two shards (one above the test's single-copy limit: a multipart copy), configs, a run log and a temp file left out.
  const files: Record<string, Buffer> = {
    'llm/model-00001-of-00002.safetensors': randomBytes(6 * MiB),
    'llm/model-00002-of-00002.safetensors': randomBytes(11 * MiB + 123),
    'llm/config.json': Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 4096 })),
    'llm/tokenizer.json': Buffer.from('{"version": "1.0", "model": {"type": "BPE"}}'),
    'llm/same-as-config.json': Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 4096 })),
    'runs/2026/events.out.tfevents.1': randomBytes(4096),
    'llm/ckpt.tmp': randomBytes(1024),
  };
  for (const [key, body] of Object.entries(files)) {
    await put(key, body);
    original.set(`s3:${key}`, body);
  }
  // A directory of adapters (local runs; EFS on Fargate).
  mkdirSync(join(dir, 'src', 'adapters', 'lora-episodic'), { recursive: true });
  for (const [path, body] of Object.entries({ 'adapters/lora-episodic/adapter_model.bin': randomBytes(2 * MiB), 'adapters/lora-episodic/adapter_config.json': Buffer.from('{"r": 8}') })) {
    writeFileSync(join(dir, 'src', path), body);
    original.set(`dir:${path}`, body);
  }
  config = testRuntimeConfig({
    bucket: vault,
    components: {
      models: {
        group: 'model_weights',
        source: { paths: [{ kind: 's3', bucket: models, prefix: '' }, { kind: 'directory', path: join(dir, 'src') }], include: ['**'], exclude: ['**/*.tmp', 'runs/**/events.out.*'] },
        worker: localWorker('models'),
      },
    },
  });
  harness = workflowHarness(config, { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, NCA_MODELS_COPY_LIMIT_BYTES: String(8 * MiB), NCA_MODELS_PART_BYTES: String(5 * MiB) });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('model weights through the state machines', () => {
  const backups: string[] = [];

  test('the first backup stores each content once; the second stores nothing; the third only the changed file', async () => {
    const first = await harness.run('backup', { group: 'model_weights' });
    expectSucceeded(first);
    backups.push(first.output.backupId);
    const m1 = await manifestOf(first.output.backupId);
    // 7 files taken (5 in S3, the .tmp and the run log excluded; 2 in the directory); same-as-config.json shares config.json's blob.
    expect(m1.report).toMatchObject({ files: 7, storedFiles: 6, dedupedFiles: 1, unchangedFiles: 0 });
    const blobsAfterFirst = await blobKeys();
    expect(blobsAfterFirst).toHaveLength(6);
    expect(blobsAfterFirst.filter((k) => k.includes('/sha256-composite-5242880/'))).toHaveLength(1);
    // No scratch copy is left behind.
    expect(await keys(vault, 'backups/models/models/_staging/')).toEqual([]);

    const second = await harness.run('backup', { group: 'model_weights' });
    expectSucceeded(second);
    // The workflow output says what the backup stored, not only the index's bytes.
    expect(second.output.components[0]).toMatchObject({ component: 'models', storedBytes: 0, sourceBytes: (await manifestOf(first.output.backupId)).report.bytes });
    backups.push(second.output.backupId);
    expect((await manifestOf(second.output.backupId)).report).toMatchObject({ files: 7, storedFiles: 0, storedBytes: 0, unchangedFiles: 7 });
    expect(await blobKeys()).toEqual(blobsAfterFirst);

    const changed = randomBytes(6 * MiB);
    await put('llm/model-00001-of-00002.safetensors', changed);
    const third = await harness.run('backup', { group: 'model_weights' });
    expectSucceeded(third);
    backups.push(third.output.backupId);
    expect((await manifestOf(third.output.backupId)).report).toMatchObject({ files: 7, storedFiles: 1, storedBytes: 6 * MiB, unchangedFiles: 6 });
    expect(await blobKeys()).toHaveLength(7);
    await put('llm/model-00001-of-00002.safetensors', original.get('s3:llm/model-00001-of-00002.safetensors')!);
  });

  test('a deleted and a corrupted file come back from a restore of everything, checked by checksum', async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: models, Key: 'llm/config.json' }));
    await put('llm/model-00002-of-00002.safetensors', randomBytes(11 * MiB + 123));
    rmSync(join(dir, 'src', 'adapters', 'lora-episodic', 'adapter_model.bin'));
    const restore = await harness.run('restore', { component: 'models', backupId: backups[0], skipSafetyBackup: true });
    expectSucceeded(restore);
    expect(restore.output.fingerprintMatch).toBe(true);
    for (const [name, body] of original) {
      if (name.endsWith('.tmp') || name.includes('events.out')) continue;
      const now = name.startsWith('s3:') ? await object(models, name.slice(3)) : readFileSync(join(dir, 'src', name.slice(4)));
      expect([name, sha(now)]).toEqual([name, sha(body)]);
    }
  });

  test('a subset goes to another target; files outside the subset are not written', async () => {
    const target = join(dir, 'restored');
    const restore = await harness.run('restore', { component: 'models', backupId: backups[0], options: { paths: ['llm/*.json'], target } });
    expectSucceeded(restore);
    expect(readFileSync(join(target, 'llm', 'tokenizer.json'))).toEqual(original.get('s3:llm/tokenizer.json'));
    expect(existsSync(join(target, 'llm', 'model-00001-of-00002.safetensors'))).toBe(false);
    expect(restore.output.details).toMatchObject({ files: 3 });
  });

  test('a blob deleted by hand: the restore refuses before it writes anything, naming the file', async () => {
    const m = await manifestOf(backups[0]);
    expect(m.artifacts.map((a: { name: string }) => a.name)).toEqual(['files.jsonl.gz']);
    const before = await object(models, 'llm/tokenizer.json');
    await put('llm/tokenizer.json', Buffer.from('changed after the backup'));
    const tokenizer = (await blobKeys()).find((k) => sha(Buffer.from('{"version": "1.0", "model": {"type": "BPE"}}')) === k.split('/').pop());
    const saved = await object(vault, tokenizer!);
    await s3.send(new DeleteObjectCommand({ Bucket: vault, Key: tokenizer! }));
    const restore = await harness.run('restore', { component: 'models', backupId: backups[0], skipSafetyBackup: true });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'BackupNotFoundError' });
    expect(restore.cause).toContain('llm/tokenizer.json');
    expect((await object(models, 'llm/tokenizer.json')).toString()).toBe('changed after the backup');
    await s3.send(new PutObjectCommand({ Bucket: vault, Key: tokenizer!, Body: saved, ChecksumAlgorithm: 'SHA256' }));
    await put('llm/tokenizer.json', before);
  });

  test('a blob replaced with other bytes of the same size: refused before anything is written, naming the file', async () => {
    const shard = 'llm/model-00001-of-00002.safetensors';
    const blob = (await blobKeys()).find((k) => k.endsWith(sha(original.get(`s3:${shard}`)!)))!;
    const saved = await object(vault, blob);
    await s3.send(new PutObjectCommand({ Bucket: vault, Key: blob, Body: randomBytes(saved.length) }));
    await put('llm/config.json', Buffer.from('{"changed": true}'));
    const restore = await harness.run('restore', { component: 'models', backupId: backups[0], skipSafetyBackup: true });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(restore.cause).toContain(shard);
    expect((await object(models, 'llm/config.json')).toString()).toBe('{"changed": true}');
    await s3.send(new PutObjectCommand({ Bucket: vault, Key: blob, Body: saved, ChecksumAlgorithm: 'SHA256' }));
    await put('llm/config.json', original.get('s3:llm/config.json')!);
  });

  test('prune deletes only unreferenced blobs past their grace period, under the lock', async () => {
    const vaultClient = vaultFor(config, { ...process.env, NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT! });
    // An orphan: a blob no manifest names (a failed backup's), and the grace period over for it.
    const orphan = 'backups/blobs/models/sha256/' + 'ab'.repeat(32);
    await s3.send(new PutObjectCommand({ Bucket: vault, Key: orphan, Body: Buffer.from('orphan') }));
    const before = await blobKeys();
    const young = await sweepIncompleteAttempts(config, vaultClient, { log: silentLogger, authenticator: authenticatorFor(config) });
    expect(young.prunedBlobs[0]).toMatchObject({ deleted: 0, keptYoung: 1 });
    const later = () => new Date(Date.now() + 72 * 3600_000);
    const report = await sweepIncompleteAttempts(config, vaultClient, { log: silentLogger, authenticator: authenticatorFor(config), now: later });
    expect(report.prunedBlobs[0]).toMatchObject({ deleted: 1, referenced: before.length - 1 });
    expect(await blobKeys()).toEqual(before.filter((k) => k !== orphan));
    // Every backup still restores: no referenced blob went.
    const restore = await harness.run('restore', { component: 'models', backupId: backups[2], options: { target: join(dir, 'after-prune') } });
    expectSucceeded(restore);
  });

  test('a backup that meets a prune holding the lock is retried by its workflow, not failed, and loses nothing', async () => {
    const vaultClient = vaultFor(config, { ...process.env, NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT! });
    const prune = { group: 'model_weights' as const, component: 'models' as const, owner: 'prune-test', operation: 'prune', log: silentLogger };
    await acquireLock(vaultClient, prune);
    const attempts: string[] = [];
    const racing = workflowHarness(config, { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT! }, {
      intercept: {
        BackupOnLambda: async (params, real) => {
          try {
            const out = await real(params);
            attempts.push('ok');
            return out;
          } catch (error) {
            attempts.push(String((error as Error).name));
            // The prune finishes while the workflow waits to retry.
            await releaseLock(vaultClient, 'model_weights', 'models', 'prune-test');
            throw error;
          }
        },
      },
    });
    const backup = await racing.run('backup', { group: 'model_weights' });
    expectSucceeded(backup);
    expect(attempts).toEqual(['TransientError', 'ok']);
    const restore = await harness.run('restore', { component: 'models', backupId: backup.output.backupId, options: { target: join(dir, 'after-race') } });
    expectSucceeded(restore);
  });
});
