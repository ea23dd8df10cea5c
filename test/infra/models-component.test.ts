/**
 * The models component as deployed: its worker reads and writes exactly the configured S3 locations, writes
 * only its own vault prefix and blob prefix (never deleting a blob), blobs outlive the group's expiry (only
 * their old versions go), and the janitor may prune blobs under the component's operation lock.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { BLOB_RULE_ID, NONCURRENT_VERSION_DAYS } from '../../infra/constructs/backup-vault';
import { asArray, configWith, logicalId, render, renderedStatements, statementBySid, synthTemplates } from './fixture-config';

const SOURCE = {
  paths: [
    { kind: 's3', bucket: 'neuroca-models', prefix: 'llm/' },
    { kind: 's3', bucket: 'neuroca-models', prefix: 'adapters/' },
    { kind: 's3', bucket: 'neuroca-checkpoints', prefix: '' },
    { kind: 'directory', path: '/mnt/models' },
  ],
  include: ['**'],
  exclude: ['**/*.tmp'],
} as const;
const VAULT = 'arn:<Partition>:s3:::neuroca-backups';
const SOURCE_OBJECTS = ['arn:<Partition>:s3:::neuroca-models/llm/*', 'arn:<Partition>:s3:::neuroca-models/adapters/*', 'arn:<Partition>:s3:::neuroca-checkpoints/*'];

/** A role's statements with resources and condition values rendered to text. */
const sorted = (value: unknown): string[] => [...asArray(value as string | string[])].sort();

/** The object ARNs a role may call `action` on, from every statement that allows it. */
const resourcesFor = (list: any[], action: string) => list.filter((s) => asArray(s.Action).includes(action)).flatMap((s) => asArray(s.Resource));

function lifecycleRules(template: Template, bucket: string): any[] {
  const found = Object.values(template.findResources('AWS::S3::Bucket')).find((r: any) => r.Properties.BucketName === bucket) as any;
  return found.Properties.LifecycleConfiguration.Rules;
}

describe('models component in the stacks', () => {
  const config = configWith((c) => ((c.sources as any).models = SOURCE));
  const { primary, recovery } = synthTemplates(config);

  test('its workers read and restore exactly the configured S3 prefixes, list only under them, and delete nothing there', () => {
    for (const role of ['WorkermodelsFunctionRole', 'WorkermodelsTaskRole']) {
      const list = renderedStatements(primary, role);
      const read = statementBySid(list, 'ModelsRead');
      expect(sorted(read.Action)).toEqual(['s3:GetObject', 's3:GetObjectAttributes', 's3:GetObjectVersion', 's3:GetObjectVersionAttributes']);
      expect(sorted(read.Resource)).toEqual(sorted(SOURCE_OBJECTS));
      const writes = statementBySid(list, 'ModelsRestoreWrites');
      expect(sorted(writes.Action)).toEqual(['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts', 's3:PutObject']);
      expect(sorted(writes.Resource)).toEqual(sorted(SOURCE_OBJECTS));
      expect(statementBySid(list, 'ModelsListing0')).toMatchObject({ Resource: 'arn:<Partition>:s3:::neuroca-models', Condition: { StringLike: { 's3:prefix': ['llm/*', 'adapters/*'] } } });
      expect(statementBySid(list, 'ModelsListing1')).toMatchObject({ Resource: 'arn:<Partition>:s3:::neuroca-checkpoints', Condition: { StringLike: { 's3:prefix': ['*'] } } });
      const keys = statementBySid(list, 'ModelsSourceKeys').Condition;
      expect(keys.StringEquals).toEqual({ 'kms:ViaService': 's3.us-west-2.amazonaws.com' });
      expect(sorted(keys.StringLike['kms:EncryptionContext:aws:s3:arn'])).toEqual(sorted(['arn:<Partition>:s3:::neuroca-models', 'arn:<Partition>:s3:::neuroca-checkpoints', ...SOURCE_OBJECTS]));
      // Nothing of a source is ever deleted, and no tagging is read or written (copies replace tags).
      const sourceStatements = list.filter((s) => JSON.stringify(s.Resource).match(/neuroca-(models|checkpoints)/));
      expect(sourceStatements.flatMap((s) => asArray(s.Action)).filter((a) => /Delete|Tagging/.test(a))).toEqual([]);
    }
  });

  test('in the vault, its workers write only their component prefix and their blob prefix, and delete no blob', () => {
    for (const role of ['WorkermodelsFunctionRole', 'WorkermodelsTaskRole']) {
      const list = renderedStatements(primary, role);
      const vaultWrites = resourcesFor(list, 's3:PutObject').filter((r) => r.startsWith(VAULT));
      expect(vaultWrites.sort()).toEqual([`${VAULT}/backups/blobs/models/*`, `${VAULT}/backups/models/models/*`]);
      expect(sorted(statementBySid(list, 'ComponentBlobs').Action)).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:GetObjectAttributes', 's3:ListMultipartUploadParts', 's3:PutObject']);
      expect(resourcesFor(list, 's3:DeleteObject').sort()).toEqual([`${VAULT}/backups/models/models/_lock.json`, `${VAULT}/backups/models/models/_staging/*`, `${VAULT}/backups/models/models/_steps/*`]);
      expect(statementBySid(list, 'ComponentListing').Condition).toEqual({ StringLike: { 's3:prefix': ['backups/models/models/*', 'backups/blobs/models/*'] } });
    }
    // Another component's worker gets no blob prefix, nor the models' sources.
    const postgres = JSON.stringify(renderedStatements(primary, 'WorkerpostgresFunctionRole'));
    expect(postgres).not.toMatch(/blobs\/|neuroca-models|neuroca-checkpoints|ComponentBlobs/);
  });

  test('blobs: no group expiry reaches them; their old versions go after the undo window; nothing current expires, in both vaults', () => {
    for (const [template, bucket] of [[primary, 'neuroca-backups'], [recovery, 'neuroca-dr-backups']] as const) {
      const rules = lifecycleRules(template, bucket);
      const blobs = rules.find((r) => r.Id === BLOB_RULE_ID);
      expect(blobs).toEqual({ Id: BLOB_RULE_ID, Prefix: 'backups/blobs/', NoncurrentVersionExpiration: { NoncurrentDays: NONCURRENT_VERSION_DAYS }, Status: 'Enabled' });
      // Every expiring rule is a group's, under a prefix the blob prefix is not inside of.
      for (const rule of rules.filter((r) => r.ExpirationInDays !== undefined)) expect('backups/blobs/models/x'.startsWith(rule.Prefix)).toBe(false);
      expect(rules.filter((r) => r.ExpirationInDays !== undefined).map((r) => r.Prefix)).toContain('backups/models/');
    }
  });

  test('with cold storage, blobs move to the cold class like backups, and still never expire', () => {
    const cold = synthTemplates(configWith((c) => (((c.sources as any).models = SOURCE), (c.storage.coldStorage = { storageClass: 'GLACIER_IR', afterDays: 60 }))));
    const blobs = lifecycleRules(cold.primary, 'neuroca-backups').find((r) => r.Id === BLOB_RULE_ID);
    expect(blobs.Transitions).toEqual([{ StorageClass: 'GLACIER_IR', TransitionInDays: 60 }]);
    expect(blobs.ExpirationInDays).toBeUndefined();
  });

  test('the janitor lists, reads and prunes blobs, reads the manifests that reference them, and takes the models lock to do so', () => {
    const list = renderedStatements(primary, 'JanitorRole');
    expect(statementBySid(list, 'PruneBlobs')).toMatchObject({ Action: 's3:DeleteObject', Resource: `${VAULT}/backups/blobs/models/*` });
    expect(statementBySid(list, 'TakePruneLocks')).toMatchObject({ Action: 's3:PutObject', Resource: `${VAULT}/backups/models/models/_lock.json` });
    expect(sorted(statementBySid(list, 'ReadReferences').Resource)).toEqual([`${VAULT}/backups/blobs/models/*`, `${VAULT}/backups/models/models/*`]);
    expect(statementBySid(list, 'ListAttempts').Condition.StringLike['s3:prefix']).toEqual(['backups/database/postgres/*', 'backups/models/models/*', 'backups/blobs/models/*']);
    // It writes nothing but the lock, and deletes no version.
    expect(resourcesFor(list, 's3:PutObject')).toEqual([`${VAULT}/backups/models/models/_lock.json`]);
    expect(list.flatMap((s) => asArray(s.Action)).filter((a) => a.includes('Version'))).toEqual([]);
    // Writing the lock encrypts it: GenerateDataKey through S3 only.
    const kms = list.find((s) => asArray(s.Action).includes('kms:GenerateDataKey'));
    expect(kms.Condition.StringEquals['kms:ViaService']).toBe('s3.us-west-2.amazonaws.com');
  });

  test('the vault policy lets the janitor delete blobs, and no one else (a blob is not a scratch key)', () => {
    const bucketId = logicalId(primary, 'AWS::S3::Bucket', 'VaultBucket');
    const policy = Object.values(primary.findResources('AWS::S3::BucketPolicy')).find((p: any) => p.Properties.Bucket.Ref === bucketId) as any;
    const deletes = policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'DenyDeletesButJanitorAndBreakGlass');
    expect(asArray(deletes.Condition.ArnNotLike['aws:PrincipalArn']).map((v: any) => (v['Fn::Sub'] ? v['Fn::Sub'] : render(v)))).toContain(
      `<GetAtt:${logicalId(primary, 'AWS::IAM::Role', 'JanitorRole')}.Arn>`,
    );
    expect(asArray(deletes.NotResource).map(render).filter((r) => r.includes('blobs'))).toEqual([]);
  });

  test('without backup.sources.models: no blob grant for anyone, and a janitor that only reads and deletes', () => {
    const { primary: plain } = synthTemplates(configWith(() => undefined));
    const janitor = renderedStatements(plain, 'JanitorRole');
    expect(JSON.stringify(janitor)).not.toMatch(/blobs\/|PruneBlobs|TakePruneLocks|kms:GenerateDataKey/);
    expect(JSON.stringify(plain.findResources('AWS::IAM::Policy'))).not.toContain('blobs/');
  });
});
