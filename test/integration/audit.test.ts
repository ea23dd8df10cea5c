/**
 * The audit function against s3rver (through the conditional-write proxy) and the EventBridge substitute:
 * real-shaped EventBridge events (Step Functions status changes, CloudTrail StartExecution and S3 delete
 * data events, S3 Object Deleted) become records that read back from the vault's audit prefix and reach the
 * bus; a redelivered event leaves the first record as it is; a vault that refuses the write fails typed.
 */
import { handler } from '../../functions/handlers/audit';
import { AUDIT_DETAIL_TYPE, AUDIT_DIR, AUDIT_EVENT_SOURCE, auditRecordKey, type AuditRecord } from '../../functions/core/audit';
import { StorageError } from '../../functions/core/errors';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server';
import { TEST_KMS_KEY, listKeys, readObject, testVault } from '../support/s3';
import { rejection } from '../support/thrown';

const ACCOUNT = '123456789012';
const REGION = 'us-west-2';
const BACKUP = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:BackupStateMachine-AbC`;
const RESTORE = `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:RestoreStateMachine-DeF`;
const OPERATOR = `arn:aws:iam::${ACCOUNT}:role/nca-backup-operator`;
const SCHEDULES = `arn:aws:iam::${ACCOUNT}:role/NcaBackup-SchedulesRole-XyZ`;
const JANITOR = `arn:aws:iam::${ACCOUNT}:role/NcaBackup-JanitorRole-QrS`;
const EXECUTION = `arn:aws:states:${REGION}:${ACCOUNT}:execution:RestoreStateMachine-DeF:0b1c2d3e`;

const assumedRole = (roleArn: string, session: string, mfa: boolean) => ({
  type: 'AssumedRole',
  principalId: `AROAEXAMPLEID:${session}`,
  arn: roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/') + `/${session}`,
  accountId: ACCOUNT,
  accessKeyId: 'ASIAEXAMPLE',
  sessionContext: {
    sessionIssuer: { type: 'Role', principalId: 'AROAEXAMPLEID', arn: roleArn, accountId: ACCOUNT, userName: roleArn.split('/').pop() },
    attributes: { creationDate: '2026-12-01T02:59:00Z', mfaAuthenticated: String(mfa) },
  },
});

/** CloudTrail's record of an operator starting a restore, as EventBridge delivers it. */
const startedByOperator = {
  version: '0',
  id: '6f3c2a52-9f1e-4e0a-8f8e-1c2d3e4f5a6b',
  'detail-type': 'AWS API Call via CloudTrail',
  source: 'aws.states',
  account: ACCOUNT,
  time: '2026-12-01T03:00:01Z',
  region: REGION,
  resources: [],
  detail: {
    eventVersion: '1.09',
    userIdentity: assumedRole(OPERATOR, 'alice', true),
    eventTime: '2026-12-01T03:00:00Z',
    eventSource: 'states.amazonaws.com',
    eventName: 'StartExecution',
    awsRegion: REGION,
    sourceIPAddress: '203.0.113.7',
    userAgent: 'aws-cli/2.22.0',
    requestParameters: { stateMachineArn: RESTORE, input: 'HIDDEN_DUE_TO_SECURITY_REASONS' },
    responseElements: { executionArn: EXECUTION, startDate: 'Dec 1, 2026, 3:00:00 AM' },
    requestID: 'e5c7d4a1-0000-4000-8000-000000000001',
    eventID: '0f1e2d3c-0000-4000-8000-000000000002',
    readOnly: false,
    eventType: 'AwsApiCall',
    managementEvent: true,
    recipientAccountId: ACCOUNT,
    eventCategory: 'Management',
  },
};

/** Step Functions' own status change at the end of that restore. */
const restoreFailed = {
  version: '0',
  id: '315c1398-40ff-a850-213b-158f73e60175',
  'detail-type': 'Step Functions Execution Status Change',
  source: 'aws.states',
  account: ACCOUNT,
  time: '2026-12-01T03:20:00Z',
  region: REGION,
  resources: [EXECUTION],
  detail: {
    executionArn: EXECUTION,
    stateMachineArn: RESTORE,
    name: '0b1c2d3e',
    status: 'FAILED',
    startDate: Date.parse('2026-12-01T03:00:00Z'),
    stopDate: Date.parse('2026-12-01T03:19:58Z'),
    input: JSON.stringify({ component: 'postgres', backupId: '20261130T020000Z-7f3a', options: {} }),
    inputDetails: { included: true },
    output: null,
    outputDetails: { included: false },
    error: 'VerificationError',
    cause: 'postgres: the restored fingerprint differs from the manifest\'s (table public.events: 10 rows, expected 12).',
  },
};

/** The janitor's prune: CloudTrail's S3 data event for a DeleteObjects on the vault. */
const pruned = (bucket: string) => ({
  version: '0',
  id: 'a1b2c3d4-0000-4000-8000-000000000003',
  'detail-type': 'AWS API Call via CloudTrail',
  source: 'aws.s3',
  account: ACCOUNT,
  time: '2026-12-01T04:00:05Z',
  region: REGION,
  resources: [],
  detail: {
    eventVersion: '1.09',
    userIdentity: assumedRole(JANITOR, 'NcaBackup-JanitorFunction-1', false),
    eventTime: '2026-12-01T04:00:04Z',
    eventSource: 's3.amazonaws.com',
    eventName: 'DeleteObjects',
    awsRegion: REGION,
    requestParameters: { bucketName: bucket, Host: `${bucket}.s3.${REGION}.amazonaws.com`, delete: '' },
    responseElements: null,
    resources: [
      { type: 'AWS::S3::Object', ARN: `arn:aws:s3:::${bucket}/backups/blobs/models/sha256/abcdef` },
      { accountId: ACCOUNT, type: 'AWS::S3::Bucket', ARN: `arn:aws:s3:::${bucket}` },
    ],
    eventType: 'AwsApiCall',
    managementEvent: false,
    eventCategory: 'Data',
  },
});

/** S3's own event for a lifecycle expiration (the vault's EventBridge notifications). */
const expired = (bucket: string) => ({
  version: '0',
  id: '2ee9cc15-d022-99ea-1fb8-1b1bac4850f9',
  'detail-type': 'Object Deleted',
  source: 'aws.s3',
  account: ACCOUNT,
  time: '2026-12-01T00:10:00Z',
  region: REGION,
  resources: [`arn:aws:s3:::${bucket}`],
  detail: {
    version: '0',
    bucket: { name: bucket },
    object: { key: 'backups/database/postgres/20261031T020000Z-1a2b/neuroca_db.dump', etag: 'd41d8cd98f00b204e9800998ecf8427e', 'version-id': '1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF', sequencer: '617f0837b476e463' },
    'request-id': '0BH729840619AG5K',
    requester: 's3.amazonaws.com',
    reason: 'Lifecycle Expiration',
    'deletion-type': 'Delete Marker Created',
  },
});

let events: EventBridgeServer;
const saved = { ...process.env };

beforeAll(async () => {
  events = await startEventBridgeServer();
  process.env.NCA_EVENTS_ENDPOINT = events.endpoint;
  process.env.NCA_S3_ENDPOINT = process.env.NCA_TEST_S3_ENDPOINT;
  process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
  process.env.AWS_SECRET_ACCESS_KEY = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
});
afterAll(async () => {
  process.env = saved;
  await events.stop();
});

async function deployment() {
  const { client, bucket } = await testVault();
  process.env.NCA_AUDIT_SETTINGS = JSON.stringify({
    bucket,
    prefix: 'backups/',
    kmsKeyId: TEST_KMS_KEY,
    region: REGION,
    machines: { [BACKUP]: 'backup', [RESTORE]: 'restore' },
    roles: { [SCHEDULES]: 'schedule' },
    janitorRole: JANITOR,
  });
  const stored = async (): Promise<AuditRecord[]> => {
    const keys = await listKeys(client, bucket, `backups/${AUDIT_DIR}`);
    return Promise.all(keys.map(async (key) => JSON.parse((await readObject(client, bucket, key)).toString('utf8')) as AuditRecord));
  };
  return { client, bucket, stored };
}

describe('audit records', () => {
  test('a restore an operator started: who (with MFA) when it started, the outcome and backup id when it ended', async () => {
    const { stored } = await deployment();
    const sentBefore = events.events.length;
    expect(await handler(startedByOperator)).toMatchObject({ recorded: true, written: true });
    expect(await handler(restoreFailed)).toMatchObject({ recorded: true, written: true });

    const records = await stored();
    expect(records).toEqual([
      expect.objectContaining({
        version: 1,
        time: '2026-12-01T03:00:00Z',
        action: 'restore',
        phase: 'started',
        principal: OPERATOR,
        session: 'alice',
        mfa: true,
        executionArn: EXECUTION,
      }),
      expect.objectContaining({
        time: '2026-12-01T03:19:58.000Z',
        action: 'restore',
        phase: 'finished',
        principal: null,
        components: ['postgres'],
        backupIds: ['20261130T020000Z-7f3a'],
        outcome: 'failed',
        executionArn: EXECUTION,
        error: { name: 'VerificationError', cause: expect.stringContaining('fingerprint differs') },
      }),
    ]);
    // Under audit/YYYY/MM/DD/, the bus got the same records.
    const keys = records.map((r) => auditRecordKey(r));
    expect(keys[0]).toMatch(/^audit\/2026\/12\/01\/20261201T030000Z-[0-9a-f]{20}\.json$/);
    expect(events.events.slice(sentBefore)).toEqual(records.map((detail) => ({ source: AUDIT_EVENT_SOURCE, detailType: AUDIT_DETAIL_TYPE, detail, eventBusName: 'default' })));
  });

  test('deletions: the janitor\'s prune and a lifecycle expiration, each with its keys, component and backup id', async () => {
    const { bucket, stored } = await deployment();
    await handler(pruned(bucket));
    await handler(expired(bucket));
    const records = await stored();
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: 'prune', principal: JANITOR, components: ['models'], keys: ['backups/blobs/models/sha256/abcdef'], outcome: 'succeeded' }),
        expect.objectContaining({ action: 'deletion', principal: 'lifecycle', trigger: 'lifecycle', components: ['postgres'], backupIds: ['20261031T020000Z-1a2b'] }),
      ]),
    );
    expect(records).toHaveLength(2);
  });

  test('a start IAM refused (a role without the operator role\'s rights) is recorded as refused, with who tried', async () => {
    const { stored } = await deployment();
    const intruder = `arn:aws:iam::${ACCOUNT}:role/ci-deployer`;
    const refused = {
      ...startedByOperator,
      id: '7a8b9c0d-0000-4000-8000-000000000004',
      detail: {
        ...startedByOperator.detail,
        userIdentity: assumedRole(intruder, 'pipeline', false),
        errorCode: 'AccessDeniedException',
        errorMessage: `User: arn:aws:sts::${ACCOUNT}:assumed-role/ci-deployer/pipeline is not authorized to perform: states:StartExecution on resource: ${RESTORE}`,
        responseElements: null,
      },
    };
    await handler(refused);
    expect(await stored()).toEqual([
      expect.objectContaining({ action: 'restore', phase: 'started', principal: intruder, session: 'pipeline', mfa: false, outcome: 'failed', error: { name: 'AccessDeniedException', cause: expect.stringContaining('not authorized') } }),
    ]);
    expect((await stored())[0].executionArn).toBeUndefined();
  });

  test('events that are not audited write nothing: a RUNNING status change, another state machine', async () => {
    const { stored } = await deployment();
    expect(await handler({ ...restoreFailed, detail: { ...restoreFailed.detail, status: 'RUNNING' } })).toEqual({ recorded: false });
    expect(await handler({ ...startedByOperator, detail: { ...startedByOperator.detail, requestParameters: { stateMachineArn: `${BACKUP}-other` } } })).toEqual({ recorded: false });
    // An audit record's own lifecycle expiration: recording it would start a chain that never ends.
    const own = expired('any');
    expect(await handler({ ...own, detail: { ...own.detail, object: { ...own.detail.object, key: 'backups/audit/2025/11/01/20251101T000000Z-0a1b2c3d4e5f60718293.json' } } })).toEqual({ recorded: false });
    expect(await stored()).toEqual([]);
  });

  test('a redelivered event finds its record and leaves the first copy as it was', async () => {
    const { client, bucket, stored } = await deployment();
    await handler(startedByOperator);
    const [first] = await stored();
    const key = `backups/${auditRecordKey(first)}`;
    const before = await readObject(client, bucket, key);
    // The same event id with different content (as a forged or changed redelivery would be): not written.
    const again = await handler({ ...startedByOperator, detail: { ...startedByOperator.detail, userIdentity: assumedRole(SCHEDULES, 'x', false) } });
    expect(again).toMatchObject({ recorded: true, written: false });
    expect(await readObject(client, bucket, key)).toEqual(before);
    expect(await stored()).toHaveLength(1);
  });

  test('a vault that cannot take the record fails with a typed error naming the write', async () => {
    await deployment();
    const settings = JSON.parse(process.env.NCA_AUDIT_SETTINGS!) as Record<string, unknown>;
    process.env.NCA_AUDIT_SETTINGS = JSON.stringify({ ...settings, bucket: 'nca-no-such-vault-0000' });
    const error = await rejection(handler(startedByOperator));
    expect(error).toBeInstanceOf(StorageError);
    expect((error as Error).message).toMatch(/writing .*audit\/2026\/12\/01\//);
  });
});
