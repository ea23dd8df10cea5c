/**
 * The configuration component through the real state machines (issue 11, in progress: the stacks do not
 * deploy it yet): the configuration group's backup; drift (two values changed, one parameter deleted); a
 * restore without options plans, showing exactly the drift and writing nothing; apply: true writes it back
 * and the fingerprint matches; a tampered export is refused before anything is written. Parameter Store,
 * Secrets Manager and KMS are the protocol-level substitutes, S3 is s3rver. No value reaches any
 * execution output or event.
 */
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { componentEntry } from '../../functions/components';
import type { Fingerprint } from '../../functions/components/types';
import type { RuntimeConfig } from '../../functions/core/runtime-config';
import { localWorker, workflowHarness, type WorkflowHarness } from '../../scripts/local-workflows';
import { SAMPLE_CONFIG, startConfigStores, type ConfigStores } from '../support/config-stores';
import { testRuntimeConfig } from '../support/runtime-config';
import { createTestBucket, testS3Client } from '../support/s3';
import { expectSucceeded } from '../support/workflow-results';

const { dbPassword: DB_PASSWORD, apiKey: API_KEY } = SAMPLE_CONFIG;

let stores: ConfigStores;
let env: Record<string, string>;
let config: RuntimeConfig;
let harness: WorkflowHarness;
let bucket: string;

async function fingerprint(): Promise<Fingerprint> {
  const entry = componentEntry('config');
  return entry.component.fingerprint(await entry.connect(config.components.config!.source as never, { ...process.env, ...env }));
}

const parameter = (name: string) => stores.parameter(name);

beforeAll(async () => {
  stores = await startConfigStores();
  bucket = await createTestBucket(testS3Client());
  env = { NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT!, ...stores.endpoints };
  config = testRuntimeConfig({
    bucket,
    components: {
      config: { group: 'configuration', source: { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [], envelopeKeyId: stores.envelopeKeyId }, worker: localWorker('config') },
    },
  });
  harness = workflowHarness(config, env);
});

afterAll(() => stores?.stop());

describe('the configuration through the state machines', () => {
  test('backup; drift; a restore without options plans and writes nothing; apply: true writes it back; no value in any output', async () => {
    const original = await fingerprint();
    const backup = await harness.run('backup', { group: 'configuration' });
    expectSucceeded(backup);

    await stores.ssm.send(new PutParameterCommand({ Name: '/neuroca/db/password', Value: 'leaked-and-rotated', Type: 'SecureString', Overwrite: true }));
    await stores.secrets.send(new PutSecretValueCommand({ SecretId: 'neuroca/openai', SecretString: 'sk-changed' }));
    await stores.ssm.send(new DeleteParameterCommand({ Name: '/neuroca/features' }));

    const planned = await harness.run('restore', { component: 'config', backupId: 'latest', skipSafetyBackup: true });
    expectSucceeded(planned);
    expect(planned.output.details.plan.summary).toMatchObject({ add: 1, change: 2, unchanged: 1, prune: 0, keep: 0 });
    expect(await parameter('/neuroca/db/password')).toBe('leaked-and-rotated');

    const applied = await harness.run('restore', { component: 'config', backupId: 'latest', options: { apply: true } });
    expectSucceeded(applied);
    expect(applied.output.safetyBackup).toMatchObject({ skipped: false });
    expect(await parameter('/neuroca/db/password')).toBe(DB_PASSWORD);
    expect(await fingerprint()).toEqual(original);

    const printed = JSON.stringify([backup, planned, applied, harness.events]);
    for (const value of [DB_PASSWORD, API_KEY, 'leaked-and-rotated', 'sk-changed']) expect(printed).not.toContain(value);
  });

  test('a tampered export is refused before anything is written', async () => {
    const backup = await harness.run('backup', { group: 'configuration' });
    expectSucceeded(backup);
    await stores.ssm.send(new PutParameterCommand({ Name: '/neuroca/db/host', Value: 'db.elsewhere', Type: 'String', Overwrite: true }));
    const s3 = testS3Client();
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `backups/config/config/${backup.output.backupId}/` }));
    const key = listed.Contents!.map((o) => o.Key!).find((k) => k.endsWith('.sealed'))!;
    const bytes = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
    bytes[bytes.length - 5] ^= 0x01;
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytes }));
    const restore = await harness.run('restore', { component: 'config', backupId: backup.output.backupId, options: { apply: true } });
    expect(restore).toMatchObject({ status: 'FAILED', error: 'IntegrityError' });
    expect(await parameter('/neuroca/db/host')).toBe('db.elsewhere');
  });
});
