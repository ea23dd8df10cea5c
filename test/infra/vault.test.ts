/** The vault buckets of both regions: lifecycle per group from backup.yaml, policy, logging, Object Lock, cold storage. */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ABORT_MULTIPART_DAYS, NONCURRENT_VERSION_DAYS } from '../../infra/constructs/backup-vault';
import { asArray, configWith, fixtureConfig, render, runtimeConfigOf, synthTemplates } from './fixture-config';

function bucketNamed(template: Template, name: string): { id: string; props: any } {
  const entries = Object.entries(template.findResources('AWS::S3::Bucket')).filter(([, r]) => (r as any).Properties.BucketName === name);
  if (entries.length !== 1) throw new Error(`expected one bucket named ${name}, found ${entries.length}`);
  return { id: entries[0][0], props: (entries[0][1] as any).Properties };
}

function rulesByPrefix(template: Template, bucket: string): Record<string, any> {
  const rules: any[] = bucketNamed(template, bucket).props.LifecycleConfiguration.Rules;
  return Object.fromEntries(rules.filter((r) => r.Prefix !== undefined).map((r) => [r.Prefix, r]));
}

function expirations(template: Template, bucket: string): Record<string, number> {
  return Object.fromEntries(Object.entries(rulesByPrefix(template, bucket)).map(([prefix, r]) => [prefix, r.ExpirationInDays]));
}

function policyStatementsOf(template: Template, bucketId: string): any[] {
  const policies = Object.values(template.findResources('AWS::S3::BucketPolicy')) as any[];
  const policy = policies.find((p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }));
  if (!policy) throw new Error(`no bucket policy for ${bucketId}`);
  return policy.Properties.PolicyDocument.Statement;
}

describe('backup vault', () => {
  const { primary, recovery } = synthTemplates(fixtureConfig());

  test('one lifecycle rule per group prefix, expiring after that group\'s retention days, in both regions', () => {
    const expected = { 'backups/database/': 30, 'backups/memory/': 14, 'backups/config/': 90, 'backups/models/': 180, 'backups/logs/': 90 };
    // Plus the audit records' rule (backup.audit.record_retention_days): written in the primary vault, replicated to the other.
    expect(expirations(primary, 'neuroca-backups')).toEqual({ ...expected, 'backups/audit/': 400 });
    // Replicas keep the primary keys, so the recovery vault expires them under the same prefixes.
    expect(expirations(recovery, 'neuroca-dr-backups')).toEqual({ ...expected, 'backups/audit/': 400 });
  });

  test('retention and prefix in the config change the rules', () => {
    const changed = synthTemplates(
      configWith((c) => {
        c.retention.database = 45;
        c.retention.logs = 7;
        c.storage.primary.prefix = '';
      }),
    );
    expect(expirations(changed.primary, 'neuroca-backups')).toEqual({ 'database/': 45, 'memory/': 14, 'config/': 90, 'models/': 180, 'logs/': 7, 'audit/': 400 });
    expect(expirations(changed.recovery, 'neuroca-dr-backups')['database/']).toBe(45);
  });

  test('noncurrent versions expire, incomplete multipart uploads are aborted bucket-wide', () => {
    const rules: any[] = bucketNamed(primary, 'neuroca-backups').props.LifecycleConfiguration.Rules;
    for (const rule of rules.filter((r) => r.Prefix)) expect(rule.NoncurrentVersionExpiration).toEqual({ NoncurrentDays: NONCURRENT_VERSION_DAYS });
    const bucketWide = rules.filter((r) => r.Prefix === undefined && r.Filter === undefined);
    expect(bucketWide).toEqual([
      expect.objectContaining({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: ABORT_MULTIPART_DAYS }, ExpiredObjectDeleteMarker: true, Status: 'Enabled' }),
    ]);
  });

  test('versioned, SSE-KMS with a bucket key, public access blocked, owner-enforced', () => {
    for (const [template, name] of [[primary, 'neuroca-backups'], [recovery, 'neuroca-dr-backups']] as const) {
      const props = bucketNamed(template, name).props;
      expect(props.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(props.BucketEncryption.ServerSideEncryptionConfiguration).toEqual([
        { BucketKeyEnabled: true, ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: expect.anything() } },
      ]);
      expect(props.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      expect(props.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
    }
  });

  test('bucket policy denies plain HTTP and a PutObject naming another encryption than SSE-KMS, never one without the header', () => {
    for (const [template, name] of [[primary, 'neuroca-backups'], [recovery, 'neuroca-dr-backups']] as const) {
      const statements = policyStatementsOf(template, bucketNamed(template, name).id);
      const denies = statements.filter((s) => s.Effect === 'Deny');
      expect(denies).toContainEqual(expect.objectContaining({ Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }));
      // UploadPart (authorised as s3:PutObject) never carries the header: the deny applies only where the header
      // is present, and the bucket's default SSE-KMS encrypts the rest.
      const puts = denies.filter((s) => [s.Action].flat().includes('s3:PutObject'));
      expect(puts).toEqual([
        expect.objectContaining({
          Principal: { AWS: '*' },
          Condition: {
            Null: { 's3:x-amz-server-side-encryption': 'false' },
            StringNotEquals: { 's3:x-amz-server-side-encryption': 'aws:kms' },
          },
        }),
      ]);
      // No deny fires on a missing header (the old Null: true, or a bare StringNotEquals / …IfExists).
      for (const s of denies) {
        expect(s.Condition?.Null?.['s3:x-amz-server-side-encryption']).not.toBe('true');
        if (s.Condition?.StringNotEquals?.['s3:x-amz-server-side-encryption']) expect(s.Condition.Null).toEqual({ 's3:x-amz-server-side-encryption': 'false' });
        expect(Object.keys(s.Condition ?? {}).filter((op) => op.endsWith('IfExists'))).toEqual([]);
      }
      // Nothing in the vault policy allows anything.
      expect(statements.filter((s) => s.Effect === 'Allow')).toEqual([]);
    }
  });

  test('server access logs go to a separate SSE-S3 bucket with its own lifecycle', () => {
    const vault = bucketNamed(primary, 'neuroca-backups').props;
    const logBucketId = vault.LoggingConfiguration.DestinationBucketName.Ref;
    const logBucket = primary.toJSON().Resources[logBucketId].Properties;
    expect(logBucket.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({ SSEAlgorithm: 'AES256' });
    expect(logBucket.LifecycleConfiguration.Rules).toContainEqual(expect.objectContaining({ ExpirationInDays: 365 }));
    // Log delivery is authorised by bucket policy (no ACLs), limited to the vault bucket as source.
    const allow = policyStatementsOf(primary, logBucketId).find((s) => s.Effect === 'Allow');
    expect(allow).toMatchObject({ Principal: { Service: 'logging.s3.amazonaws.com' }, Action: 's3:PutObject' });
    expect(JSON.stringify(allow.Condition)).toContain(bucketNamed(primary, 'neuroca-backups').id);
  });

  test('no cold-storage transition unless configured', () => {
    for (const [template, name] of [[primary, 'neuroca-backups'], [recovery, 'neuroca-dr-backups']] as const) {
      const props = bucketNamed(template, name).props;
      expect(props.LifecycleConfiguration.Rules.filter((r: any) => r.Transitions !== undefined)).toEqual([]);
    }
  });

  test('object_lock: false keeps Object Lock enabled on both vaults and states a configuration without default retention', () => {
    // Enabling Object Lock is a bucket replacement for CloudFormation, so no backup.yaml change may need it:
    // both vaults (replication needs a lock-enabled destination for a lock-enabled source) always have it.
    const optedOut = synthTemplates(configWith((c) => delete (c.storage as { objectLock?: unknown }).objectLock));
    for (const [template, name] of [[optedOut.primary, 'neuroca-backups'], [optedOut.recovery, 'neuroca-dr-backups']] as const) {
      const props = bucketNamed(template, name).props;
      expect(props.ObjectLockEnabled).toBe(true);
      expect(props.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled' });
    }
  });

  test('cold storage transitions every group whose retention is longer than the transition age', () => {
    const { primary: p, recovery: r } = synthTemplates(configWith((c) => (c.storage.coldStorage = { storageClass: 'GLACIER_IR', afterDays: 60 })));
    for (const [template, name] of [[p, 'neuroca-backups'], [r, 'neuroca-dr-backups']] as const) {
      const rules = rulesByPrefix(template, name);
      const transitioned = Object.keys(rules).filter((prefix) => rules[prefix].Transitions !== undefined);
      // database (30 days) and memory (14 days) expire before 60 days: S3 refuses such a transition. Blobs
      // never expire by age (the janitor prunes them), so they move too.
      expect(transitioned.sort()).toEqual(['backups/blobs/', 'backups/config/', 'backups/logs/', 'backups/models/']);
      for (const prefix of transitioned) expect(asArray(rules[prefix].Transitions)).toEqual([{ StorageClass: 'GLACIER_IR', TransitionInDays: 60 }]);
    }
  });

  test('Object Lock default retention in both regions when configured', () => {
    const { primary: p, recovery: r } = synthTemplates(configWith((c) => (c.storage.objectLock = { mode: 'COMPLIANCE', days: 30 })));
    for (const [template, name] of [[p, 'neuroca-backups'], [r, 'neuroca-dr-backups']] as const) {
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: name,
        ObjectLockEnabled: true,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Days: 30 } } },
      });
    }
    const governance = synthTemplates(configWith((c) => (c.storage.objectLock = { mode: 'GOVERNANCE', days: 7 })));
    governance.primary.hasResourceProperties('AWS::S3::Bucket', {
      BucketName: 'neuroca-backups',
      ObjectLockConfiguration: Match.objectLike({ Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 7 } } }),
    });
  });

  test('turning the default retention on, off or changing it leaves the bucket resource\'s identity alone', () => {
    // Only ObjectLockConfiguration (an in-place update) differs; ObjectLockEnabled and the name never do.
    const variants = [
      configWith((c) => delete (c.storage as { objectLock?: unknown }).objectLock),
      configWith((c) => (c.storage.objectLock = { mode: 'COMPLIANCE', days: 7 })),
      fixtureConfig(),
    ].map((config) => synthTemplates(config));
    for (const side of ['primary', 'recovery'] as const) {
      const identities = variants.map((t) => {
        const { id, props } = bucketNamed(t[side], side === 'primary' ? 'neuroca-backups' : 'neuroca-dr-backups');
        return { id, name: props.BucketName, enabled: props.ObjectLockEnabled };
      });
      expect(new Set(identities.map((i) => JSON.stringify(i))).size).toBe(1);
    }
  });

  test('the vault buckets are retained when the stack is deleted', () => {
    for (const [template, name] of [[primary, 'neuroca-backups'], [recovery, 'neuroca-dr-backups']] as const) {
      const id = bucketNamed(template, name).id;
      expect(template.toJSON().Resources[id].DeletionPolicy).toBe('Retain');
    }
  });
});

describe('vault names', () => {
  /** backup.yaml's default: the name as written is a stem, suffixed with the account and the region. */
  const suffixed = configWith((c) => {
    delete c.storage.primary.exactName;
    delete c.storage.secondary.exactName;
    c.sources.redis = { db: 0, keyPatterns: ['*'] };
  });
  const { primary, recovery } = synthTemplates(suffixed);
  const PRIMARY = 'neuroca-backups-<AccountId>-us-west-2';
  const RECOVERY = 'neuroca-dr-backups-<AccountId>-eu-central-1';
  const named = (template: Template, name: string) => {
    const found = Object.entries(template.findResources('AWS::S3::Bucket')).filter(([, r]) => (r as any).Properties.BucketName && render((r as any).Properties.BucketName) === name);
    expect(found).toHaveLength(1);
    return { id: found[0][0], props: (found[0][1] as any).Properties };
  };

  test('each vault is created as <bucket>-<account>-<region>', () => {
    named(primary, PRIMARY);
    named(recovery, RECOVERY);
  });

  test('the real names reach replication, the functions\' runtime configuration, the grants, the alarm and the outputs', () => {
    const vault = named(primary, PRIMARY);
    expect(render(vault.props.ReplicationConfiguration.Rules[0].Destination.Bucket)).toBe(`arn:<Partition>:s3:::${RECOVERY}`);
    // Every function's runtime configuration (the workers', the control plane's, the janitor's), wherever the stack puts it.
    const fns = Object.keys(primary.findResources('AWS::Lambda::Function')).filter((id) => /^(Worker|ControlPlane|Janitor)/.test(id));
    expect(fns.length).toBeGreaterThanOrEqual(7);
    for (const id of fns) expect(runtimeConfigOf(primary, id).bucket).toBe(PRIMARY);
    // Every S3 resource any IAM policy names is one of the two vaults (or an object in them).
    const resources = (Object.values(primary.findResources('AWS::IAM::Policy')) as any[])
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .flatMap((s: any) => asArray(s.Resource))
      .map(render)
      .filter((r: string) => r.startsWith('arn:<Partition>:s3:::'));
    expect(resources.length).toBeGreaterThan(0);
    for (const r of resources) expect(r).toMatch(new RegExp(`^arn:<Partition>:s3:::(${PRIMARY}|${RECOVERY})(/|$)`));
    const replicationAlarm = Object.values(primary.findResources('AWS::CloudWatch::Alarm', { Properties: { MetricName: 'ReplicationLatency' } }))[0] as any;
    const dimensions = Object.fromEntries(replicationAlarm.Properties.Dimensions.map((d: any) => [d.Name, render(d.Value)]));
    expect(dimensions).toMatchObject({ SourceBucket: PRIMARY, DestinationBucket: RECOVERY });
    const outputs = primary.toJSON().Outputs;
    expect(outputs.VaultBucket.Value).toEqual({ Ref: vault.id });
    expect(render(outputs.RecoveryVaultBucket.Value)).toBe(RECOVERY);
    expect(recovery.toJSON().Outputs.VaultBucket.Value).toEqual({ Ref: named(recovery, RECOVERY).id });
  });

  test('an installation other than the default is part of the name; exact_name keeps the name as written', () => {
    const other = synthTemplates(configWith((c) => {
      c.installation = 'archive-2';
      delete c.storage.primary.exactName;
    }));
    named(other.primary, 'neuroca-backups-archive-2-<AccountId>-us-west-2');
    named(other.recovery, 'neuroca-dr-backups');
  });
});
