/**
 * The Parameter Store substitute behaves as its header says, through the real `@aws-sdk/client-ssm`:
 * what the configuration backup reads (paths, pages, SecureStrings, versions, labels, tags) and what its
 * restore writes and meets (overwrite, type changes, not-found errors, throttling).
 */
import {
  AddTagsToResourceCommand,
  DeleteParameterCommand,
  DescribeParametersCommand,
  GetParameterCommand,
  GetParameterHistoryCommand,
  GetParametersByPathCommand,
  GetParametersCommand,
  LabelParameterVersionCommand,
  ListTagsForResourceCommand,
  PutParameterCommand,
  SSMClient,
  paginateDescribeParameters,
  paginateGetParametersByPath,
  type Parameter,
} from '@aws-sdk/client-ssm';
import { startSsmServer, type SsmServer } from '../support/ssm-server';
import { rejection } from '../support/thrown';

let server: SsmServer;
let ssm: SSMClient;

const clientFor = (endpoint: string, maxAttempts?: number) =>
  new SSMClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, ...(maxAttempts ? { maxAttempts } : {}) });


beforeAll(async () => {
  server = await startSsmServer();
  ssm = clientFor(server.endpoint);
});

afterAll(async () => {
  ssm.destroy();
  await server.stop();
});

test('String, StringList and SecureString come back typed; a SecureString is plaintext only WithDecryption', async () => {
  await ssm.send(new PutParameterCommand({ Name: '/t1/host', Value: 'db.internal', Type: 'String' }));
  await ssm.send(new PutParameterCommand({ Name: '/t1/zones', Value: 'a,b,c', Type: 'StringList' }));
  const put = await ssm.send(new PutParameterCommand({ Name: '/t1/password', Value: 's3cr3t-value', Type: 'SecureString' }));
  expect(put).toMatchObject({ Version: 1, Tier: 'Standard' });

  const plain = (await ssm.send(new GetParameterCommand({ Name: '/t1/password' }))).Parameter!;
  expect(plain).toMatchObject({ Name: '/t1/password', Type: 'SecureString', Version: 1, ARN: 'arn:aws:ssm:us-east-1:000000000000:parameter/t1/password', DataType: 'text' });
  expect(plain.Value).toMatch(/^[A-Za-z0-9+/]+=*$/);
  expect(Buffer.from(plain.Value!, 'base64').toString('latin1')).not.toContain('s3cr3t');
  expect(plain.LastModifiedDate).toBeInstanceOf(Date);
  const decrypted = (await ssm.send(new GetParameterCommand({ Name: '/t1/password', WithDecryption: true }))).Parameter!;
  expect(decrypted.Value).toBe('s3cr3t-value');
  // The placeholder belongs to the version: reading twice gives the same ciphertext-like value.
  expect((await ssm.send(new GetParameterCommand({ Name: '/t1/password' }))).Parameter!.Value).toBe(plain.Value);

  const many = await ssm.send(new GetParametersCommand({ Names: ['/t1/host', '/t1/zones', '/t1/missing'], WithDecryption: false }));
  expect(many.Parameters!.map((p) => [p.Name, p.Type, p.Value])).toEqual([
    ['/t1/host', 'String', 'db.internal'],
    ['/t1/zones', 'StringList', 'a,b,c'],
  ]);
  expect(many.InvalidParameters).toEqual(['/t1/missing']);
  expect(server.calls.filter((c) => c.name?.startsWith('/t1/')).every((c) => c.signed)).toBe(true);
});

test('overwrite: a name in use needs Overwrite, each write is a new version, the type stays, tags only on create', async () => {
  await ssm.send(new PutParameterCommand({ Name: '/t2/key', Value: 'v1', Type: 'SecureString', KeyId: 'alias/neuroca-config', Tags: [{ Key: 'team', Value: 'nca' }] }));
  const again = await rejection(ssm.send(new PutParameterCommand({ Name: '/t2/key', Value: 'v2', Type: 'SecureString' })));
  expect(again.name).toBe('ParameterAlreadyExists');

  const tagged = await rejection(ssm.send(new PutParameterCommand({ Name: '/t2/key', Value: 'v2', Overwrite: true, Tags: [{ Key: 'team', Value: 'x' }] })));
  expect(tagged.name).toBe('ValidationException');
  expect(tagged.message).toMatch(/tags and overwrite can't be used together/);

  const retyped = await rejection(ssm.send(new PutParameterCommand({ Name: '/t2/key', Value: 'v2', Type: 'String', Overwrite: true })));
  expect(retyped.name).toBe('HierarchyTypeMismatchException');
  const keyOnString = await rejection(ssm.send(new PutParameterCommand({ Name: '/t2/other', Value: 'x', Type: 'String', KeyId: 'alias/neuroca-config' })));
  expect(keyOnString.name).toBe('ValidationException');
  const untyped = await rejection(ssm.send(new PutParameterCommand({ Name: '/t2/new', Value: 'x' })));
  expect(untyped.message).toBe('A parameter type is required when you create a parameter.');

  // Type left out keeps SecureString; KeyId left out is the default key for that version, as in SSM.
  expect((await ssm.send(new PutParameterCommand({ Name: '/t2/key', Value: 'v2', Overwrite: true }))).Version).toBe(2);
  expect((await ssm.send(new PutParameterCommand({ Name: '/t2/key', Value: 'v3', Type: 'SecureString', KeyId: 'alias/neuroca-config', Overwrite: true }))).Version).toBe(3);
  const history = (await ssm.send(new GetParameterHistoryCommand({ Name: '/t2/key', WithDecryption: true }))).Parameters!;
  expect(history.map((h) => [h.Version, h.Type, h.KeyId, h.Value])).toEqual([
    [1, 'SecureString', 'alias/neuroca-config', 'v1'],
    [2, 'SecureString', 'alias/aws/ssm', 'v2'],
    [3, 'SecureString', 'alias/neuroca-config', 'v3'],
  ]);
  expect((await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/t2/key' }))).TagList).toEqual([{ Key: 'team', Value: 'nca' }]);
});

test('GetParametersByPath: one level or recursive, at most 10 a page, every parameter exactly once across NextTokens', async () => {
  for (let i = 0; i < 17; i++) server.put(`/t3/app/p${String(i).padStart(2, '0')}`, `value-${i}`, { type: i % 3 === 0 ? 'SecureString' : 'String' });
  server.put('/t3/app/deep/one', 'nested');
  server.put('/t3/application', 'not under /t3/app');

  const first = await ssm.send(new GetParametersByPathCommand({ Path: '/t3/app', Recursive: true, MaxResults: 10 }));
  expect(first.Parameters).toHaveLength(10);
  expect(first.NextToken).toEqual(expect.any(String));
  const second = await ssm.send(new GetParametersByPathCommand({ Path: '/t3/app', Recursive: true, MaxResults: 10, NextToken: first.NextToken }));
  expect(second.Parameters).toHaveLength(8);
  expect(second.NextToken).toBeUndefined();

  const collect = async (input: { Path: string; Recursive?: boolean; WithDecryption?: boolean }) => {
    const all: Parameter[] = [];
    for await (const pageOut of paginateGetParametersByPath({ client: ssm, pageSize: 4 }, input)) all.push(...pageOut.Parameters!);
    return all;
  };
  const recursive = await collect({ Path: '/t3/app/', Recursive: true, WithDecryption: true });
  expect(recursive.map((p) => p.Name)).toEqual([...Array.from({ length: 17 }, (_, i) => `/t3/app/p${String(i).padStart(2, '0')}`), '/t3/app/deep/one'].sort());
  expect(recursive.find((p) => p.Name === '/t3/app/p03')).toMatchObject({ Type: 'SecureString', Value: 'value-3' });
  const oneLevel = await collect({ Path: '/t3/app' });
  expect(oneLevel).toHaveLength(17);
  expect(oneLevel.find((p) => p.Name === '/t3/app/p03')!.Value).not.toBe('value-3');

  const secure = await ssm.send(new GetParametersByPathCommand({ Path: '/t3', Recursive: true, ParameterFilters: [{ Key: 'Type', Option: 'Equals', Values: ['SecureString'] }] }));
  expect(secure.Parameters!.map((p) => p.Name)).toEqual(['/t3/app/p00', '/t3/app/p03', '/t3/app/p06', '/t3/app/p09', '/t3/app/p12', '/t3/app/p15']);

  expect((await rejection(ssm.send(new GetParametersByPathCommand({ Path: '/t3', MaxResults: 11 })))).name).toBe('ValidationException');
  expect((await rejection(ssm.send(new GetParametersByPathCommand({ Path: '/t3', ParameterFilters: [{ Key: 'Name', Values: ['x'] }] })))).name).toBe('InvalidFilterKey');
  expect((await rejection(ssm.send(new GetParametersByPathCommand({ Path: '/t3', NextToken: 'garbage' })))).name).toBe('InvalidNextToken');
});

test('labels: attach to a version, move between versions, select with name:label and name:version', async () => {
  for (const value of ['one', 'two', 'three']) server.put('/t4/flag', value);
  const labelled = await ssm.send(new LabelParameterVersionCommand({ Name: '/t4/flag', ParameterVersion: 2, Labels: ['stable', '1bad', 'awsreserved'] }));
  expect(labelled).toMatchObject({ ParameterVersion: 2, InvalidLabels: ['1bad', 'awsreserved'] });
  expect((await ssm.send(new GetParameterCommand({ Name: '/t4/flag:stable' }))).Parameter).toMatchObject({ Name: '/t4/flag', Value: 'two', Version: 2, Selector: ':stable' });

  // No version given: the latest; the label leaves version 2.
  expect((await ssm.send(new LabelParameterVersionCommand({ Name: '/t4/flag', Labels: ['stable'] }))).ParameterVersion).toBe(3);
  const history = (await ssm.send(new GetParameterHistoryCommand({ Name: '/t4/flag' }))).Parameters!;
  expect(history.map((h) => [h.Version, h.Labels])).toEqual([
    [1, []],
    [2, []],
    [3, ['stable']],
  ]);
  expect((await ssm.send(new GetParameterCommand({ Name: '/t4/flag:1' }))).Parameter!.Value).toBe('one');
  const byLabel = await ssm.send(new GetParametersByPathCommand({ Path: '/t4', ParameterFilters: [{ Key: 'Label', Option: 'Equals', Values: ['stable'] }] }));
  expect(byLabel.Parameters!.map((p) => [p.Name, p.Version])).toEqual([['/t4/flag', 3]]);

  expect((await rejection(ssm.send(new GetParameterCommand({ Name: '/t4/flag:9' })))).name).toBe('ParameterVersionNotFound');
  expect((await rejection(ssm.send(new GetParameterCommand({ Name: '/t4/flag:nolabel' })))).name).toBe('ParameterNotFound');
  expect((await rejection(ssm.send(new LabelParameterVersionCommand({ Name: '/t4/flag', ParameterVersion: 9, Labels: ['x'] })))).name).toBe('ParameterVersionNotFound');
  const history2 = await ssm.send(new GetParameterHistoryCommand({ Name: '/t4/flag', MaxResults: 2 }));
  expect(history2.Parameters!.map((h) => h.Version)).toEqual([1, 2]);
  expect((await ssm.send(new GetParameterHistoryCommand({ Name: '/t4/flag', MaxResults: 2, NextToken: history2.NextToken }))).Parameters!.map((h) => h.Version)).toEqual([3]);
});

test('DescribeParameters: type, key id, version and modification time per parameter, filtered by path, in pages', async () => {
  server.put('/t5/a', 'x', { type: 'SecureString', keyId: 'arn:aws:kms:us-east-1:000000000000:key/1234', description: 'db password' });
  server.put('/t5/b', 'y', { type: 'StringList' });
  server.put('/t5/b', 'y,z');
  server.put('/t5/c/d', 'deeper');

  const described: { Name?: string; Type?: string; KeyId?: string; Version?: number; LastModifiedDate?: Date; Description?: string }[] = [];
  for await (const pageOut of paginateDescribeParameters({ client: ssm, pageSize: 1 }, { ParameterFilters: [{ Key: 'Path', Option: 'OneLevel', Values: ['/t5'] }] })) {
    expect(pageOut.Parameters!.length).toBeLessThanOrEqual(1);
    described.push(...pageOut.Parameters!);
  }
  expect(described.map((p) => [p.Name, p.Type, p.KeyId, p.Version, p.Description])).toEqual([
    ['/t5/a', 'SecureString', 'arn:aws:kms:us-east-1:000000000000:key/1234', 1, 'db password'],
    ['/t5/b', 'StringList', undefined, 2, undefined],
  ]);
  const current = (await ssm.send(new GetParameterCommand({ Name: '/t5/b' }))).Parameter!;
  expect(described[1].LastModifiedDate).toEqual(current.LastModifiedDate);

  const byKey = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'KeyId', Values: ['arn:aws:kms:us-east-1:000000000000:key/1234'] }] }));
  expect(byKey.Parameters!.map((p) => p.Name)).toEqual(['/t5/a']);
  const recursive = await ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: ['/t5'] }, { Key: 'Name', Option: 'BeginsWith', Values: ['/t5/c'] }] }));
  expect(recursive.Parameters!.map((p) => p.Name)).toEqual(['/t5/c/d']);
  expect((await rejection(ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Label', Values: ['x'] }] })))).name).toBe('InvalidFilterKey');
});

test('tags: added tags merge with those given at creation; another resource type or an unknown name is refused', async () => {
  server.put('/t6/p', 'v', { tags: { owner: 'ops', env: 'dev' } });
  await ssm.send(new AddTagsToResourceCommand({ ResourceType: 'Parameter', ResourceId: '/t6/p', Tags: [{ Key: 'env', Value: 'prod' }, { Key: 'backup', Value: 'yes' }] }));
  const tags = (await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/t6/p' }))).TagList!;
  expect(Object.fromEntries(tags.map((t) => [t.Key, t.Value]))).toEqual({ owner: 'ops', env: 'prod', backup: 'yes' });
  expect((await rejection(ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: '/t6/none' })))).name).toBe('InvalidResourceId');
  expect((await rejection(ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Document', ResourceId: '/t6/p' })))).name).toBe('InvalidResourceType');
});

test('DeleteParameter removes a parameter; reading or deleting it afterwards is ParameterNotFound', async () => {
  server.put('/t7/gone', 'soon');
  await ssm.send(new DeleteParameterCommand({ Name: '/t7/gone' }));
  const read = await rejection(ssm.send(new GetParameterCommand({ Name: '/t7/gone' })));
  expect(read.name).toBe('ParameterNotFound');
  expect(read.$metadata?.httpStatusCode).toBe(400);
  expect((await rejection(ssm.send(new DeleteParameterCommand({ Name: '/t7/gone' })))).name).toBe('ParameterNotFound');
  expect((await rejection(ssm.send(new GetParameterHistoryCommand({ Name: '/t7/gone' })))).name).toBe('ParameterNotFound');
});

test('a throttled call is retried by the SDK and succeeds; without retries the ThrottlingException surfaces', async () => {
  server.put('/t8/p', 'after-throttle');
  const before = server.calls.length;
  server.failNext(1, 400, 'ThrottlingException');
  expect((await ssm.send(new GetParameterCommand({ Name: '/t8/p' }))).Parameter!.Value).toBe('after-throttle');
  expect(server.calls.slice(before).map((c) => [c.operation, c.name])).toEqual([
    ['GetParameter', '/t8/p'],
    ['GetParameter', '/t8/p'],
  ]);

  const once = clientFor(server.endpoint, 1);
  server.failNext(1, 400, 'ThrottlingException');
  const throttled = await rejection(once.send(new GetParameterCommand({ Name: '/t8/p' })));
  once.destroy();
  expect(throttled.name).toBe('ThrottlingException');
});

test('on the wire: JSON 1.1 with X-Amz-Target, timestamps as epoch seconds, errors as __type and message', async () => {
  server.put('/t9/p', 'v');
  const call = async (operation: string, body: unknown) => {
    const response = await fetch(server.endpoint, { method: 'POST', headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': `AmazonSSM.${operation}` }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const found = await call('GetParameter', { Name: '/t9/p' });
  expect(found.status).toBe(200);
  expect(typeof (found.body.Parameter as { LastModifiedDate: unknown }).LastModifiedDate).toBe('number');
  expect(await call('GetParameter', { Name: '/t9/none' })).toEqual({ status: 400, body: { __type: 'ParameterNotFound', message: 'Parameter /t9/none not found.' } });
  expect((await call('SendCommand', {})).body.__type).toBe('UnknownOperationException');
  expect(server.calls[server.calls.length - 1]).toMatchObject({ operation: 'SendCommand', signed: false });
});
