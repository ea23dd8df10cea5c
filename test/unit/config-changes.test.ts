/**
 * Which EventBridge events are configuration changes, and the debounce window a change falls in. The
 * events are shaped as the services send them (Systems Manager's, Secrets Manager's and S3's EventBridge
 * event examples; CloudTrail hides SecretString in requestParameters).
 */
import { CHANGE_SETTLE_SECONDS, CHANGE_WINDOW_SECONDS, changedItem, changeWindow } from '../../functions/core/config-changes';

const envelope = (source: string, detailType: string, detail: Record<string, unknown>) => ({
  version: '0',
  id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
  'detail-type': detailType,
  source,
  account: '123456789012',
  time: '2026-11-30T15:27:12Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

const parameterChange = (operation: string, name = '/neuroca/db/password') =>
  envelope('aws.ssm', 'Parameter Store Change', { operation, name, type: 'SecureString', description: 'NCA database password' });

const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:neuroca/openai-AbCdEf';

const secretsCall = (eventName: string, requestParameters: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  envelope('aws.secretsmanager', 'AWS API Call via CloudTrail', {
    eventVersion: '1.08',
    userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::123456789012:assumed-role/deploy/ci' },
    eventTime: '2026-11-30T15:27:12Z',
    eventSource: 'secretsmanager.amazonaws.com',
    eventName,
    awsRegion: 'us-east-1',
    requestParameters,
    responseElements: { arn: SECRET_ARN },
    ...extra,
  });

const objectEvent = (detailType: string, key: string) =>
  envelope('aws.s3', detailType, {
    version: '0',
    bucket: { name: 'neuroca-config' },
    object: { key, size: 42, etag: 'b1946ac92492d2347c6235b4d2611184', 'version-id': 'IYV3p45BT0ac8hjHg1houSdS1a.Mro8e', sequencer: '00617F08299329D189' },
    'request-id': 'N4N7GDK58NMKJ12R',
    requester: '123456789012',
    reason: 'PutObject',
  });

describe('changedItem', () => {
  test.each(['Create', 'Update', 'Delete', 'LabelParameterVersion'])('a Parameter Store %s names the parameter', (operation) => {
    expect(changedItem(parameterChange(operation))).toEqual({ kind: 'parameter', name: '/neuroca/db/password' });
  });

  test.each([
    ['PutSecretValue', { secretId: 'neuroca/openai', clientRequestToken: 'f3b1c1e2-0d7a-4d8e-9f1a-2b3c4d5e6f70', secretString: 'HIDDEN_DUE_TO_SECURITY_REASONS' }, 'neuroca/openai'],
    ['UpdateSecret', { secretId: SECRET_ARN, description: 'rotated by hand' }, SECRET_ARN],
    ['UpdateSecretVersionStage', { secretId: 'neuroca/openai', versionStage: 'AWSCURRENT', moveToVersionId: 'EXAMPLE1-90ab-cdef-fedc-ba987EXAMPLE' }, 'neuroca/openai'],
    ['RotateSecret', { secretId: 'neuroca/openai', rotateImmediately: true }, 'neuroca/openai'],
    ['CreateSecret', { name: 'neuroca/anthropic', clientRequestToken: 'a0b1c2d3-e4f5-a6b7-c8d9-e0f1a2b3c4d5', secretString: 'HIDDEN_DUE_TO_SECURITY_REASONS' }, 'neuroca/anthropic'],
    ['DeleteSecret', { secretId: 'neuroca/openai', recoveryWindowInDays: 30 }, 'neuroca/openai'],
    ['RestoreSecret', { secretId: 'neuroca/openai' }, 'neuroca/openai'],
    ['TagResource', { secretId: 'neuroca/openai', tags: [{ key: 'team', value: 'memory' }] }, 'neuroca/openai'],
    ['UntagResource', { secretId: 'neuroca/openai', tagKeys: ['team'] }, 'neuroca/openai'],
  ])('a Secrets Manager %s names the secret as the call named it, and nothing else of the request', (eventName, request, name) => {
    const item = changedItem(secretsCall(eventName, request));
    expect(item).toEqual({ kind: 'secret', name });
  });

  test('a rotation that succeeded names the secret', () => {
    const event = envelope('aws.secretsmanager', 'AWS Service Event via CloudTrail', {
      eventVersion: '1.05',
      userIdentity: { accountId: '123456789012', invokedBy: 'secretsmanager.amazonaws.com' },
      eventSource: 'secretsmanager.amazonaws.com',
      eventName: 'RotationSucceeded',
      requestParameters: null,
      responseElements: null,
      additionalEventData: { SecretId: SECRET_ARN },
      eventType: 'AwsServiceEvent',
    });
    expect(changedItem(event)).toEqual({ kind: 'secret', name: SECRET_ARN });
  });

  test.each([
    ['Object Created', 'config/neuroca.yaml'],
    ['Object Deleted', 'config/.env'],
  ])('an S3 %s names the object as s3://bucket/key', (detailType, key) => {
    expect(changedItem(objectEvent(detailType, key))).toEqual({ kind: 'file', name: `s3://neuroca-config/${key}` });
  });

  test('a control character in a key is recorded written out, and a name past 2048 UTF-8 bytes is cut between characters', () => {
    expect(changedItem(objectEvent('Object Created', 'config/a\u001b[2Jb.yaml'))?.name).toBe('s3://neuroca-config/config/a\\u001b[2Jb.yaml');
    const long = changedItem(objectEvent('Object Created', `config/${'k'.repeat(3000)}`))!.name;
    expect(Buffer.byteLength(long)).toBe(2048);
    expect(long.endsWith('k…')).toBe(true);
    const wide = changedItem(objectEvent('Object Created', `config/${'設定'.repeat(1000)}`))!.name;
    expect(Buffer.byteLength(wide)).toBeLessThanOrEqual(2048);
    expect(wide).toMatch(/^s3:\/\/neuroca-config\/config\/(設定)+設?…$/);
    expect(changedItem(parameterChange('Update', `/neuroca/${'p'.repeat(2039)}`))!.name).toHaveLength(2048);
  });

  test.each([
    ['a failed call (CloudTrail records it with errorCode)', secretsCall('PutSecretValue', { secretId: 'neuroca/openai' }, { errorCode: 'AccessDenied', errorMessage: 'User is not authorized' })],
    ['a read', secretsCall('GetSecretValue', { secretId: 'neuroca/openai' })],
    ['a rotation that failed', envelope('aws.secretsmanager', 'AWS Service Event via CloudTrail', { eventName: 'RotationFailed', additionalEventData: { SecretId: SECRET_ARN } })],
    ['a call without a secret named', secretsCall('PutSecretValue', {})],
    ['a Parameter Store policy action', envelope('aws.ssm', 'Parameter Store Policy Action', { 'parameter-name': '/neuroca/db/password', 'policy-type': 'Expiration' })],
    ['an EC2 state change', envelope('aws.ec2', 'EC2 Instance State-change Notification', { 'instance-id': 'i-0123456789abcdef0', state: 'running' })],
    ['an S3 object restore', envelope('aws.s3', 'Object Restore Completed', { bucket: { name: 'neuroca-config' }, object: { key: 'config/neuroca.yaml' } })],
    ['a scheduled event', envelope('aws.events', 'Scheduled Event', {})],
    ['no event at all', undefined],
    ['an event without detail', { source: 'aws.ssm', 'detail-type': 'Parameter Store Change' }],
  ])('%s is no configuration change', (_what, event) => {
    expect(changedItem(event)).toBeUndefined();
  });
});

describe('changeWindow', () => {
  test('five-minute windows on the UTC clock, named by their start; the execution reads a minute after the window closes', () => {
    expect([CHANGE_WINDOW_SECONDS, CHANGE_SETTLE_SECONDS]).toEqual([300, 60]);
    expect(changeWindow(new Date('2026-11-30T15:27:12.345Z'))).toEqual({ executionName: 'configuration-change-20261130T1525Z', notBefore: '2026-11-30T15:31:00Z' });
  });

  test('…:04:59.999 and …:05:00.000 fall in different windows; a window crosses no day boundary unnoticed', () => {
    expect(changeWindow(new Date('2026-11-30T15:04:59.999Z')).executionName).toBe('configuration-change-20261130T1500Z');
    expect(changeWindow(new Date('2026-11-30T15:05:00.000Z')).executionName).toBe('configuration-change-20261130T1505Z');
    expect(changeWindow(new Date('2026-12-31T23:59:59.999Z'))).toEqual({ executionName: 'configuration-change-20261231T2355Z', notBefore: '2027-01-01T00:01:00Z' });
  });

  test('notBefore is always after the time the change was handled, by the settle time at least and a window plus it at most', () => {
    const start = Date.parse('2026-11-30T15:25:00.000Z');
    for (const offset of [0, 1, 59_999, 150_000, 299_000, 299_999]) {
      const now = new Date(start + offset);
      const wait = Date.parse(changeWindow(now).notBefore) - now.getTime();
      expect(wait).toBeGreaterThanOrEqual(CHANGE_SETTLE_SECONDS * 1000 + 1);
      expect(wait).toBeLessThanOrEqual((CHANGE_WINDOW_SECONDS + CHANGE_SETTLE_SECONDS) * 1000);
    }
  });

  test('execution names keep to Step Functions\' rules: at most 80 of [A-Za-z0-9-_]', () => {
    expect(changeWindow(new Date('2026-11-30T15:25:00Z')).executionName).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
  });
});
