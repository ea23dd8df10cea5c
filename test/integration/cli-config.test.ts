/**
 * `nca-backup` on the configuration (issue 11, in progress: from the command line; the stacks do not
 * deploy it yet): backup, a restore that plans by default and writes nothing, one with apply: true that
 * writes back exactly what drifted, its safety backup first. Parameter Store, Secrets Manager and KMS are
 * the protocol-level substitutes, S3 is s3rver. No value ever reaches the output or the logs.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { cliEnv, runCli, writeBackupYaml, type CliRun } from '../support/cli';
import { startKmsServer, type KmsServer } from '../support/kms-server';
import { createTestBucket, testS3Client } from '../support/s3';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';
import { startSsmServer, type SsmServer } from '../support/ssm-server';

const DB_PASSWORD = 'pg-Pa55 w0rd: "yes" #1';
const API_KEY = 'sk-proj-0123456789abcdefghijklmnopqrstuv';
const SETTINGS = 'memory:\n  working_memory:\n    capacity: 7\n';
const local = { region: 'us-east-1', credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } };

let ssmServer: SsmServer;
let secretsServer: SecretsManagerServer;
let kms: KmsServer;
let ssm: SSMClient;
let secrets: SecretsManagerClient;
let s3: S3Client;
let filesBucket: string;
let env: NodeJS.ProcessEnv;
let configFile: string;
const runs: CliRun[] = [];

async function cli(...args: string[]): Promise<CliRun> {
  const run = await runCli(env, [...args, '--config', configFile]);
  runs.push(run);
  return run;
}

beforeAll(async () => {
  [ssmServer, secretsServer, kms] = await Promise.all([startSsmServer(), startSecretsManagerServer(), startKmsServer()]);
  ssm = new SSMClient({ ...local, endpoint: ssmServer.endpoint });
  secrets = new SecretsManagerClient({ ...local, endpoint: secretsServer.endpoint });
  s3 = testS3Client();
  const [vault, files] = await Promise.all([createTestBucket(s3, 'cliconfig'), createTestBucket(s3, 'cliconfig-files')]);
  filesBucket = files;
  const admin = new KMSClient({ ...local, endpoint: kms.endpoint });
  const keyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  admin.destroy();
  ssmServer.put('/neuroca/db/host', 'db.internal');
  ssmServer.put('/neuroca/db/password', DB_PASSWORD, { type: 'SecureString', keyId: 'alias/neuroca-config' });
  ssmServer.put('/neuroca/features', 'episodic,semantic', { type: 'StringList' });
  secretsServer.create('neuroca/openai', API_KEY);
  await s3.send(new PutObjectCommand({ Bucket: filesBucket, Key: 'config/neuroca.yaml', Body: SETTINGS }));
  configFile = writeBackupYaml(`backup:
  storage:
    primary: { type: "s3", bucket: "neuroca-backups", region: "us-west-2", path: "/backups" }
    secondary: { type: "s3", bucket: "neuroca-dr-backups", region: "eu-central-1", path: "/backups" }
  sources:
    config:
      parameter_paths: ["/neuroca"]
      secrets: ["neuroca/"]
      files: [{ bucket: "${filesBucket}", prefix: "config/" }]
`);
  env = cliEnv(vault, {
    NCA_SSM_ENDPOINT: ssmServer.endpoint,
    NCA_SECRETS_MANAGER_ENDPOINT: secretsServer.endpoint,
    NCA_KMS_ENDPOINT: kms.endpoint,
    NCA_CONFIG_ENVELOPE_KEY: keyId,
    AWS_REGION: 'us-east-1',
  });
});

afterAll(async () => {
  ssm?.destroy();
  secrets?.destroy();
  await Promise.all([ssmServer?.stop(), secretsServer?.stop(), kms?.stop()]);
});

const parameter = async (name: string) => (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value;
const secretValue = async (name: string) => (await secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString;
const file = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: filesBucket, Key: key }))).Body!.transformToString();

describe('nca-backup on the configuration', () => {
  test('backup; drift; a restore plans by default; apply: true writes back exactly the drift; no value is ever printed', async () => {
    const backup = await cli('backup', 'config');
    expect([backup.code, backup.stderr.includes('"level":"error"')]).toEqual([0, false]);
    expect(backup.json).toMatchObject({ component: 'config', group: 'configuration' });

    await ssm.send(new PutParameterCommand({ Name: '/neuroca/db/password', Value: 'leaked-and-rotated', Type: 'SecureString', Overwrite: true }));
    await secrets.send(new PutSecretValueCommand({ SecretId: 'neuroca/openai', SecretString: 'sk-changed' }));
    await s3.send(new PutObjectCommand({ Bucket: filesBucket, Key: 'config/neuroca.yaml', Body: 'memory: {}\n' }));
    await ssm.send(new DeleteParameterCommand({ Name: '/neuroca/features' }));

    const planned = await cli('restore', 'config', '--backup-id', 'latest', '--skip-safety-backup');
    expect(planned.code).toBe(0);
    const plan = planned.json.restore?.details?.plan ?? planned.json.details?.plan;
    expect(plan.summary).toMatchObject({ add: 1, change: 3, unchanged: 1 });
    expect(await parameter('/neuroca/db/password')).toBe('leaked-and-rotated');

    const applied = await cli('restore', 'config', '--backup-id', 'latest', '--options', '{"apply": true}');
    expect(applied.code).toBe(0);
    expect(await parameter('/neuroca/db/password')).toBe(DB_PASSWORD);
    expect(await parameter('/neuroca/features')).toBe('episodic,semantic');
    expect(await secretValue('neuroca/openai')).toBe(API_KEY);
    expect(await file('config/neuroca.yaml')).toBe(SETTINGS);

    const printed = runs.map((run) => `${JSON.stringify(run.json)}\n${run.stderr}`).join('\n');
    for (const value of [DB_PASSWORD, API_KEY, 'working_memory', 'leaked-and-rotated']) expect(printed).not.toContain(value);
  });
});
