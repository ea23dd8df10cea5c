/**
 * The configuration component's stores for a test: the Parameter Store, Secrets Manager and KMS
 * substitutes, a symmetric envelope key, SDK clients to check the stores with (not the component's
 * reader), and an NCA-like sample configuration seeded: parameters (a SecureString under its own key, a
 * StringList), a secret, and with `files` a settings file in S3.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startKmsServer, type KmsServer } from './kms-server';
import { startSecretsManagerServer, type SecretsManagerServer } from './secrets-manager-server';
import { startSsmServer, type SsmServer } from './ssm-server';

/** The sample's values: what must come back after a restore, and never appear in an output or a log. */
export const SAMPLE_CONFIG = {
  dbPassword: 'pg-Pa55 w0rd: "yes" #1',
  apiKey: 'sk-proj-0123456789abcdefghijklmnopqrstuv',
  settings: 'memory:\n  working_memory:\n    capacity: 7\n',
};

const LOCAL = { region: 'us-east-1', credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } };

export interface ConfigStores {
  readonly ssmServer: SsmServer;
  readonly secretsServer: SecretsManagerServer;
  readonly kms: KmsServer;
  readonly envelopeKeyId: string;
  readonly ssm: SSMClient;
  readonly secrets: SecretsManagerClient;
  /** The environment a worker or the CLI reaches the substitutes with. */
  readonly endpoints: { NCA_SSM_ENDPOINT: string; NCA_SECRETS_MANAGER_ENDPOINT: string; NCA_KMS_ENDPOINT: string };
  parameter(name: string): Promise<string | undefined>;
  secretValue(name: string): Promise<string | undefined>;
  stop(): Promise<void>;
}

/** Starts the substitutes and seeds the sample; `files`: also config/neuroca.yaml in that bucket. */
export async function startConfigStores(files?: { s3: S3Client; bucket: string }): Promise<ConfigStores> {
  const [ssmServer, secretsServer, kms] = await Promise.all([startSsmServer(), startSecretsManagerServer(), startKmsServer()]);
  const admin = new KMSClient({ ...LOCAL, endpoint: kms.endpoint });
  const envelopeKeyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  admin.destroy();
  ssmServer.put('/neuroca/db/host', 'db.internal');
  ssmServer.put('/neuroca/db/password', SAMPLE_CONFIG.dbPassword, { type: 'SecureString', keyId: 'alias/neuroca-config' });
  ssmServer.put('/neuroca/features', 'episodic,semantic', { type: 'StringList', tags: { team: 'memory' } });
  secretsServer.create('neuroca/openai', SAMPLE_CONFIG.apiKey);
  if (files) await files.s3.send(new PutObjectCommand({ Bucket: files.bucket, Key: 'config/neuroca.yaml', Body: SAMPLE_CONFIG.settings }));
  const ssm = new SSMClient({ ...LOCAL, endpoint: ssmServer.endpoint });
  const secrets = new SecretsManagerClient({ ...LOCAL, endpoint: secretsServer.endpoint });
  return {
    ssmServer,
    secretsServer,
    kms,
    envelopeKeyId,
    ssm,
    secrets,
    endpoints: { NCA_SSM_ENDPOINT: ssmServer.endpoint, NCA_SECRETS_MANAGER_ENDPOINT: secretsServer.endpoint, NCA_KMS_ENDPOINT: kms.endpoint },
    parameter: async (name) => (await ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter?.Value,
    secretValue: async (name) => (await secrets.send(new GetSecretValueCommand({ SecretId: name }))).SecretString,
    async stop() {
      ssm.destroy();
      secrets.destroy();
      await Promise.all([ssmServer.stop(), secretsServer.stop(), kms.stop()]);
    },
  };
}
