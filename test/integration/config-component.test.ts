/**
 * The configuration component end to end on its contract (issue 11, in progress: the engine, the workflow
 * and the grants come next): a backup of Parameter Store, Secrets Manager and S3 (protocol-level
 * substitutes and s3rver) sealed under a KMS data key (the KMS substitute); then values changed and one
 * deleted; a restore plans by default and writes nothing; with apply: true it writes back exactly the
 * changes and the verification finds nothing; a tampered or misdirected export is refused with the stores
 * unchanged. The stores are compared through the SDK clients, not through the component's reader.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetSecretValueCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { configComponent, type ConfigTarget } from '../../functions/components/config';
import { createConfigClients, destroyConfigClients } from '../../functions/components/config/clients';
import type { ConfigSourceConfig } from '../../functions/components/config/descriptor';
import type { Logger } from '../../functions/components/types';
import { createKmsDataKeyClient } from '../../functions/core/kms';
import { backupToFs, type FsArtifacts } from '../support/fs-artifacts';
import { SAMPLE_CONFIG, startConfigStores, type ConfigStores } from '../support/config-stores';
import { createTestBucket, testS3Client } from '../support/s3';

const { dbPassword: DB_PASSWORD, apiKey: API_KEY, settings: SETTINGS } = SAMPLE_CONFIG;

let stores: ConfigStores;
let s3: S3Client;
let bucket: string;
let target: ConfigTarget;
const lines: string[] = [];
const log: Logger = {
  info: (message, fields) => void lines.push(JSON.stringify({ message, ...fields })),
  warn: (message, fields) => void lines.push(JSON.stringify({ message, ...fields })),
};

beforeAll(async () => {
  s3 = testS3Client();
  bucket = await createTestBucket(s3, 'config-files');
  stores = await startConfigStores({ s3, bucket });
  const source: ConfigSourceConfig = { parameterPaths: ['/neuroca'], secrets: ['neuroca/'], files: [{ bucket, prefix: 'config/' }] };
  const clients = createConfigClients({ ssmEndpoint: stores.endpoints.NCA_SSM_ENDPOINT, secretsManagerEndpoint: stores.endpoints.NCA_SECRETS_MANAGER_ENDPOINT, s3Endpoint: process.env.NCA_TEST_S3_ENDPOINT });
  target = { source, clients, envelope: { kms: createKmsDataKeyClient({ endpoint: stores.endpoints.NCA_KMS_ENDPOINT }), keyId: stores.envelopeKeyId } };
});

afterAll(async () => {
  if (target) destroyConfigClients(target.clients);
  await stores?.stop();
});

const parameter = async (name: string) => (await target.clients.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter;
const secretValue = async (name: string) => (await target.clients.secretsManager.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
const file = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();

/** A change after the backup: a SecureString, the secret, the file, and one parameter deleted. */
async function drift(): Promise<void> {
  await target.clients.ssm.send(new PutParameterCommand({ Name: '/neuroca/db/password', Value: 'leaked-and-rotated', Type: 'SecureString', Overwrite: true }));
  await target.clients.secretsManager.send(new PutSecretValueCommand({ SecretId: 'neuroca/openai', SecretString: 'sk-changed' }));
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'config/neuroca.yaml', Body: 'memory: {}\n' }));
  await target.clients.ssm.send(new DeleteParameterCommand({ Name: '/neuroca/features' }));
}

describe('the configuration component', () => {
  let artifacts: FsArtifacts;

  test('backs up every store into one sealed export that holds no value in the clear', async () => {
    const { artifacts: stored, result } = await backupToFs(configComponent, target, log);
    artifacts = stored;
    expect(result.artifacts).toEqual([expect.objectContaining({ name: expect.stringMatching(/^config_\d{8}\.yaml\.sealed$/), contentType: 'application/vnd.nca-backup.sealed-config+yaml' })]);
    expect(result.report).toMatchObject({ parameters: 3, secrets: 1, files: 1 });
    expect(Object.keys(result.fingerprint).sort()).toEqual(['files', 'parameters', 'secrets']);
    const bytes = readFileSync(join(stored.dir, result.artifacts[0].name));
    for (const value of [DB_PASSWORD, API_KEY, 'db.internal', 'working_memory']) expect(bytes.includes(Buffer.from(value))).toBe(false);
    expect(stores.kms.calls.filter((c) => c.operation === 'GenerateDataKey')).toEqual([expect.objectContaining({ encryptionContext: { component: 'config', backupId: stored.sink.backupId } })]);
    expect(lines.join('\n')).not.toContain(DB_PASSWORD);
    expect(lines.join('\n')).not.toContain(API_KEY);
  });

  test('a restore plans by default, whoever calls it (no options, no dryRun): exactly the drift, nothing written', async () => {
    await drift();
    const source = artifacts.source({ backupId: artifacts.sink.backupId!, fingerprint: {}, source: { serverVersion: 'aws', serverMajor: 1, database: 'configuration' } });
    const restored = await configComponent.restore(source, target, {}, log);
    const plan = (restored.details as any).plan;
    const actions = Object.fromEntries(plan.entries.map((e: any) => [`${e.kind}:${e.name}`, e.action]));
    expect(actions).toEqual({
      'parameter:/neuroca/db/host': 'unchanged',
      'parameter:/neuroca/db/password': 'change',
      'parameter:/neuroca/features': 'add',
      [`secret:neuroca/openai`]: 'change',
      [`file:s3://${bucket}/config/neuroca.yaml`]: 'change',
    });
    expect(JSON.stringify(restored)).not.toContain(DB_PASSWORD);
    expect((await parameter('/neuroca/db/password'))!.Value).toBe('leaked-and-rotated');
    expect(await configComponent.verifyRestore!({}, source, target, {}, log)).toMatchObject({ differences: [] });
  });

  test('with apply: true it writes the backup back (the SecureString with its own key) and the verification finds nothing', async () => {
    const source = artifacts.source({ backupId: artifacts.sink.backupId!, fingerprint: {}, source: { serverVersion: 'aws', serverMajor: 1, database: 'configuration' } });
    const options = { apply: true };
    await configComponent.restore(source, target, options, log);
    const password = await parameter('/neuroca/db/password');
    expect(password).toMatchObject({ Value: DB_PASSWORD, Type: 'SecureString' });
    expect((await parameter('/neuroca/features'))).toMatchObject({ Value: 'episodic,semantic', Type: 'StringList' });
    expect(await secretValue('neuroca/openai')).toBe(API_KEY);
    expect(await file('config/neuroca.yaml')).toBe(SETTINGS);
    expect(await configComponent.verifyRestore!({}, source, target, options, log)).toEqual({ differences: [], objects: 5 });
    expect(lines.join('\n')).not.toContain(DB_PASSWORD);
  });

  test('an export opened as another backup, or with a changed byte, is refused and nothing is written', async () => {
    await drift();
    const facts = { fingerprint: {}, source: { serverVersion: 'aws', serverMajor: 1, database: 'configuration' } };
    const options = { apply: true };
    await expect(configComponent.restore(artifacts.source({ backupId: '20261130T000000Z-other1', ...facts }), target, options, log)).rejects.toMatchObject({ name: 'IntegrityError' });
    const name = artifacts.records[0].name;
    const bytes = readFileSync(join(artifacts.dir, name));
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 20] ^= 0x01;
    artifacts.corrupt(name, tampered);
    // The stored bytes no longer match the manifest's digest: the source refuses them before they are opened.
    await expect(configComponent.restore(artifacts.source({ backupId: artifacts.sink.backupId!, ...facts }), target, options, log)).rejects.toMatchObject({ name: 'IntegrityError' });
    expect((await parameter('/neuroca/db/password'))!.Value).toBe('leaked-and-rotated');
    expect(await secretValue('neuroca/openai')).toBe('sk-changed');
  });
});
