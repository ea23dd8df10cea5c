/**
 * The Secrets Manager substitute behaves as its header says, through the real
 * `@aws-sdk/client-secrets-manager`: what the configuration backup reads (secrets by name prefix, the
 * current value with its version id and stages, tags, key) and what its restore writes and meets
 * (new versions and moving stages, not-found errors, throttling).
 */
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  TagResourceCommand,
  UpdateSecretCommand,
  paginateListSecrets,
} from '@aws-sdk/client-secrets-manager';
import { startSecretsManagerServer, type SecretsManagerServer } from '../support/secrets-manager-server';
import { rejection } from '../support/thrown';

let server: SecretsManagerServer;
let sm: SecretsManagerClient;

const clientFor = (endpoint: string, maxAttempts?: number) =>
  new SecretsManagerClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, ...(maxAttempts ? { maxAttempts } : {}) });


beforeAll(async () => {
  server = await startSecretsManagerServer();
  sm = clientFor(server.endpoint);
});

afterAll(async () => {
  sm.destroy();
  await server.stop();
});

test('CreateSecret: an ARN in the service format, the value readable by name, full ARN and partial ARN', async () => {
  const created = await sm.send(new CreateSecretCommand({ Name: 'neuroca/t1/db', SecretString: '{"password":"hunter2"}', Tags: [{ Key: 'team', Value: 'nca' }] }));
  expect(created.ARN).toMatch(/^arn:aws:secretsmanager:us-east-1:000000000000:secret:neuroca\/t1\/db-[A-Za-z0-9]{6}$/);
  expect(created.VersionId).toEqual(expect.any(String));

  for (const id of ['neuroca/t1/db', created.ARN!, created.ARN!.slice(0, -7)]) {
    const value = await sm.send(new GetSecretValueCommand({ SecretId: id }));
    expect(value).toMatchObject({ ARN: created.ARN, Name: 'neuroca/t1/db', SecretString: '{"password":"hunter2"}', VersionId: created.VersionId, VersionStages: ['AWSCURRENT'] });
    expect(value.CreatedDate).toBeInstanceOf(Date);
  }
  const taken = await rejection(sm.send(new CreateSecretCommand({ Name: 'neuroca/t1/db', SecretString: 'x' })));
  expect(taken.name).toBe('ResourceExistsException');

  const binary = server.create('neuroca/t1/blob', Uint8Array.from([0, 1, 254, 255]));
  expect(Buffer.from((await sm.send(new GetSecretValueCommand({ SecretId: binary }))).SecretBinary!)).toEqual(Buffer.from([0, 1, 254, 255]));
  expect(server.calls.filter((c) => c.name?.startsWith('neuroca/t1') || c.name?.includes(':secret:neuroca/t1')).every((c) => c.signed)).toBe(true);
});

test('PutSecretValue: a new version becomes AWSCURRENT, the one before AWSPREVIOUS, older ones keep no stage', async () => {
  const arn = server.create('neuroca/t2/api-key', 'first');
  const v1 = (await sm.send(new DescribeSecretCommand({ SecretId: arn }))).VersionIdsToStages!;
  const [firstId] = Object.keys(v1);

  const second = await sm.send(new PutSecretValueCommand({ SecretId: 'neuroca/t2/api-key', SecretString: 'second' }));
  expect(second).toMatchObject({ ARN: arn, Name: 'neuroca/t2/api-key', VersionStages: ['AWSCURRENT'] });
  const third = await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'third', ClientRequestToken: '33333333-3333-4333-8333-333333333333' }));
  expect(third.VersionId).toBe('33333333-3333-4333-8333-333333333333');

  const described = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
  expect(described.VersionIdsToStages).toEqual({ [second.VersionId!]: ['AWSPREVIOUS'], [third.VersionId!]: ['AWSCURRENT'] });
  expect((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe('third');
  expect((await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('second');
  // A version without a stage is still readable by its id.
  expect(await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionId: firstId }))).toMatchObject({ SecretString: 'first', VersionStages: [] });

  // The same token again: the same value is a no-op, another value is refused.
  expect((await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'third', ClientRequestToken: third.VersionId }))).VersionId).toBe(third.VersionId);
  expect((await rejection(sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'other', ClientRequestToken: third.VersionId })))).name).toBe('ResourceExistsException');

  // A custom stage moves off the version that had it and leaves AWSCURRENT where it is.
  const staged = await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: 'pending', VersionStages: ['NCA_PENDING'] }));
  expect(staged.VersionStages).toEqual(['NCA_PENDING']);
  expect((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe('third');
  expect((await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'NCA_PENDING' }))).VersionId).toBe(staged.VersionId);
});

test('UpdateSecret changes the description and key, and a value there is a new AWSCURRENT version', async () => {
  const arn = server.create('neuroca/t3/token', 'old', { description: 'before' });
  const updated = await sm.send(new UpdateSecretCommand({ SecretId: arn, Description: 'after', KmsKeyId: 'alias/neuroca-config', SecretString: 'new' }));
  expect(updated).toMatchObject({ ARN: arn, Name: 'neuroca/t3/token', VersionId: expect.any(String) });
  const described = await sm.send(new DescribeSecretCommand({ SecretId: 'neuroca/t3/token' }));
  expect(described).toMatchObject({ Description: 'after', KmsKeyId: 'alias/neuroca-config' });
  expect(described.VersionIdsToStages![updated.VersionId!]).toEqual(['AWSCURRENT']);
  expect((await sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' }))).SecretString).toBe('old');
  const metadataOnly = await sm.send(new UpdateSecretCommand({ SecretId: arn, Description: 'again' }));
  expect(metadataOnly.VersionId).toBeUndefined();
});

test('DescribeSecret: tags, key (left out for the default key), dates; TagResource merges tags', async () => {
  const arn = server.create('neuroca/t4/cert', 'pem', { kmsKeyId: 'arn:aws:kms:us-east-1:000000000000:key/abcd', tags: { owner: 'ops' } });
  await sm.send(new TagResourceCommand({ SecretId: arn, Tags: [{ Key: 'owner', Value: 'sec' }, { Key: 'backup', Value: 'yes' }] }));
  const described = await sm.send(new DescribeSecretCommand({ SecretId: arn }));
  expect(described).toMatchObject({ ARN: arn, Name: 'neuroca/t4/cert', KmsKeyId: 'arn:aws:kms:us-east-1:000000000000:key/abcd' });
  expect(described.Tags).toEqual([{ Key: 'owner', Value: 'sec' }, { Key: 'backup', Value: 'yes' }]);
  expect(described.LastChangedDate).toBeInstanceOf(Date);
  expect(described.CreatedDate).toBeInstanceOf(Date);
  expect(described.LastAccessedDate).toBeUndefined();
  await sm.send(new GetSecretValueCommand({ SecretId: arn }));
  const accessed = (await sm.send(new DescribeSecretCommand({ SecretId: arn }))).LastAccessedDate!;
  expect(accessed.toISOString()).toMatch(/T00:00:00\.000Z$/);

  server.create('neuroca/t4/default-key', 'v');
  expect((await sm.send(new DescribeSecretCommand({ SecretId: 'neuroca/t4/default-key' }))).KmsKeyId).toBeUndefined();
});

test('ListSecrets: a name prefix filter, pages with NextToken, negation and tag filters', async () => {
  for (let i = 0; i < 7; i++) server.create(`neuroca/t5/s${i}`, `v${i}`, { tags: { tier: i < 2 ? 'gold' : 'bronze' } });
  server.create('neuroca/t5x', 'not under neuroca/t5/');
  server.create('Neuroca/t5/upper', 'case differs');

  const first = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['neuroca/t5/'] }], MaxResults: 3 }));
  expect(first.SecretList!.map((s) => s.Name)).toEqual(['neuroca/t5/s0', 'neuroca/t5/s1', 'neuroca/t5/s2']);
  expect(first.NextToken).toEqual(expect.any(String));
  const names: string[] = [];
  for await (const pageOut of paginateListSecrets({ client: sm, pageSize: 3 }, { Filters: [{ Key: 'name', Values: ['neuroca/t5/'] }] })) {
    names.push(...pageOut.SecretList!.map((s) => s.Name!));
  }
  expect(names).toEqual(Array.from({ length: 7 }, (_, i) => `neuroca/t5/s${i}`));

  const entry = first.SecretList![0];
  expect(entry.ARN).toMatch(/:secret:neuroca\/t5\/s0-[A-Za-z0-9]{6}$/);
  expect(Object.values(entry.SecretVersionsToStages!)).toEqual([['AWSCURRENT']]);
  expect(entry.Tags).toEqual([{ Key: 'tier', Value: 'gold' }]);

  const notGold = await sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: ['neuroca/t5/'] }, { Key: 'tag-value', Values: ['!gold'] }], SortOrder: 'desc' }));
  expect(notGold.SecretList!.map((s) => s.Name)).toEqual(['neuroca/t5/s6', 'neuroca/t5/s5', 'neuroca/t5/s4', 'neuroca/t5/s3', 'neuroca/t5/s2']);
  expect((await rejection(sm.send(new ListSecretsCommand({ Filters: [{ Key: 'all', Values: ['x'] }] })))).name).toBe('InvalidParameterException');
  expect((await rejection(sm.send(new ListSecretsCommand({ NextToken: 'garbage' })))).name).toBe('InvalidNextTokenException');
});

test('an unknown secret, version or stage is ResourceNotFoundException', async () => {
  const missing = await rejection(sm.send(new GetSecretValueCommand({ SecretId: 'neuroca/t6/none' })));
  expect(missing.name).toBe('ResourceNotFoundException');
  expect(missing.message).toBe("Secrets Manager can't find the specified secret.");
  const arn = server.create('neuroca/t6/s', 'v');
  expect((await rejection(sm.send(new GetSecretValueCommand({ SecretId: arn, VersionId: '00000000-0000-4000-8000-000000000000' })))).name).toBe('ResourceNotFoundException');
  expect((await rejection(sm.send(new GetSecretValueCommand({ SecretId: arn, VersionStage: 'AWSPREVIOUS' })))).name).toBe('ResourceNotFoundException');
  expect((await rejection(sm.send(new DescribeSecretCommand({ SecretId: `${arn.slice(0, -6)}zzzzzz` })))).name).toBe('ResourceNotFoundException');
  expect((await rejection(sm.send(new PutSecretValueCommand({ SecretId: 'neuroca/t6/none', SecretString: 'x' })))).name).toBe('ResourceNotFoundException');
  // A secret created without a value has no AWSCURRENT version to read.
  await sm.send(new CreateSecretCommand({ Name: 'neuroca/t6/empty' }));
  expect((await rejection(sm.send(new GetSecretValueCommand({ SecretId: 'neuroca/t6/empty' })))).name).toBe('ResourceNotFoundException');
});

test('a throttled call is retried by the SDK and succeeds; without retries the ThrottlingException surfaces', async () => {
  const arn = server.create('neuroca/t7/s', 'after-throttle');
  const before = server.calls.length;
  server.failNext(1, 400, 'ThrottlingException');
  expect((await sm.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString).toBe('after-throttle');
  expect(server.calls.slice(before).map((c) => [c.operation, c.name])).toEqual([
    ['GetSecretValue', arn],
    ['GetSecretValue', arn],
  ]);

  const once = clientFor(server.endpoint, 1);
  server.failNext(1, 400, 'ThrottlingException');
  const throttled = await rejection(once.send(new GetSecretValueCommand({ SecretId: arn })));
  once.destroy();
  expect(throttled.name).toBe('ThrottlingException');
});

test('on the wire: JSON 1.1 with X-Amz-Target, timestamps as epoch seconds, errors as __type and Message', async () => {
  server.create('neuroca/t8/s', 'v');
  const call = async (operation: string, body: unknown) => {
    const response = await fetch(server.endpoint, { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `secretsmanager.${operation}` }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const described = await call('DescribeSecret', { SecretId: 'neuroca/t8/s' });
  expect(typeof described.body.CreatedDate).toBe('number');
  expect(await call('DescribeSecret', { SecretId: 'neuroca/t8/none' })).toEqual({
    status: 400,
    body: { __type: 'ResourceNotFoundException', Message: "Secrets Manager can't find the specified secret." },
  });
  expect((await call('RotateSecret', { SecretId: 'neuroca/t8/s' })).body.__type).toBe('UnknownOperationException');
});
