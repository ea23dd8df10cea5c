/**
 * Reading the configuration from its stores, through the AWS SDK clients, against the Parameter Store and
 * Secrets Manager substitutes (test/support/ssm-server.ts, secrets-manager-server.ts) and s3rver: an
 * NCA-like configuration with hostile names and values, listings of more than one page, throttling in the
 * middle of a listing, then the export's round trip and the fingerprint of read → write → read.
 */
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { randomBytes } from 'node:crypto';
import { createConfigClients, destroyConfigClients, type ConfigClients } from '../../functions/components/config/clients';
import type { ConfigSourceConfig } from '../../functions/components/config/descriptor';
import { fingerprintItems } from '../../functions/components/config/fingerprint';
import { readExport, writeExport } from '../../functions/components/config/format';
import type { ConfigItem } from '../../functions/components/config/item';
import { readConfiguration } from '../../functions/components/config/read';
import type { Logger } from '../../functions/components/types';
import { AccessDeniedError, InvalidInputError, TransientError } from '../../functions/core/errors';
import { createTestBucket, testS3Client } from '../support/s3';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';
import { startSsmServer, type SsmServer } from '../support/ssm-server';
import { rejection } from '../support/thrown';

const CONFIG_KEY = 'arn:aws:kms:us-east-1:000000000000:key/5f0b0d34-9b1c-4d2e-8f63-0c9a1e7d2b11';
const DB_PASSWORD = 'pg-Pa55 w0rd: "yes" #1';
const OPENAI_KEY = 'sk-proj-0123456789abcdefghijklmnopqrstuv';
const PEM = `-----BEGIN PRIVATE KEY-----\n${randomBytes(600).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n`;
const BIG = `${'neuroca-'.repeat(511)}end!`; // 4096 bytes, Parameter Store's standard-tier limit
const TLS_BUNDLE = randomBytes(1500);
const LOGO = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(3000)]);
const NEUROCA_YAML = `# NeuroCognitive Architecture\nmemory:\n  working_memory:\n    capacity: 7\n    decay_rate: 0.1\n  long_term:\n    backend: postgresql\nhealth:\n  enabled: yes\n  energy_threshold: 0.25\n`;
const DOT_ENV = 'NCA_ENV=production\r\nLOG_LEVEL=info\r\nREDIS_URL=redis://cache:6379/0\r\nEMPTY=\r\n';
/** Values that must come out as they went in and never appear in a log. */
const SECRET_VALUES = [DB_PASSWORD, OPENAI_KEY, PEM.slice(30, 90), TLS_BUNDLE.toString('base64').slice(0, 40)];

let ssm: SsmServer;
let sm: SecretsManagerServer;
let s3: S3Client;
let bucket: string;
let clients: ConfigClients;
let openaiArn: string;
const lines: string[] = [];
const log: Logger = {
  info: (message, fields) => void lines.push(JSON.stringify({ level: 'info', message, ...fields })),
  warn: (message, fields) => void lines.push(JSON.stringify({ level: 'warn', message, ...fields })),
};

/** The parameters seeded under /neuroca, as the read must give them back (versions and times aside). */
const parameters: Omit<ConfigItem, 'version' | 'lastModified'>[] = [];
function parameter(name: string, value: string, options: { type?: 'String' | 'StringList' | 'SecureString'; keyId?: string; tags?: Record<string, string>; description?: string } = {}): void {
  ssm.put(name, value, options);
  const type = options.type ?? 'String';
  parameters.push({
    kind: 'parameter',
    name,
    type,
    value,
    ...(type === 'SecureString' ? { kmsKeyId: options.keyId ?? 'alias/aws/ssm' } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.description ? { description: options.description } : {}),
  });
}

const secrets: Omit<ConfigItem, 'version' | 'lastModified'>[] = [];
function secret(name: string, value: string | Buffer, options: { kmsKeyId?: string; tags?: Record<string, string>; description?: string } = {}): string {
  const arn = sm.create(name, value, options);
  secrets.push({
    kind: 'secret',
    name,
    value: typeof value === 'string' ? value : value.toString('base64'),
    ...(typeof value === 'string' ? {} : { encoding: 'base64' as const }),
    stages: ['AWSCURRENT'],
    ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.description ? { description: options.description } : {}),
  });
  return arn;
}

beforeAll(async () => {
  [ssm, sm] = await Promise.all([startSsmServer(), startSecretsManagerServer()]);
  s3 = testS3Client();
  bucket = await createTestBucket(s3, 'neuroca-config');
  clients = createConfigClients({ ssmEndpoint: ssm.endpoint, secretsManagerEndpoint: sm.endpoint, s3Endpoint: process.env.NCA_TEST_S3_ENDPOINT });

  // Parameter Store: the NCA's settings, 31 under /neuroca (4 pages of GetParametersByPath).
  parameter('/neuroca/db/host', 'neuroca-db.cluster-abc.us-east-1.rds.amazonaws.com', { tags: { team: 'platform', 'cost center': 'NCA 42' }, description: 'the PostgreSQL writer' });
  parameter('/neuroca/db/password', DB_PASSWORD, { type: 'SecureString', keyId: CONFIG_KEY, tags: { secret: 'yes' } });
  parameter('/neuroca/db/port', '5432');
  parameter('/neuroca/integrations/openai/model', 'gpt-4o');
  parameter('/neuroca/integrations/openai/timeout', '30');
  parameter('/neuroca/integrations/hosts', 'api.openai.com,api.anthropic.com', { type: 'StringList' });
  parameter('/neuroca/security/jwt_signing_key', PEM, { type: 'SecureString', description: 'rotated monthly' });
  parameter('/neuroca/security/session_secret', 'no', { type: 'SecureString' });
  parameter('/neuroca/yaml/yes', 'yes');
  parameter('/neuroca/yaml/hex', '0x1F');
  parameter('/neuroca/yaml/null', 'null');
  parameter('/neuroca/yaml/tilde', '~');
  parameter('/neuroca/yaml/spaces', '  padded value  ');
  parameter('/neuroca/yaml/unicode', 'Größe ✓ 記憶 🧠');
  parameter('/neuroca/yaml/multiline', 'line one\nline two\n\n  indented\n');
  parameter('/neuroca/yaml/big', BIG);
  for (let i = 0; i < 15; i++) parameter(`/neuroca/memory/tier_${String(i).padStart(2, '0')}/capacity`, String(100 * (i + 1)));
  // Read because it is named exactly like a configured path; the others are outside every path.
  parameter('/neuroca-health/threshold', '0.25');
  ssm.put('/neuroca-other/not-read', 'outside');
  ssm.put('/other/not-read', 'outside');

  // Secrets Manager: 103 under neuroca/ (2 pages of ListSecrets), one more by ARN.
  secret('neuroca/db/credentials', JSON.stringify({ username: 'nca', password: DB_PASSWORD }), { kmsKeyId: CONFIG_KEY, tags: { team: 'platform' }, description: 'RDS master' });
  secret('neuroca/tls/bundle', TLS_BUNDLE, { description: 'binary PKCS#12' });
  secret('neuroca/yaml/null', 'null');
  for (let i = 0; i < 100; i++) secret(`neuroca/agents/agent-${String(i).padStart(3, '0')}`, `token-${i}-${randomBytes(8).toString('hex')}`);
  openaiArn = secret('integrations/openai', OPENAI_KEY, { tags: { vendor: 'OpenAI' } });
  sm.create('neuroca-legacy/not-read', 'outside the prefix');
  sm.create('Neuroca/not-read', 'a prefix is case-sensitive');
  // A secret created without a value has no AWSCURRENT version: nothing to back up.
  const admin = new SecretsManagerClient({ region: 'us-east-1', endpoint: sm.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
  await admin.send(new CreateSecretCommand({ Name: 'neuroca/empty' }));
  admin.destroy();

  // S3: the NCA's config/ folder.
  const put = (key: string, body: string | Buffer) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body), ContentLength: Buffer.byteLength(body) }));
  await put('config/neuroca.yaml', NEUROCA_YAML);
  await put('config/.env', DOT_ENV);
  await put('config/logo.png', LOGO);
  await put('config/empty.txt', '');
  await put('config/prompts/system prompt ✓.md', 'You are the NCA.\n');
  await put('config/prompts/', ''); // a console folder marker
  await put('other/not-read.yaml', 'x: 1\n');
});

afterAll(async () => {
  if (clients) destroyConfigClients(clients);
  await Promise.all([ssm?.stop(), sm?.stop()]);
});

const SOURCE = (): ConfigSourceConfig => ({
  parameterPaths: ['/neuroca', '/neuroca-health/threshold', '/neuroca/db'],
  secrets: ['neuroca/', openaiArn],
  files: [{ bucket, prefix: 'config/' }],
});

const withoutVersions = (items: readonly ConfigItem[]) => items.map(({ version: _v, lastModified: _t, ...rest }) => rest);
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

describe('reading the configuration', () => {
  let items: ConfigItem[];

  beforeAll(async () => {
    ssm.calls.length = 0;
    sm.calls.length = 0;
    // Throttling on the second page of each listing: the SDK's retry must carry the read through.
    const throttleAfterFirstPage = (server: SsmServer | SecretsManagerServer, operation: string) => {
      let pages = 0;
      return (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        const result = await next(args);
        if (context.commandName === operation && ++pages === 1) server.failNext(2);
        return result;
      };
    };
    clients.ssm.middlewareStack.add(throttleAfterFirstPage(ssm, 'GetParametersByPathCommand') as never, { step: 'initialize', name: 'throttleSsm' });
    clients.secretsManager.middlewareStack.add(throttleAfterFirstPage(sm, 'ListSecretsCommand') as never, { step: 'initialize', name: 'throttleSecrets' });
    try {
      items = await readConfiguration(SOURCE(), clients, log);
    } finally {
      clients.ssm.middlewareStack.remove('throttleSsm');
      clients.secretsManager.middlewareStack.remove('throttleSecrets');
    }
  });

  test('gives every parameter under the paths and the one named by a path, SecureStrings decrypted with their key ids, tags and descriptions', () => {
    const read = items.filter((i) => i.kind === 'parameter');
    expect(withoutVersions(read)).toEqual([...parameters].sort(byName));
    expect(read.map((i) => i.name)).not.toContain('/neuroca-other/not-read');
    const password = read.find((i) => i.name === '/neuroca/db/password')!;
    expect(password).toMatchObject({ type: 'SecureString', value: DB_PASSWORD, kmsKeyId: CONFIG_KEY, version: '1' });
    expect(new Date(password.lastModified!).toISOString()).toBe(password.lastModified);
  });

  test('gives every secret whose name begins with the prefix (case-sensitive) and the one named by ARN, binary ones as base64', () => {
    const read = items.filter((i) => i.kind === 'secret');
    expect(withoutVersions(read)).toEqual([...secrets].sort(byName));
    expect(read.map((i) => i.name)).not.toEqual(expect.arrayContaining(['neuroca-legacy/not-read', 'Neuroca/not-read', 'neuroca/empty']));
    const tls = read.find((i) => i.name === 'neuroca/tls/bundle')!;
    expect(Buffer.from(tls.value, 'base64').equals(TLS_BUNDLE)).toBe(true);
    expect(tls.version).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('gives every file under the prefix, text as text and other bytes as base64, each with its ETag on an unversioned bucket', () => {
    const read = items.filter((i) => i.kind === 'file');
    expect(read.map(({ name, value, encoding }) => ({ name, value, encoding }))).toEqual([
      { name: `s3://${bucket}/config/.env`, value: DOT_ENV, encoding: undefined },
      { name: `s3://${bucket}/config/empty.txt`, value: '', encoding: undefined },
      { name: `s3://${bucket}/config/logo.png`, value: LOGO.toString('base64'), encoding: 'base64' },
      { name: `s3://${bucket}/config/neuroca.yaml`, value: NEUROCA_YAML, encoding: undefined },
      { name: `s3://${bucket}/config/prompts/system prompt ✓.md`, value: 'You are the NCA.\n', encoding: undefined },
    ]);
    expect(read.every((i) => /^[0-9a-f]{32}$/.test(i.version))).toBe(true);
  });

  test('orders items by store, then name, each once though two paths cover it', () => {
    expect(items.map((i) => i.kind)).toEqual([...parameters.map(() => 'parameter'), ...secrets.map(() => 'secret'), ...Array(5).fill('file')]);
    expect(new Set(items.map((i) => `${i.kind}:${i.name}`)).size).toBe(items.length);
  });

  test('rode out the throttling, and asked for tags once per parameter', () => {
    const byPath = ssm.calls.filter((c) => c.operation === 'GetParametersByPath');
    // /neuroca: 31 parameters in pages of 10 (4 pages), /neuroca-health/threshold and /neuroca/db: 1 page each; 2 throttled attempts retried.
    expect(byPath).toHaveLength(4 + 1 + 1 + 2);
    expect(byPath.slice(0, 6).map((c) => c.name)).toEqual(Array(6).fill('/neuroca'));
    expect(sm.calls.filter((c) => c.operation === 'ListSecrets')).toHaveLength(2 + 2);
    expect(ssm.calls.filter((c) => c.operation === 'ListTagsForResource')).toHaveLength(parameters.length);
    expect([...ssm.calls, ...sm.calls].every((c) => c.signed)).toBe(true);
  });

  test('logs counts, paths and prefixes, never a value', () => {
    const text = lines.join('\n');
    for (const value of SECRET_VALUES) expect(text).not.toContain(value);
    expect(lines).toContainEqual(JSON.stringify({ level: 'warn', message: 'configuration secret has no current value: skipped', secret: 'neuroca/empty' }));
    expect(lines).toContainEqual(JSON.stringify({ level: 'info', message: 'configuration read', parameters: parameters.length, secrets: secrets.length, files: 5 }));
    expect(lines).toContainEqual(JSON.stringify({ level: 'info', message: 'configuration parameters read', path: '/neuroca-health/threshold', parameters: 1 }));
    expect(lines.filter((l) => l.includes('"warn"'))).toEqual([JSON.stringify({ level: 'warn', message: 'configuration secret has no current value: skipped', secret: 'neuroca/empty' })]);
  });

  test('round-trips through the export, and read → write → read keeps the fingerprint', async () => {
    const header = { backupId: '20261130T010000Z-7f3a', createdAt: new Date().toISOString(), sources: SOURCE() };
    const exported = writeExport(header, items);
    const back = readExport(exported);
    expect(back.header).toEqual(header);
    expect(back.items).toEqual(items);
    expect(fingerprintItems(back.items)).toEqual(fingerprintItems(items));
    const again = await readConfiguration(SOURCE(), clients, log);
    expect(fingerprintItems(again)).toEqual(fingerprintItems(items));
  });

  test('a changed value changes the fingerprint of its store only', async () => {
    ssm.put('/neuroca/db/port', '5433');
    try {
      const after = fingerprintItems(await readConfiguration(SOURCE(), clients, log));
      const before = fingerprintItems(items);
      expect(after.parameters.digest).not.toBe(before.parameters.digest);
      expect(after.secrets).toEqual(before.secrets);
      expect(after.files).toEqual(before.files);
    } finally {
      ssm.put('/neuroca/db/port', '5432');
    }
  });
});

describe('reading a configuration when something is missing, changing or refused', () => {
  test('a secret ARN that does not exist is an InvalidInputError naming it', async () => {
    const missing = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:neuroca/gone-AbC123';
    const error = await rejection(readConfiguration({ parameterPaths: [], secrets: [missing], files: [] }, clients, log));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain(`names ${missing}, which does not exist: nothing was backed up`);
  });

  test('a bucket that does not exist is an InvalidInputError naming it', async () => {
    const error = await rejection(readConfiguration({ parameterPaths: [], secrets: [], files: [{ bucket: 'nca-no-such-bucket', prefix: '' }] }, clients, log));
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error.message).toContain('names bucket nca-no-such-bucket, which does not exist');
  });

  test('throttling that outlasts the retries is a TransientError naming what was being read', async () => {
    const impatient = createConfigClients({ ssmEndpoint: ssm.endpoint, secretsManagerEndpoint: sm.endpoint, maxAttempts: 2 });
    try {
      ssm.failNext(2);
      const error = await rejection(readConfiguration({ parameterPaths: ['/neuroca/db'], secrets: [], files: [] }, impatient, log));
      expect(error).toBeInstanceOf(TransientError);
      expect(error.message).toMatch(/^config: Parameter Store failed while describing the parameters under \/neuroca\/db: ThrottlingException: .+ A retry may succeed\.$/);
    } finally {
      ssm.failNext(0);
      destroyConfigClients(impatient);
    }
  });

  test('a refusal is an AccessDeniedError naming the secret, never its value', async () => {
    sm.failNext(1, 400, 'AccessDeniedException');
    const error = await rejection(readConfiguration({ parameterPaths: [], secrets: [openaiArn], files: [] }, clients, log));
    sm.failNext(0);
    expect(error).toBeInstanceOf(AccessDeniedError);
    expect(error.message).toContain(`Secrets Manager refused describing ${openaiArn}: AccessDeniedException`);
    expect(error.message).not.toContain(OPENAI_KEY);
  });

  test('a parameter or a file deleted between its listing and its read is left out, named in a warning', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'racy/going.yaml', Body: Buffer.from('a: 1\n'), ContentLength: 5 }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'racy/staying.yaml', Body: Buffer.from('b: 2\n'), ContentLength: 5 }));
    ssm.put('/racy/going', 'soon gone');
    ssm.put('/racy/staying', 'here');
    const admin = new SSMClient({ region: 'us-east-1', endpoint: ssm.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
    // A deploy deletes them right after the listings answered.
    const deleteAfter = (operation: string, remove: () => Promise<unknown>) => (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const result = await next(args);
      if (context.commandName === operation) await remove();
      return result;
    };
    clients.ssm.middlewareStack.add(deleteAfter('GetParametersByPathCommand', () => admin.send(new DeleteParameterCommand({ Name: '/racy/going' }))) as never, { step: 'initialize', name: 'race' });
    clients.s3.middlewareStack.add(deleteAfter('ListObjectsV2Command', () => s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'racy/going.yaml' }))) as never, { step: 'initialize', name: 'race' });
    lines.length = 0;
    try {
      const items = await readConfiguration({ parameterPaths: ['/racy'], secrets: [], files: [{ bucket, prefix: 'racy/' }] }, clients, log);
      expect(items.map((i) => i.name)).toEqual(['/racy/staying', `s3://${bucket}/racy/staying.yaml`]);
      expect(lines.filter((l) => l.includes('"warn"'))).toEqual([
        JSON.stringify({ level: 'warn', message: 'configuration parameter deleted while it was read: skipped', parameter: '/racy/going' }),
        JSON.stringify({ level: 'warn', message: 'configuration file deleted while it was read: skipped', file: `s3://${bucket}/racy/going.yaml` }),
      ]);
    } finally {
      clients.ssm.middlewareStack.remove('race');
      clients.s3.middlewareStack.remove('race');
      admin.destroy();
    }
  });

  test('an empty path, prefix and location read as nothing, each named in a warning', async () => {
    lines.length = 0;
    const items = await readConfiguration({ parameterPaths: ['/nothing/here'], secrets: ['nothing/'], files: [{ bucket, prefix: 'nothing/' }] }, clients, log);
    expect(items).toEqual([]);
    expect(lines.filter((l) => l.includes('"warn"'))).toEqual([
      JSON.stringify({ level: 'warn', message: 'configuration parameter path holds no parameters', path: '/nothing/here' }),
      JSON.stringify({ level: 'warn', message: 'configuration secret prefix names no secrets', prefix: 'nothing/' }),
      JSON.stringify({ level: 'warn', message: 'configuration file location holds no files', location: `s3://${bucket}/nothing/` }),
    ]);
  });
});
