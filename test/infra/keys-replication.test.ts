/** KMS keys (created vs the configured one, rotation) and cross-region replication with its role and alarm. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { buildStacks } from '../../infra/app';
import { MANIFEST_KEY_ALIAS, REPLICA_KEY_ALIAS } from '../../infra/constructs/keys';
import { DATA_KEY_ARN, configWith, fixtureConfig, logicalId, render, runtimeConfigOf, statementsOfRole, synthTemplates } from './fixture-config';

function vaultEncryptionKey(template: Template, bucketName: string): unknown {
  const bucket = Object.values(template.findResources('AWS::S3::Bucket', { Properties: { BucketName: bucketName } }))[0] as any;
  return bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.KMSMasterKeyID;
}

function workerKmsStatements(template: Template): any[] {
  const role = logicalId(template, 'AWS::IAM::Role', 'WorkerpostgresTaskRole');
  return statementsOfRole(template, role).filter((s) => JSON.stringify(s.Action).includes('kms:'));
}

describe('KMS keys', () => {
  test('the key named by encryption.kms_key_id encrypts the vault; no data key is created', () => {
    const { primary } = synthTemplates(fixtureConfig());
    expect(vaultEncryptionKey(primary, 'neuroca-backups')).toBe(DATA_KEY_ARN);
    // No data key: the primary stack's keys are the operations key (logs, topic, DLQ) and the manifest HMAC key.
    expect(Object.keys(primary.findResources('AWS::KMS::Key')).sort()).toEqual([expect.stringMatching(/^ManifestKey/), expect.stringMatching(/^OperationsKey/)]);
    expect(Object.values(primary.findResources('AWS::KMS::Alias')).map((a: any) => a.Properties.AliasName)).toEqual([MANIFEST_KEY_ALIAS]);
    // Workers are granted exactly that key, through S3 of the primary region only.
    expect(workerKmsStatements(primary).filter((s) => s.Sid === undefined)).toEqual([
      {
        Effect: 'Allow',
        Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        Resource: DATA_KEY_ARN,
        Condition: { StringEquals: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' } },
      },
    ]);
    expect(runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'Workerpostgres')).kmsKeyId).toBe(DATA_KEY_ARN);
  });

  test('without kms_key_id a customer managed key with rotation is created and used everywhere', () => {
    const { primary } = synthTemplates(configWith((c) => delete (c.encryption as { kmsKeyId?: string }).kmsKeyId));
    const dataKey = logicalId(primary, 'AWS::KMS::Key', 'DataKey');
    primary.hasResourceProperties('AWS::KMS::Key', { Description: Match.stringLikeRegexp('primary vault'), EnableKeyRotation: true });
    primary.hasResourceProperties('AWS::KMS::Alias', { AliasName: 'alias/nca-backup', TargetKeyId: { 'Fn::GetAtt': [dataKey, 'Arn'] } });
    expect(vaultEncryptionKey(primary, 'neuroca-backups')).toEqual({ 'Fn::GetAtt': [dataKey, 'Arn'] });
    expect(workerKmsStatements(primary)[0].Resource).toEqual({ 'Fn::GetAtt': [dataKey, 'Arn'] });
    expect(runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'Workerpostgres')).kmsKeyId).toBe(`<GetAtt:${dataKey}.Arn>`);
  });

  test('a key named by alias is granted as key/* narrowed to that alias', () => {
    const { primary } = synthTemplates(configWith((c) => ((c.encryption as { kmsKeyId?: string }).kmsKeyId = 'alias/neuroca-backup')));
    expect(render(vaultEncryptionKey(primary, 'neuroca-backups'))).toBe('arn:<Partition>:kms:us-west-2:<AccountId>:alias/neuroca-backup');
    const [statement] = workerKmsStatements(primary).filter((s) => s.Sid === undefined);
    expect(render(statement.Resource)).toBe('arn:<Partition>:kms:us-west-2:<AccountId>:key/*');
    expect(statement.Condition).toEqual({
      StringEquals: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' },
      'ForAnyValue:StringEquals': { 'kms:ResourceAliases': ['alias/neuroca-backup'] },
    });
    // The operations key and the manifest key; no data key.
    primary.resourceCountIs('AWS::KMS::Key', 2);
  });

  test('every created encryption key rotates (HMAC keys cannot); the recovery region has the replica key under its fixed alias', () => {
    const { primary, recovery } = synthTemplates(configWith((c) => delete (c.encryption as { kmsKeyId?: string }).kmsKeyId));
    for (const template of [primary, recovery]) {
      const keys = (Object.values(template.findResources('AWS::KMS::Key')) as any[]).filter((k) => k.Properties.KeySpec === undefined);
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(key.Properties.EnableKeyRotation).toBe(true);
    }
    const replicaKey = logicalId(recovery, 'AWS::KMS::Key', 'ReplicaKey');
    recovery.hasResourceProperties('AWS::KMS::Alias', { AliasName: REPLICA_KEY_ALIAS, TargetKeyId: { 'Fn::GetAtt': [replicaKey, 'Arn'] } });
    expect(vaultEncryptionKey(recovery, 'neuroca-dr-backups')).toEqual({ 'Fn::GetAtt': [replicaKey, 'Arn'] });
  });
});

describe('an installation other than the default', () => {
  test('gets its own key aliases in both regions, and replication finds its own replica key', () => {
    const { primary, recovery } = synthTemplates(configWith((c) => {
      c.installation = 'archive-2';
      delete (c.encryption as { kmsKeyId?: string }).kmsKeyId;
    }));
    const aliases = (t: Template) => Object.values(t.findResources('AWS::KMS::Alias')).map((a: any) => a.Properties.AliasName).sort();
    expect(aliases(primary)).toEqual(['alias/archive-2', 'alias/archive-2-manifest']);
    expect(aliases(recovery)).toEqual(['alias/archive-2-replica']);
    const bucket = Object.values(primary.findResources('AWS::S3::Bucket', { Properties: { BucketName: 'neuroca-backups' } }))[0] as any;
    const rule = bucket.Properties.ReplicationConfiguration.Rules[0];
    expect(render(rule.Destination.EncryptionConfiguration.ReplicaKmsKeyID)).toBe('arn:<Partition>:kms:eu-central-1:<AccountId>:alias/archive-2-replica');
    expect(recovery.toJSON().Outputs.ReplicaKeyAlias.Value).toBe('alias/archive-2-replica');
  });
});

describe('cross-region replication', () => {
  const { primary, recovery } = synthTemplates(fixtureConfig());
  const bucket = Object.values(primary.findResources('AWS::S3::Bucket', { Properties: { BucketName: 'neuroca-backups' } }))[0] as any;
  const replication = bucket.Properties.ReplicationConfiguration;

  test('everything replicates to the secondary bucket, re-encrypted with the replica key, with metrics (RTC is a choice: costs.test.ts)', () => {
    expect(replication.Rules).toHaveLength(1);
    const [rule] = replication.Rules;
    expect(rule).toMatchObject({
      Status: 'Enabled',
      Filter: { Prefix: '' },
      // A delete in the primary never reaches the recovery vault.
      DeleteMarkerReplication: { Status: 'Disabled' },
      SourceSelectionCriteria: { SseKmsEncryptedObjects: { Status: 'Enabled' } },
      Destination: {
        Metrics: { Status: 'Enabled' },
      },
    });
    expect(rule.Destination.ReplicationTime).toBeUndefined();
    expect(render(rule.Destination.Bucket)).toBe('arn:<Partition>:s3:::neuroca-dr-backups');
    expect(render(rule.Destination.EncryptionConfiguration.ReplicaKmsKeyID)).toBe(`arn:<Partition>:kms:eu-central-1:<AccountId>:${REPLICA_KEY_ALIAS}`);
    // The destination is what the recovery stack creates.
    recovery.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'neuroca-dr-backups', VersioningConfiguration: { Status: 'Enabled' } });
  });

  test('the replication role reads the source, writes replicas, decrypts and encrypts only through S3 of each region', () => {
    const roleId = replication.Role['Fn::GetAtt'][0];
    primary.hasResourceProperties('AWS::IAM::Role', {
      AssumeRolePolicyDocument: { Statement: [Match.objectLike({ Principal: { Service: 's3.amazonaws.com' } })] },
    });
    const statements = statementsOfRole(primary, roleId).map((s) => ({ ...s, Resource: [s.Resource].flat().map(render) }));
    const find = (action: string) => statements.filter((s) => [s.Action].flat().includes(action));
    expect(find('s3:GetObjectVersionForReplication')[0].Resource).toEqual(['arn:<Partition>:s3:::neuroca-backups/*']);
    expect(find('s3:ReplicateObject')[0].Resource).toEqual(['arn:<Partition>:s3:::neuroca-dr-backups/*']);
    expect(find('s3:ReplicateDelete')).toHaveLength(0);
    expect(find('kms:Decrypt')).toEqual([
      expect.objectContaining({ Resource: [DATA_KEY_ARN], Condition: { StringEquals: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' } } }),
    ]);
    expect(find('kms:Encrypt')).toEqual([
      expect.objectContaining({
        Resource: ['arn:<Partition>:kms:eu-central-1:<AccountId>:key/*'],
        Condition: {
          StringEquals: { 'kms:ViaService': 's3.eu-central-1.amazonaws.com' },
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [REPLICA_KEY_ALIAS] },
        },
      }),
    ]);
    // No statement reaches beyond the two vault buckets and the two keys.
    for (const s of statements) for (const r of s.Resource) expect(r).toMatch(/neuroca-(dr-)?backups|:kms:/);
  });

  test('an alarm fires when replication falls more than 6 hours behind (without RTC) for 15 minutes', () => {
    const alarms = Object.values(primary.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'ReplicationLatency' } })) as any[];
    expect(alarms).toHaveLength(1);
    const alarm = alarms[0].Properties;
    expect(alarm).toMatchObject({
      Namespace: 'AWS/S3',
      Threshold: 6 * 3600,
      EvaluationPeriods: 3,
      Period: 300,
      Statistic: 'Maximum',
      ComparisonOperator: 'GreaterThanThreshold',
      AlarmActions: [{ Ref: logicalId(primary, 'AWS::SNS::Topic', 'Alarms') }],
    });
    expect(alarm.Dimensions).toEqual(
      expect.arrayContaining([
        { Name: 'SourceBucket', Value: 'neuroca-backups' },
        { Name: 'DestinationBucket', Value: 'neuroca-dr-backups' },
        { Name: 'RuleId', Value: replication.Rules[0].Id },
      ]),
    );
    expect(alarm.Dimensions).toHaveLength(3);
    primary.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/S3', MetricName: 'OperationsFailedReplication', Threshold: 1 });
  });

  test('two account-agnostic stacks, one per region; the primary deploys after the recovery stack', () => {
    const outdir = mkdtempSync(path.join(tmpdir(), 'nca-stacks-'));
    try {
      const { primary: p, recovery: r } = buildStacks(fixtureConfig(), { bundling: false, outdir });
      expect(p.region).toBe('us-west-2');
      expect(r.region).toBe('eu-central-1');
      expect(p.resolve(p.account)).toEqual({ Ref: 'AWS::AccountId' });
      expect(p.dependencies).toContain(r);
      const other = buildStacks(configWith((c) => (c.storage.secondary.region = 'us-east-2')), { bundling: false, outdir: path.join(outdir, 'other') });
      expect(other.recovery.region).toBe('us-east-2');
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });
});
