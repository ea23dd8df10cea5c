/**
 * Issue 8 in the templates: the manifest HMAC key and who may use it, deletes that only the janitor and the
 * break-glass role may make, Object Lock on by default with its opt-out, and the janitor itself.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { parseBackupConfig } from '../../config/load';
import { GUARDED_BUCKET_ACTIONS, GUARDED_DELETE_ACTIONS, GUARDED_VERSION_ACTIONS } from '../../infra/constructs/backup-vault';
import { MANIFEST_KEY_ALIAS } from '../../infra/constructs/keys';
import { asArray, configWith, logicalId, render, runtimeConfigOf, statementsOfRole, synthTemplates } from './fixture-config';

const BREAK_GLASS = 'arn:<Partition>:iam::<AccountId>:role/nca-backup-break-glass';

function roleIds(template: Template): string[] {
  return Object.keys(template.findResources('AWS::IAM::Role'));
}

function actionsOf(statement: any): string[] {
  return asArray(statement.Action);
}

function vaultPolicy(template: Template, bucketName: string): any[] {
  const bucketId = Object.entries(template.findResources('AWS::S3::Bucket')).find(([, r]) => (r as any).Properties.BucketName === bucketName)![0];
  const policy = Object.values(template.findResources('AWS::S3::BucketPolicy')).find((p: any) => p.Properties.Bucket.Ref === bucketId) as any;
  return policy.Properties.PolicyDocument.Statement;
}

/** aws:PrincipalArn values a deny statement excepts, rendered (the CloudFormation role as its Fn::Sub text). */
function exceptions(statement: any): string[] {
  return asArray(statement.Condition.ArnNotLike['aws:PrincipalArn']).map((v: any) => (v['Fn::Sub'] ? v['Fn::Sub'] : render(v)));
}

const config = configWith((c) => {
  c.sources.redis = { db: 0, keyPatterns: ['*'] };
});
const { primary, recovery } = synthTemplates(config);

describe('manifest HMAC key', () => {
  const keyId = logicalId(primary, 'AWS::KMS::Key', 'ManifestKey');

  test('HMAC_256 for GENERATE_VERIFY_MAC, multi-Region, retained, under its alias', () => {
    const key = primary.toJSON().Resources[keyId];
    expect(key.Properties).toMatchObject({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC', MultiRegion: true });
    expect(key.Properties.EnableKeyRotation).toBeUndefined();
    expect(key.DeletionPolicy).toBe('Retain');
    primary.hasResourceProperties('AWS::KMS::Alias', { AliasName: MANIFEST_KEY_ALIAS, TargetKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
  });

  test('kms:GenerateMac only for the backup workers (Lambda and Fargate of each component), HMAC_SHA_256 only', () => {
    const generators = roleIds(primary).filter((role) => statementsOfRole(primary, role).some((s) => actionsOf(s).some((a) => /^kms:(GenerateMac|\*)$/.test(a))));
    expect(generators.sort()).toEqual(
      ['WorkerpostgresFunctionRole', 'WorkerpostgresTaskRole', 'WorkerredisFunctionRole', 'WorkerredisTaskRole'].map((f) => logicalId(primary, 'AWS::IAM::Role', f)).sort(),
    );
    for (const role of generators) {
      const mac = statementsOfRole(primary, role).filter((s) => actionsOf(s).some((a) => a.endsWith('Mac')));
      expect(mac).toEqual([
        {
          Sid: 'ManifestMacGenerate',
          Effect: 'Allow',
          Action: ['kms:GenerateMac', 'kms:VerifyMac'],
          Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
          Condition: { StringEquals: { 'kms:MacAlgorithm': 'HMAC_SHA_256' } },
        },
      ]);
    }
  });

  test('resolve-restore, which reads manifests, may only VerifyMac; no other control-plane role touches the key', () => {
    const resolve = logicalId(primary, 'AWS::IAM::Role', 'ControlPlaneResolveRestoreRole');
    expect(statementsOfRole(primary, resolve).filter((s) => actionsOf(s).some((a) => a.endsWith('Mac')))).toEqual([
      expect.objectContaining({ Sid: 'ManifestMacVerify', Action: 'kms:VerifyMac', Resource: { 'Fn::GetAtt': [keyId, 'Arn'] } }),
    ]);
    for (const fragment of ['ControlPlanePlanRole', 'ControlPlaneFinalizeRole', 'ControlPlaneReleaseLockRole', 'JanitorRole']) {
      const statements = statementsOfRole(primary, logicalId(primary, 'AWS::IAM::Role', fragment));
      expect(statements.flatMap(actionsOf).filter((a) => a.endsWith('Mac'))).toEqual([]);
    }
  });

  test('the primary stack replicates the key into the recovery region once, and keeps the replica', () => {
    const replicas = Object.values(primary.findResources('Custom::NcaManifestKeyReplica')) as any[];
    expect(replicas).toHaveLength(1);
    const create = JSON.parse(render(replicas[0].Properties.Create));
    expect(create).toMatchObject({
      service: 'KMS',
      action: 'ReplicateKey',
      region: 'us-west-2',
      parameters: { KeyId: `<GetAtt:${keyId}.Arn>`, ReplicaRegion: 'eu-central-1' },
      ignoreErrorCodesMatching: 'AlreadyExistsException',
    });
    // No update or delete call: a stack update never replicates again, a stack deletion keeps the replica.
    expect(replicas[0].Properties.Update).toBeUndefined();
    expect(replicas[0].Properties.Delete).toBeUndefined();
  });

  test('the key ARN reaches every function as manifestKey.kmsKeyId', () => {
    const workers = Object.keys(primary.findResources('AWS::Lambda::Function')).filter((id) => id.startsWith('Worker'));
    const fns = [...['ControlPlanePlan', 'ControlPlaneResolveRestore', 'ControlPlaneReleaseLock', 'JanitorFunction'].map((f) => logicalId(primary, 'AWS::Lambda::Function', f)), ...workers];
    expect(workers.length).toBeGreaterThanOrEqual(2);
    for (const fn of fns) expect(runtimeConfigOf(primary, fn).manifestKey).toEqual({ kmsKeyId: `<GetAtt:${keyId}.Arn>` });
  });
});

describe('deletes', () => {
  test('no worker role may delete a backup: only its lock and step results; none may delete versions', () => {
    for (const fragment of ['WorkerpostgresFunctionRole', 'WorkerpostgresTaskRole', 'WorkerredisFunctionRole', 'WorkerredisTaskRole']) {
      const statements = statementsOfRole(primary, logicalId(primary, 'AWS::IAM::Role', fragment));
      const deletes = statements.filter((s) => actionsOf(s).some((a) => /^s3:(Delete|\*)/.test(a) || a === 's3:*'));
      const component = fragment.includes('postgres') ? 'postgres' : 'redis';
      expect(deletes).toHaveLength(1);
      expect(actionsOf(deletes[0])).toEqual(['s3:DeleteObject']);
      expect(asArray(deletes[0].Resource).map(render)).toEqual([
        `arn:<Partition>:s3:::neuroca-backups/backups/database/${component}/_lock.json`,
        `arn:<Partition>:s3:::neuroca-backups/backups/database/${component}/_steps/*`,
      ]);
    }
  });

  test('delete markers do not replicate and the replication role cannot replicate deletes', () => {
    const bucket = Object.values(primary.findResources('AWS::S3::Bucket', { Properties: { BucketName: 'neuroca-backups' } }))[0] as any;
    for (const rule of bucket.Properties.ReplicationConfiguration.Rules) expect(rule.DeleteMarkerReplication).toEqual({ Status: 'Disabled' });
    expect(JSON.stringify(primary.findResources('AWS::IAM::Policy'))).not.toContain('s3:ReplicateDelete');
  });

  test('the primary vault policy refuses deletes to all but the janitor and the break-glass role, except locks and step results', () => {
    const statements = vaultPolicy(primary, 'neuroca-backups');
    const deletes = statements.find((s) => s.Sid === 'DenyDeletesButJanitorAndBreakGlass');
    expect(deletes).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: GUARDED_DELETE_ACTIONS });
    expect(exceptions(deletes)).toEqual([`<GetAtt:${logicalId(primary, 'AWS::IAM::Role', 'JanitorRole')}.Arn>`, BREAK_GLASS]);
    const bucketId = logicalId(primary, 'AWS::S3::Bucket', 'VaultBucket');
    expect(asArray(deletes.NotResource).map(render)).toEqual(
      ['postgres', 'redis'].flatMap((c) => [`<GetAtt:${bucketId}.Arn>/backups/database/${c}/_lock.json`, `<GetAtt:${bucketId}.Arn>/backups/database/${c}/_steps/*`]),
    );
    const versions = statements.find((s) => s.Sid === 'DenyVersionDeletesButBreakGlass');
    expect(actionsOf(versions).sort()).toEqual([...GUARDED_VERSION_ACTIONS].sort());
    expect(actionsOf(versions)).toEqual(expect.arrayContaining(['s3:DeleteObjectVersion', 's3:BypassGovernanceRetention']));
    expect(exceptions(versions)).toEqual([BREAK_GLASS]);
    const changes = statements.find((s) => s.Sid === 'DenyVaultChangesButBreakGlass');
    expect(actionsOf(changes)).toEqual(expect.arrayContaining(['s3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutLifecycleConfiguration', 's3:PutReplicationConfiguration']));
    expect(actionsOf(changes).sort()).toEqual([...GUARDED_BUCKET_ACTIONS].sort());
    // The break-glass role and the role CloudFormation deploys with (it sets the policy and lifecycle on every deploy).
    expect(exceptions(changes)).toEqual([BREAK_GLASS, 'arn:${AWS::Partition}:iam::${AWS::AccountId}:role/cdk-hnb659fds-cfn-exec-role-${AWS::AccountId}-us-west-2']);
  });

  test('the recovery vault refuses every delete but the break-glass role\'s', () => {
    const statements = vaultPolicy(recovery, 'neuroca-dr-backups');
    const deletes = statements.find((s) => s.Sid === 'DenyDeletesButJanitorAndBreakGlass');
    expect(deletes.NotResource).toBeUndefined();
    expect(render(deletes.Resource)).toMatch(/\/\*$/);
    expect(exceptions(deletes)).toEqual([BREAK_GLASS]);
    expect(exceptions(statements.find((s) => s.Sid === 'DenyVersionDeletesButBreakGlass'))).toEqual([BREAK_GLASS]);
  });

  test('the janitor: hourly, may list and delete under the configured components only, never versions', () => {
    const role = logicalId(primary, 'AWS::IAM::Role', 'JanitorRole');
    const s3 = statementsOfRole(primary, role).filter((s) => actionsOf(s).some((a) => a.startsWith('s3:')));
    const byAction = (action: string) => s3.filter((s) => actionsOf(s).includes(action)).flatMap((s) => asArray(s.Resource).map(render));
    expect(byAction('s3:DeleteObject')).toEqual(['arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/*', 'arn:<Partition>:s3:::neuroca-backups/backups/database/redis/*']);
    expect(byAction('s3:GetObject')).toEqual([
      'arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/_lock.json',
      'arn:<Partition>:s3:::neuroca-backups/backups/database/redis/_lock.json',
    ]);
    expect(s3.flatMap(actionsOf).sort()).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:ListBucket']);
    const fn = logicalId(primary, 'AWS::Lambda::Function', 'JanitorFunction');
    primary.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(1 hour)', Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [fn, 'Arn'] } })] });
    // A failed sweep alarms on the alarm topic.
    primary.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Errors',
      Namespace: 'AWS/Lambda',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: fn } }],
      Threshold: 1,
      AlarmActions: [{ Ref: logicalId(primary, 'AWS::SNS::Topic', 'Alarms') }],
    });
  });

  test('another installation\'s break-glass role is <installation>-break-glass, and the vault policies except that one', () => {
    const other = synthTemplates(configWith((c) => (c.installation = 'archive-2')));
    expect(Object.keys(other.primary.findResources('AWS::IAM::Role', { Properties: { RoleName: 'archive-2-break-glass' } }))).toHaveLength(1);
    expect(exceptions(vaultPolicy(other.recovery, 'neuroca-dr-backups').find((s) => s.Sid === 'DenyVersionDeletesButBreakGlass'))).toEqual([
      'arn:<Partition>:iam::<AccountId>:role/archive-2-break-glass',
    ]);
  });

  test('the break-glass role is created by name, MFA only; a configured ARN is referenced, not created', () => {
    const role = Object.values(primary.findResources('AWS::IAM::Role', { Properties: { RoleName: 'nca-backup-break-glass' } })) as any[];
    expect(role).toHaveLength(1);
    expect(role[0].Properties.AssumeRolePolicyDocument.Statement).toEqual([
      expect.objectContaining({ Condition: { Bool: { 'aws:MultiFactorAuthPresent': 'true' } } }),
    ]);
    const arn = 'arn:aws:iam::123456789012:role/ops/vault-admin';
    const referenced = synthTemplates(configWith((c) => (c.storage.breakGlassRole = arn)));
    expect(referenced.primary.findResources('AWS::IAM::Role', { Properties: { RoleName: 'nca-backup-break-glass' } })).toEqual({});
    for (const [template, bucket] of [[referenced.primary, 'neuroca-backups'], [referenced.recovery, 'neuroca-dr-backups']] as const) {
      expect(exceptions(vaultPolicy(template, bucket).find((s) => s.Sid === 'DenyVersionDeletesButBreakGlass'))).toEqual([arn]);
    }
  });
});

describe('Object Lock', () => {
  const repoYaml = readFileSync(path.join(__dirname, '..', '..', 'backup.yaml'), 'utf8');

  test('on by default: the repository\'s backup.yaml gives GOVERNANCE for the shortest retention in both vaults', () => {
    const loaded = parseBackupConfig(repoYaml);
    expect(loaded.storage.objectLock).toEqual({ mode: 'GOVERNANCE', days: 14 });
    const t = synthTemplates(loaded);
    for (const [template, name] of [[t.primary, 'neuroca-backups-<AccountId>-us-west-2'], [t.recovery, 'neuroca-dr-backups-<AccountId>-eu-central-1']] as const) {
      const vaults = (Object.values(template.findResources('AWS::S3::Bucket')) as any[]).filter((b) => b.Properties.BucketName && render(b.Properties.BucketName) === name);
      expect(vaults.map((b) => [b.Properties.ObjectLockEnabled, b.Properties.ObjectLockConfiguration])).toEqual([
        [true, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 14 } } }],
      ]);
    }
  });

  test('days follow the shortest retention; mode and days can be set; object_lock: false opts out', () => {
    const withStorage = (extra: string) => repoYaml.replace(/\n  retention:\n/, `\n${extra}  retention:\n`);
    const shorter = parseBackupConfig(repoYaml.replace('memory_tiers: 14d', 'memory_tiers: 10d'));
    expect(shorter.storage.objectLock).toEqual({ mode: 'GOVERNANCE', days: 10 });
    expect(parseBackupConfig(withStorage('    object_lock:\n      mode: COMPLIANCE\n')).storage.objectLock).toEqual({ mode: 'COMPLIANCE', days: 14 });
    expect(parseBackupConfig(withStorage('    object_lock:\n      days: 7\n')).storage.objectLock).toEqual({ mode: 'GOVERNANCE', days: 7 });
    expect(parseBackupConfig(withStorage('    object_lock: false\n')).storage.objectLock).toBeUndefined();
  });

  test('break_glass_role takes a role name or a role ARN, nothing else', () => {
    const withRole = (value: string) => repoYaml.replace(/\n  retention:\n/, `\n    break_glass_role: "${value}"\n  retention:\n`);
    expect(parseBackupConfig(withRole('vault-admin')).storage.breakGlassRole).toBe('vault-admin');
    expect(parseBackupConfig(withRole('arn:aws:iam::210987654321:role/ops/vault-admin')).storage.breakGlassRole).toBe('arn:aws:iam::210987654321:role/ops/vault-admin');
    expect(() => parseBackupConfig(withRole('arn:aws:iam::210987654321:user/bob'))).toThrow(/break_glass_role/);
    expect(() => parseBackupConfig(withRole('arn:aws:iam::123456789012:role/ops/vault-admin'))).toThrow(/break_glass_role: names the account 123456789012, an example account/);
    expect(() => parseBackupConfig(withRole('no spaces allowed'))).toThrow(/break_glass_role/);
  });
});
