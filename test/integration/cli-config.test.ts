/**
 * `nca-backup` on the configuration (issue 11, in progress: from the command line; the stacks do not
 * deploy it yet): backup, a restore that plans by default and writes nothing, one with apply: true that
 * writes back exactly what drifted, its safety backup first. Parameter Store, Secrets Manager and KMS are
 * the protocol-level substitutes, S3 is s3rver. No value ever reaches the output or the logs.
 */
import { PutParameterCommand, DeleteParameterCommand } from '@aws-sdk/client-ssm';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { cliEnv, runCli, writeBackupYaml, type CliRun } from '../support/cli';
import { SAMPLE_CONFIG, startConfigStores, type ConfigStores } from '../support/config-stores';
import { createTestBucket, testS3Client } from '../support/s3';

const { dbPassword: DB_PASSWORD, apiKey: API_KEY, settings: SETTINGS } = SAMPLE_CONFIG;

let stores: ConfigStores;
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
  s3 = testS3Client();
  const [vault, files] = await Promise.all([createTestBucket(s3, 'cliconfig'), createTestBucket(s3, 'cliconfig-files')]);
  filesBucket = files;
  stores = await startConfigStores({ s3, bucket: filesBucket });
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
  env = cliEnv(vault, { ...stores.endpoints, NCA_CONFIG_ENVELOPE_KEY: stores.envelopeKeyId, AWS_REGION: 'us-east-1' });
});

afterAll(() => stores?.stop());

const parameter = (name: string) => stores.parameter(name);
const secretValue = (name: string) => stores.secretValue(name);
const file = async (key: string) => (await s3.send(new GetObjectCommand({ Bucket: filesBucket, Key: key }))).Body!.transformToString();

describe('nca-backup on the configuration', () => {
  test('backup; drift; a restore plans by default; apply: true writes back exactly the drift; no value is ever printed', async () => {
    const backup = await cli('backup', 'config');
    expect([backup.code, backup.stderr.includes('"level":"error"')]).toEqual([0, false]);
    expect(backup.json).toMatchObject({ component: 'config', group: 'configuration' });

    await stores.ssm.send(new PutParameterCommand({ Name: '/neuroca/db/password', Value: 'leaked-and-rotated', Type: 'SecureString', Overwrite: true }));
    await stores.secrets.send(new PutSecretValueCommand({ SecretId: 'neuroca/openai', SecretString: 'sk-changed' }));
    await s3.send(new PutObjectCommand({ Bucket: filesBucket, Key: 'config/neuroca.yaml', Body: 'memory: {}\n' }));
    await stores.ssm.send(new DeleteParameterCommand({ Name: '/neuroca/features' }));

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
