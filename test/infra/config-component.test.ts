/**
 * The configuration component as deployed: its envelope key (and that key's policy), its worker's grants on
 * exactly the configured paths, secrets and files, the change rules that start a backup and their target.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { Aws } from 'aws-cdk-lib';
import { configChangePatterns, secretEventPrefixes } from '../../infra/constructs/config-changes';
import { configWith, logicalId, render, renderedStatements, runtimeConfigOf, statementBySid, synthTemplates } from './fixture-config';

const SECRET_ARN = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/api-AbC123';
const SOURCE = { parameterPaths: ['/neuroca'], secrets: ['neuroca/', SECRET_ARN], files: [{ bucket: 'neuroca-config', prefix: 'config/' }] };

/** A role's statements with resources and condition values rendered to text. */
describe('configuration component in the stacks', () => {
  const config = configWith((c) => (c.sources.config = SOURCE));
  const { primary } = synthTemplates(config);
  const resources = primary.toJSON().Resources;
  const keyId = logicalId(primary, 'AWS::KMS::Key', 'ConfigEnvelopeKey');

  test('the envelope key: multi-Region, rotated, kept, and its policy refuses every use whose context does not name the component', () => {
    const key = resources[keyId];
    expect(key.Properties).toMatchObject({ EnableKeyRotation: true, MultiRegion: true, PendingWindowInDays: 30 });
    expect(key.DeletionPolicy).toBe('Retain');
    const deny = key.Properties.KeyPolicy.Statement.find((s: any) => s.Effect === 'Deny');
    expect(deny).toMatchObject({
      Principal: { AWS: '*' },
      Condition: { StringNotEquals: { 'kms:EncryptionContext:component': 'config' } },
    });
    expect(deny.Action).toEqual(expect.arrayContaining(['kms:Decrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*']));
    // The recovery region gets the same key material (ReplicateKey, once).
    const replicas = Object.values(primary.findResources('Custom::NcaConfigEnvelopeKeyReplica')) as any[];
    expect(replicas).toHaveLength(1);
    expect(JSON.stringify(replicas[0].Properties.Create)).toContain('eu-central-1');
  });

  test('the workers seal and open exports with the envelope key under the component\'s context only; other workers cannot', () => {
    for (const role of ['WorkerconfigFunctionRole', 'WorkerconfigTaskRole']) {
      const envelope = statementBySid(renderedStatements(primary, role), 'ConfigEnvelope');
      expect(envelope.Action.sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
      expect(envelope.Resource).toBe(`<GetAtt:${keyId}.Arn>`);
      expect(envelope.Condition).toEqual({
        StringEquals: { 'kms:EncryptionContext:component': 'config' },
        'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['component', 'backupId'] },
      });
    }
    const postgres = JSON.stringify(renderedStatements(primary, 'WorkerpostgresFunctionRole'));
    expect(postgres).not.toContain(keyId);
    expect(postgres).not.toMatch(/"ssm:|ListSecrets|neuroca-config/);
  });

  test('the worker reaches exactly its parameter paths, its secrets and its files, and KMS only through those services and items', () => {
    const list = renderedStatements(primary, 'WorkerconfigTaskRole');
    const parameters = statementBySid(list, 'ConfigParameters');
    expect(parameters.Resource).toEqual(['arn:<Partition>:ssm:us-west-2:<AccountId>:parameter/neuroca', 'arn:<Partition>:ssm:us-west-2:<AccountId>:parameter/neuroca/*']);
    expect(parameters.Action).toEqual(expect.arrayContaining(['ssm:GetParametersByPath', 'ssm:PutParameter', 'ssm:DeleteParameter']));
    expect(statementBySid(list, 'ConfigSecureStrings').Condition).toEqual({
      StringEquals: { 'kms:ViaService': 'ssm.us-west-2.amazonaws.com' },
      StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameters.Resource },
    });
    const secrets = statementBySid(list, 'ConfigSecrets');
    expect([...secrets.Resource].sort()).toEqual(['arn:<Partition>:secretsmanager:us-west-2:<AccountId>:secret:neuroca/*', SECRET_ARN].sort());
    expect(secrets.Action).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']));
    expect([...statementBySid(list, 'ConfigSecretKeys').Condition.StringLike['kms:EncryptionContext:SecretARN']].sort()).toEqual([...secrets.Resource].sort());
    expect(statementBySid(list, 'ConfigFiles').Resource).toBe('arn:<Partition>:s3:::neuroca-config/config/*');
    expect(statementBySid(list, 'ConfigFileListing0')).toMatchObject({ Resource: 'arn:<Partition>:s3:::neuroca-config', Condition: { StringLike: { 's3:prefix': ['config/*'] } } });
    // Only the two list calls that support no resource-level permissions name "*".
    const everything = list.filter((s) => [s.Resource].flat().includes('*')).map((s) => s.Action);
    expect(everything.filter((a) => !String(a).startsWith('xray:'))).toEqual(['ssm:DescribeParameters', 'secretsmanager:ListSecrets']);
  });

  test('the worker\'s runtime source names the envelope key the stack created', () => {
    const runtime = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'Workerconfig'));
    expect(runtime.components.config.source).toEqual({ ...SOURCE, envelopeKeyId: `<GetAtt:${keyId}.Arn>` });
  });

  test('change rules: Parameter Store changes under the paths, Secrets Manager calls on the secrets, file events under the prefix, all to the change trigger', () => {
    const fnId = logicalId(primary, 'AWS::Lambda::Function', 'ConfigChangesFunction');
    const rules = Object.values(primary.findResources('AWS::Events::Rule')).filter((r: any) => JSON.stringify(r.Properties.Targets).includes(`"${fnId}"`)) as any[];
    expect(rules).toHaveLength(3);
    const patterns = rules.map((r) => JSON.parse(JSON.stringify(r.Properties.EventPattern, (_k, v) => (v && typeof v === 'object' && 'Fn::Join' in v ? render(v) : v))));
    const parameters = patterns.find((p) => p.source[0] === 'aws.ssm');
    expect(parameters).toEqual({ source: ['aws.ssm'], 'detail-type': ['Parameter Store Change'], detail: { name: [{ prefix: '/neuroca/' }] } });
    const secrets = patterns.find((p) => p.source[0] === 'aws.secretsmanager');
    expect(secrets.detail.eventName).toEqual(expect.arrayContaining(['PutSecretValue', 'UpdateSecret', 'RotateSecret', 'RotationSucceeded', 'DeleteSecret']));
    expect(secrets.detail.errorCode).toEqual([{ exists: false }]);
    expect(secrets.detail.$or[0].requestParameters.secretId).toEqual([
      { prefix: 'neuroca/' },
      { prefix: 'arn:<Partition>:secretsmanager:us-west-2:<AccountId>:secret:neuroca/' },
      { prefix: SECRET_ARN },
      { prefix: 'neuroca/api' },
    ]);
    const files = patterns.find((p) => p.source[0] === 'aws.s3');
    expect(files.detail).toEqual({ bucket: { name: ['neuroca-config'] }, object: { key: [{ prefix: 'config/' }] } });
    // The function starts the backup workflow, and only that.
    const fn = resources[fnId].Properties;
    const backupMachine = logicalId(primary, 'AWS::StepFunctions::StateMachine', 'Backup');
    expect(fn.Environment.Variables.NCA_BACKUP_STATE_MACHINE_ARN).toEqual({ Ref: backupMachine });
    const role = renderedStatements(primary, 'ConfigChangesRole');
    expect(statementBySid(role, 'DeadLetter').Action).toBe('sqs:SendMessage');
    const start = role.find((s) => s.Action === 'states:StartExecution');
    expect(start.Resource).toBe(`<Ref:${backupMachine}>`);
    // A change whose backup could not be started lands in the alarmed dead-letter queue.
    const invoke = (Object.values(primary.findResources('AWS::Lambda::EventInvokeConfig')) as any[]).find((c) => c.Properties.FunctionName.Ref === fnId);
    expect(invoke.Properties).toMatchObject({ MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 });
    expect(render(invoke.Properties.DestinationConfig.OnFailure.Destination)).toMatch(/^<GetAtt:SchedulesDeadLetterQueue\w+\.Arn>$/);
  });

  test('the created VPC\'s interface endpoints include SSM only when a configured component reads Parameter Store', () => {
    const ssmEndpoints = (template: Template) =>
      (Object.values(template.findResources('AWS::EC2::VPCEndpoint')) as any[]).filter((e) => JSON.stringify(e.Properties.ServiceName).includes('.ssm'));
    const withEndpoints = (parameterPaths: string[]) =>
      synthTemplates(configWith((c) => ((c.sources.config = { ...SOURCE, parameterPaths }), (c.createdNetwork = { interfaceEndpoints: true })))).primary;
    expect(ssmEndpoints(withEndpoints(['/neuroca']))).toHaveLength(1);
    expect(ssmEndpoints(withEndpoints([]))).toHaveLength(0);
  });

  test('without backup.sources.config: no envelope key, no change rule', () => {
    const { primary: plain } = synthTemplates(configWith(() => undefined));
    expect(Object.keys(plain.findResources('AWS::KMS::Key')).filter((id) => id.includes('ConfigEnvelope'))).toEqual([]);
    expect(Object.keys(plain.findResources('AWS::Lambda::Function')).filter((id) => id.includes('ConfigChanges'))).toEqual([]);
  });
});

describe('change event patterns', () => {
  test('a secret named by ARN matches calls naming its ARN or its name; a name prefix matches names and ARNs under it', () => {
    expect(secretEventPrefixes(SECRET_ARN, 'us-west-2', '123456789012', 'aws')).toEqual([SECRET_ARN, 'neuroca/api']);
    expect(secretEventPrefixes('arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db', 'us-west-2', '1', 'aws')).toEqual([
      'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db',
      'neuroca/db',
    ]);
    expect(secretEventPrefixes('neuroca/', 'us-west-2', '123456789012', 'aws')).toEqual(['neuroca/', 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/']);
  });

  test('only the configured kinds get a rule; the root path and a whole bucket match everything in them', () => {
    const patterns = configChangePatterns({ parameterPaths: ['/'], secrets: [], files: [{ bucket: 'cfg', prefix: '' }, { bucket: 'cfg2', prefix: 'a/' }] }, 'us-west-2', Aws.ACCOUNT_ID, 'aws');
    expect(Object.keys(patterns)).toEqual(['Parameters', 'Files']);
    expect(patterns.Parameters.detail).toEqual({ name: [{ prefix: '/' }] });
    expect(patterns.Files.detail).toEqual({
      $or: [
        { bucket: { name: ['cfg'] }, object: { key: [{ exists: true }] } },
        { bucket: { name: ['cfg2'] }, object: { key: [{ prefix: 'a/' }] } },
      ],
    });
  });
});
