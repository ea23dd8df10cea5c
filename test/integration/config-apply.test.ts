/**
 * A configuration restore planned and applied against the Parameter Store and Secrets Manager substitutes
 * and s3rver, through the real SDK clients: the plan shows exactly what changed since the backup, apply
 * puts it back (read back independently through the SDK), a refused write stops the apply with the items
 * written before it, throttling is retried, and no value reaches a log line or an error.
 */
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand, SecretsManagerClient, UpdateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, DescribeParametersCommand, GetParametersByPathCommand, ListTagsForResourceCommand, SSMClient, type Parameter } from '@aws-sdk/client-ssm';
import { applyPlan } from '../../functions/components/config/apply';
import type { ConfigClients } from '../../functions/components/config/clients';
import type { ConfigSourceConfig } from '../../functions/components/config/descriptor';
import type { ConfigItem } from '../../functions/components/config/item';
import { planRestore } from '../../functions/components/config/plan';
import { AccessDeniedError, InvalidInputError, TransientError } from '../../functions/core/errors';
import { createLogger } from '../../functions/core/logger';
import { createTestBucket, testS3Client } from '../support/s3';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';
import { startSsmServer, type SsmServer } from '../support/ssm-server';
import { rejection } from '../support/thrown';

const PARAMETER_KEY = 'arn:aws:kms:us-east-1:000000000000:key/aaaaaaaa-1111-2222-3333-444444444444';
const SECRET_KEY = 'arn:aws:kms:us-east-1:000000000000:key/bbbbbbbb-1111-2222-3333-444444444444';
const local = { region: 'us-east-1', credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } };

let ssmServer: SsmServer;
let secretsServer: SecretsManagerServer;
let clients: ConfigClients;
let bucket: string;

beforeAll(async () => {
  [ssmServer, secretsServer] = await Promise.all([startSsmServer(), startSecretsManagerServer()]);
  const s3 = testS3Client();
  bucket = await createTestBucket(s3, 'config');
  clients = { ssm: new SSMClient({ ...local, endpoint: ssmServer.endpoint }), secretsManager: new SecretsManagerClient({ ...local, endpoint: secretsServer.endpoint }), s3 };
});

afterAll(async () => {
  clients.ssm.destroy();
  clients.secretsManager.destroy();
  await Promise.all([ssmServer.stop(), secretsServer.stop()]);
});

const scopeOf = (name: string): ConfigSourceConfig => ({ parameterPaths: [`/${name}`], secrets: [`${name}/`], files: [{ bucket, prefix: `${name}/` }] });

/** What the stores hold in `scope`, read through the SDK alone (not the component's reader). */
async function snapshot(scope: ConfigSourceConfig): Promise<ConfigItem[]> {
  const { ssm, secretsManager: secrets, s3 } = clients;
  const items: ConfigItem[] = [];
  for (const path of scope.parameterPaths) {
    const parameters: Parameter[] = [];
    let token: string | undefined;
    do {
      const page = await ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: true, WithDecryption: true, NextToken: token }));
      parameters.push(...(page.Parameters ?? []));
      token = page.NextToken;
    } while (token);
    const described = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: [path] }], MaxResults: 50 }));
    for (const p of parameters) {
      const meta = described.Parameters!.find((d) => d.Name === p.Name)!;
      const tags = (await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: p.Name! }))).TagList ?? [];
      items.push({
        kind: 'parameter',
        name: p.Name!,
        type: p.Type as ConfigItem['type'],
        value: p.Value!,
        version: String(p.Version),
        ...(meta.KeyId ? { kmsKeyId: meta.KeyId } : {}),
        ...(meta.Description !== undefined ? { description: meta.Description } : {}),
        ...(tags.length > 0 ? { tags: Object.fromEntries(tags.map((t) => [t.Key!, t.Value!])) } : {}),
      });
    }
  }
  for (const prefix of scope.secrets) {
    const listed = await secrets.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }] }));
    for (const s of listed.SecretList ?? []) {
      const value = await secrets.send(new GetSecretValueCommand({ SecretId: s.Name! }));
      const meta = await secrets.send(new DescribeSecretCommand({ SecretId: s.Name! }));
      items.push({
        kind: 'secret',
        name: s.Name!,
        ...(value.SecretBinary ? { value: Buffer.from(value.SecretBinary).toString('base64'), encoding: 'base64' as const } : { value: value.SecretString! }),
        version: value.VersionId!,
        ...(meta.KmsKeyId ? { kmsKeyId: meta.KmsKeyId } : {}),
        ...(meta.Description !== undefined ? { description: meta.Description } : {}),
        ...(meta.Tags?.length ? { tags: Object.fromEntries(meta.Tags.map((t) => [t.Key!, t.Value!])) } : {}),
      });
    }
  }
  for (const location of scope.files) {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: location.bucket, Prefix: location.prefix }));
    for (const o of listed.Contents ?? []) {
      const object = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: o.Key! }));
      items.push({ kind: 'file', name: `s3://${location.bucket}/${o.Key}`, value: Buffer.from(await object.Body!.transformToByteArray()).toString('base64'), encoding: 'base64', version: object.ETag! });
    }
  }
  return items;
}

/** An item as a restore puts it back: everything but the store's version and time. */
const content = (items: readonly ConfigItem[]) =>
  items
    .map(({ version: _version, lastModified: _lastModified, stages: _stages, ...rest }) => rest)
    .sort((a, b) => `${a.kind}:${a.name}`.localeCompare(`${b.kind}:${b.name}`));

const putFile = (s3: S3Client, key: string, body: string) => s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

function capture() {
  const lines: string[] = [];
  return { lines, log: createLogger({}, (line) => lines.push(line), {}) };
}

const writesTo = (server: SsmServer | SecretsManagerServer) => server.calls.filter((c) => /^(Put|Create|Update|Delete|AddTags|Tag)/.test(c.operation)).length;

test('the plan shows exactly what changed since the backup, and apply puts it back', async () => {
  const scope = scopeOf('cfga');
  ssmServer.put('/cfga/db/host', 'db-a.internal', { tags: { team: 'core' } });
  ssmServer.put('/cfga/db/password', 'pw-original-7Qx', { type: 'SecureString', keyId: PARAMETER_KEY, description: 'database password' });
  ssmServer.put('/cfga/zones', 'eu-a,eu-b', { type: 'StringList' });
  secretsServer.create('cfga/api', '{"token":"tok-original-91"}', { kmsKeyId: SECRET_KEY, tags: { owner: 'integrations' } });
  secretsServer.create('cfga/cert', new Uint8Array([0, 1, 2, 250]));
  await putFile(clients.s3, 'cfga/app.yaml', 'level: info\n');
  await putFile(clients.s3, 'cfga/.env', 'DB_PASSWORD=env-original-55\n');
  const backup = await snapshot(scope);

  // After the backup: a value and its key changed, a secret rewritten, a parameter deleted, one added, a file edited.
  ssmServer.put('/cfga/db/password', 'pw-changed-Zk2', { type: 'SecureString', keyId: 'alias/aws/ssm' });
  await clients.secretsManager.send(new PutSecretValueCommand({ SecretId: 'cfga/api', SecretString: '{"token":"tok-changed-33"}' }));
  await clients.ssm.send(new DeleteParameterCommand({ Name: '/cfga/zones' }));
  ssmServer.put('/cfga/new/flag', 'flag-added-8', {});
  await putFile(clients.s3, 'cfga/app.yaml', 'level: debug-changed\n');
  const current = await snapshot(scope);

  const plan = planRestore(backup, current, scope, { prune: true });
  expect(plan.entries.map((e) => [e.kind, e.name, e.action, e.differences])).toEqual([
    ['parameter', '/cfga/db/host', 'unchanged', undefined],
    ['parameter', '/cfga/db/password', 'change', ['value', 'kmsKeyId']],
    ['parameter', '/cfga/new/flag', 'prune', undefined],
    ['parameter', '/cfga/zones', 'add', undefined],
    ['secret', 'cfga/api', 'change', ['value']],
    ['secret', 'cfga/cert', 'unchanged', undefined],
    ['file', `s3://${bucket}/cfga/.env`, 'unchanged', undefined],
    ['file', `s3://${bucket}/cfga/app.yaml`, 'change', ['value']],
  ]);
  expect(plan.entries.find((e) => e.name === '/cfga/db/password')).toMatchObject({ backupVersion: '1', currentVersion: '2' });

  const { lines, log } = capture();
  const result = await applyPlan(plan, backup, clients, log);
  expect(result.written).toEqual(['parameter:/cfga/db/password', 'parameter:/cfga/zones', 'secret:cfga/api', `file:s3://${bucket}/cfga/app.yaml`, 'parameter:/cfga/new/flag']);

  const after = await snapshot(scope);
  expect(content(after)).toEqual(content(backup));
  expect(after.find((i) => i.name === '/cfga/db/password')).toMatchObject({ type: 'SecureString', kmsKeyId: PARAMETER_KEY, value: 'pw-original-7Qx' });
  expect(planRestore(backup, after, scope, { prune: true }).summary).toMatchObject({ add: 0, change: 0, prune: 0 });

  expect(lines).toHaveLength(5);
  const logged = lines.join('\n');
  for (const secret of ['pw-original-7Qx', 'pw-changed-Zk2', 'tok-original-91', 'tok-changed-33', 'env-original-55', 'flag-added-8', 'eu-a,eu-b', 'debug-changed', 'db-a.internal']) {
    expect(logged).not.toContain(secret);
    expect(JSON.stringify(plan)).not.toContain(secret);
  }
});

test('items the stores lost come back with their type, key, description and tags', async () => {
  const scope = scopeOf('cfgb');
  const backup: ConfigItem[] = [
    { kind: 'parameter', name: '/cfgb/token', type: 'SecureString', value: 'tok-b-lost-1', version: '4', kmsKeyId: PARAMETER_KEY, description: 'the API token', tags: { team: 'core' } },
    { kind: 'parameter', name: '/cfgb/hosts', type: 'StringList', value: 'a,b', version: '2' },
    { kind: 'secret', name: 'cfgb/db', value: '{"password":"sec-b-lost-2"}', version: 'v1', kmsKeyId: SECRET_KEY, description: 'db login', tags: { owner: 'db' } },
    { kind: 'secret', name: 'cfgb/blob', value: Buffer.from([9, 8, 7]).toString('base64'), encoding: 'base64', version: 'v1' },
    { kind: 'file', name: `s3://${bucket}/cfgb/app.env`, value: Buffer.from('X=lost-file-3\n').toString('base64'), encoding: 'base64', version: 'e1' },
  ];
  const plan = planRestore(backup, await snapshot(scope), scope, { prune: false });
  expect(plan.summary).toMatchObject({ add: 5, problems: 0 });

  await applyPlan(plan, backup, clients, capture().log);
  expect(content(await snapshot(scope))).toEqual(content(backup));
});

test('a write refused mid-apply stops there, naming the item and what was written before it', async () => {
  const scope = scopeOf('cfgc');
  ssmServer.put('/cfgc/a', 'c-a-old-1');
  ssmServer.put('/cfgc/b', 'c-b-old-2');
  secretsServer.create('cfgc/api', 'c-api-old-3');
  await putFile(clients.s3, 'cfgc/app.yaml', 'c-file-old-4');
  const backup = await snapshot(scope);
  ssmServer.put('/cfgc/a', 'c-a-new-5');
  ssmServer.put('/cfgc/b', 'c-b-new-6');
  secretsServer.create('cfgc/api-2', 'unrelated');
  await clients.secretsManager.send(new PutSecretValueCommand({ SecretId: 'cfgc/api', SecretString: 'c-api-new-7' }));
  await putFile(clients.s3, 'cfgc/app.yaml', 'c-file-new-8');
  const plan = planRestore(backup, await snapshot(scope), scope, { prune: false });
  expect(plan.summary).toMatchObject({ change: 4, keep: 1 });

  // The writes run parameters, then secrets, then files: the third write is the secret's.
  secretsServer.failNext(1, 400, 'AccessDeniedException');
  const { lines, log } = capture();
  const error = await rejection(applyPlan(plan, backup, clients, log));
  expect(error).toBeInstanceOf(AccessDeniedError);
  expect(error.message).toMatch(/writing back secret cfgc\/api failed \(AccessDeniedException: /);
  expect(error.message).toContain('Written before it: parameter /cfgc/a, parameter /cfgc/b.');
  expect(error.message).toContain(`Not written: file s3://${bucket}/cfgc/app.yaml.`);

  const after = await snapshot(scope);
  const value = (name: string) => Buffer.from(after.find((i) => i.name.endsWith(name))!.value, after.find((i) => i.name.endsWith(name))!.encoding === 'base64' ? 'base64' : 'utf8').toString();
  expect([value('/cfgc/a'), value('/cfgc/b'), value('cfgc/api'), value('cfgc/app.yaml')]).toEqual(['c-a-old-1', 'c-b-old-2', 'c-api-new-7', 'c-file-new-8']);
  for (const secret of ['c-a-old-1', 'c-b-old-2', 'c-api-old-3', 'c-file-old-4', 'c-a-new-5', 'c-b-new-6', 'c-api-new-7', 'c-file-new-8']) {
    expect(error.message).not.toContain(secret);
    expect(lines.join('\n')).not.toContain(secret);
  }
});

test('a plan with an item that cannot be written is refused before the first write', async () => {
  const scope = scopeOf('cfgd');
  ssmServer.put('/cfgd/first', 'd-first-old');
  ssmServer.put('/cfgd/zones', 'a,b', { type: 'StringList' });
  const backup = (await snapshot(scope)).map((i) => (i.name === '/cfgd/zones' ? { ...i, type: 'String' as const } : i));
  ssmServer.put('/cfgd/first', 'd-first-new');
  const plan = planRestore(backup, await snapshot(scope), scope, { prune: false });

  const before = writesTo(ssmServer);
  const error = await rejection(applyPlan(plan, backup, clients, capture().log));
  expect(error).toBeInstanceOf(InvalidInputError);
  expect(error.message).toMatch(/nothing was written: parameter \/cfgd\/zones: Parameter Store cannot change a parameter's type \(StringList now, String in the backup\)/);
  expect(writesTo(ssmServer)).toBe(before);
});

test('throttling is retried; a throttle that does not go away ends in a TransientError naming the item', async () => {
  const scope = scopeOf('cfge');
  ssmServer.put('/cfge/x', 'e-old');
  const backup = await snapshot(scope);
  ssmServer.put('/cfge/x', 'e-new');
  const plan = planRestore(backup, await snapshot(scope), scope, { prune: false });

  const puts = () => ssmServer.calls.filter((c) => c.operation === 'PutParameter' && c.name === '/cfge/x').length;
  const before = puts();
  ssmServer.failNext(2, 400, 'ThrottlingException');
  await applyPlan(plan, backup, clients, capture().log);
  expect(puts() - before).toBe(3);
  expect((await snapshot(scope))[0].value).toBe('e-old');

  ssmServer.put('/cfge/x', 'e-new');
  ssmServer.failNext(10, 400, 'ThrottlingException');
  const error = await rejection(applyPlan(plan, backup, clients, capture().log));
  ssmServer.failNext(0);
  expect(error).toBeInstanceOf(TransientError);
  expect(error.message).toMatch(/writing back parameter \/cfge\/x failed \(ThrottlingException: .*Nothing was written before it\./);
});

test('only what differs is written: tags alone through AddTagsToResource, a secret\'s key and description through UpdateSecret', async () => {
  const scope = scopeOf('cfgf');
  ssmServer.put('/cfgf/host', 'f-host', { tags: { team: 'core' } });
  secretsServer.create('cfgf/api', 'f-api-value', { kmsKeyId: SECRET_KEY, description: 'api token' });
  const backup = await snapshot(scope);
  // Since the backup: a tag retagged (the value untouched), the secret moved to another key and redescribed.
  await clients.ssm.send(new DeleteParameterCommand({ Name: '/cfgf/host' }));
  ssmServer.put('/cfgf/host', 'f-host', { tags: { team: 'someone-else' } });
  await clients.secretsManager.send(new UpdateSecretCommand({ SecretId: 'cfgf/api', KmsKeyId: 'alias/other', Description: 'changed' }));
  const current = await snapshot(scope);
  const plan = planRestore(backup, current, scope, { prune: false });
  expect(plan.entries.map((e) => [e.name, e.action, e.differences])).toEqual([
    ['/cfgf/host', 'change', ['tags']],
    ['cfgf/api', 'change', ['kmsKeyId', 'description']],
  ]);

  const [ssmBefore, secretsBefore] = [ssmServer.calls.length, secretsServer.calls.length];
  await applyPlan(plan, backup, clients, capture().log);
  expect(ssmServer.calls.slice(ssmBefore).map((c) => c.operation)).toEqual(['AddTagsToResource']);
  expect(secretsServer.calls.slice(secretsBefore).map((c) => c.operation)).toEqual(['UpdateSecret']);
  const after = await snapshot(scope);
  expect(content(after)).toEqual(content(backup));
  // No new version: the parameter's and the secret's values were not rewritten.
  expect(after.map((i) => i.version)).toEqual(current.map((i) => i.version));
});

test('prune deletes a secret added since the backup with a 30-day recovery window: unlisted and unreadable, not gone', async () => {
  const scope = scopeOf('cfgp');
  secretsServer.create('cfgp/kept', 'kept-value-1');
  const backup = await snapshot(scope);
  secretsServer.create('cfgp/added', 'added-value-2');
  const plan = planRestore(backup, await snapshot(scope), scope, { prune: true });
  expect(plan.entries.map((e) => [e.name, e.action])).toEqual([
    ['cfgp/added', 'prune'],
    ['cfgp/kept', 'unchanged'],
  ]);
  const before = Date.now();
  expect((await applyPlan(plan, backup, clients, capture().log)).written).toEqual(['secret:cfgp/added']);
  const described = await clients.secretsManager.send(new DescribeSecretCommand({ SecretId: 'cfgp/added' }));
  const days = (described.DeletedDate!.getTime() - before) / 86_400_000;
  expect(days).toBeGreaterThan(29.9);
  expect(days).toBeLessThan(30.1);
  expect((await rejection(clients.secretsManager.send(new GetSecretValueCommand({ SecretId: 'cfgp/added' })))).name).toBe('InvalidRequestException');
  const listed = await clients.secretsManager.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['cfgp/'] }] }));
  expect(listed.SecretList!.map((s) => s.Name)).toEqual(['cfgp/kept']);
  expect(content(await snapshot(scope))).toEqual(content(backup));
});
