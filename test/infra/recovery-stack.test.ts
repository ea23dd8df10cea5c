/**
 * The recovery stack's restore plane (backup.recovery): what it deploys, what its roles may touch (the
 * recovery vault, the replica key, the manifest key's replica, the recovery secrets), that nothing in it names
 * the primary region, and the configurations the loader refuses.
 */
import { ConfigError, parseBackupConfig } from '../../config/load';
import { configWith, DATA_KEY_ARN, logicalId, renderedStatements, runtimeConfigOf, statementsOfRole, synthTemplates } from './fixture-config';

const PRIMARY_SECRET = 'arn:aws:secretsmanager:us-west-2:210987654321:secret:neuroca/db-AbCdEf';
const RECOVERY_SECRET = 'arn:aws:secretsmanager:eu-central-1:210987654321:secret:neuroca/db-AbCdEf';

/** The fixture (vaults in us-west-2 and eu-central-1) with postgres and redis, postgres restorable in the recovery region. */
const recoveryConfig = configWith((c) => {
  c.sources = { postgres: { database: 'neuroca_db', secretArn: PRIMARY_SECRET }, redis: { db: 0, keyPatterns: ['*'] } } as any;
  c.recovery = { sources: { postgres: { database: 'neuroca_db', secretArn: RECOVERY_SECRET } } } as any;
});

describe('the recovery stack with backup.recovery', () => {
  const { recovery, primary } = synthTemplates(recoveryConfig);
  const idsOf = (type: string) => Object.keys(recovery.findResources(type));

  test('deploys the restore, restore-all and drill state machines, the postgres worker and the restore plane\'s functions, no backup machine', () => {
    expect(idsOf('AWS::StepFunctions::StateMachine').map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['WorkflowsDrills', 'WorkflowsRestore', 'WorkflowsSystemRestore']);
    const functions = idsOf('AWS::Lambda::Function');
    for (const fragment of ['Workerpostgres', 'ControlPlaneResolveRestore', 'ControlPlaneReleaseLock', 'ControlPlaneDrillPlan', 'ControlPlaneDrillReport', 'ControlPlaneResolveSystem', 'ControlPlaneRestoreAllReport']) {
      expect(functions.filter((id) => id.startsWith(fragment))).toHaveLength(1);
    }
    // redis has no backup.recovery entry: no worker; the backup workflow's functions are not deployed.
    expect(functions.filter((id) => /Workerredis|ControlPlanePlan|ControlPlaneFinalize/.test(id))).toEqual([]);
    expect(idsOf('AWS::ECS::TaskDefinition')).toEqual([expect.stringMatching(/^Workerpostgres/)]);
    const outputs = recovery.toJSON().Outputs;
    expect(outputs.RecoveryRestoreStateMachineArn.Value).toEqual({ Ref: logicalId(recovery, 'AWS::StepFunctions::StateMachine', 'WorkflowsRestore') });
    expect(outputs.RecoveryRestoreTestStateMachineArn.Value).toEqual({ Ref: logicalId(recovery, 'AWS::StepFunctions::StateMachine', 'WorkflowsDrills') });
    expect(outputs.RecoveryRestoreAllStateMachineArn.Value).toEqual({ Ref: logicalId(recovery, 'AWS::StepFunctions::StateMachine', 'WorkflowsSystemRestore') });
  });

  test('only its own MFA-only operator role may start its state machines (the recovery path needs nothing of the primary stack)', () => {
    const operator = logicalId(recovery, 'AWS::IAM::Role', 'OperatorRole');
    const role = recovery.toJSON().Resources[operator].Properties;
    expect(role.RoleName).toBe('nca-backup-recovery-operator');
    expect(role.AssumeRolePolicyDocument.Statement.map((s: any) => s.Condition)).toEqual([
      { Bool: { 'aws:MultiFactorAuthPresent': 'true' }, NumericLessThan: { 'aws:MultiFactorAuthAge': '3600' } },
    ]);
    const starters = Object.keys(recovery.findResources('AWS::IAM::Role')).filter((id) =>
      statementsOfRole(recovery, id).some((s: any) => s.Effect === 'Allow' && [s.Action].flat().some((a: string) => /^states:(StartExecution|\*)$|^\*$/.test(a))),
    );
    // The restore-all machine starts the restore machine's executions: its own role is the one other starter.
    expect(starters.sort()).toEqual([operator, logicalId(recovery, 'AWS::IAM::Role', 'WorkflowsSystemRestoreRole')].sort());
    expect(recovery.toJSON().Outputs.RecoveryOperatorRoleArn.Value).toEqual({ 'Fn::GetAtt': [operator, 'Arn'] });
  });

  test('the replicated audit records expire as the primary\'s do', () => {
    const vault = Object.values(recovery.findResources('AWS::S3::Bucket')).find((b: any) => JSON.stringify(b).includes('neuroca-dr-backups')) as any;
    const rule = vault.Properties.LifecycleConfiguration.Rules.find((r: any) => r.Id === 'audit-records');
    expect(rule).toMatchObject({ Prefix: 'backups/audit/', ExpirationInDays: 400, Status: 'Enabled' });
  });

  test('nothing in it names the primary region, the primary vault, key or secret, or the primary stack', () => {
    const text = JSON.stringify(recovery.toJSON());
    for (const primaryThing of ['us-west-2', '"neuroca-backups', 'neuroca-backups/', 'arn:aws:s3:::neuroca-backups', PRIMARY_SECRET, DATA_KEY_ARN, 'Fn::ImportValue', 'NcaBackupPrimary']) {
      expect(text).not.toContain(primaryThing);
    }
  });

  test('the functions get the recovery vault, its region, the replica key and the manifest key replica\'s alias', () => {
    const worker = runtimeConfigOf(recovery, logicalId(recovery, 'AWS::Lambda::Function', 'WorkerpostgresFunction'));
    expect(worker).toMatchObject({
      bucket: 'neuroca-dr-backups',
      prefix: 'backups/',
      region: 'eu-central-1',
      kmsKeyId: `<GetAtt:${logicalId(recovery, 'AWS::KMS::Key', 'ReplicaKey')}.Arn>`,
      manifestKey: { kmsKeyId: 'arn:<Partition>:kms:eu-central-1:<AccountId>:alias/nca-backup-manifest' },
    });
    expect(Object.keys(worker.components)).toEqual(['postgres']);
    expect(worker.components.postgres.source).toEqual({ database: 'neuroca_db', secretArn: RECOVERY_SECRET });
  });

  test('the worker roles read and write only their key space of the recovery vault, with the replica key, and read the recovery secret', () => {
    for (const role of ['WorkerpostgresFunctionRole', 'WorkerpostgresTaskRole']) {
      const statements = renderedStatements(recovery, role);
      const resources = statements.flatMap((s) => [s.Resource].flat());
      const s3 = resources.filter((r: string) => r.startsWith('arn:<Partition>:s3:::'));
      expect(s3.length).toBeGreaterThan(0);
      for (const r of s3) expect(r).toMatch(/^arn:<Partition>:s3:::neuroca-dr-backups(\/backups\/(database\/postgres\/|reports\/drills\/)|$)/);
      const kms = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('kms:')));
      const replicaKey = `<GetAtt:${logicalId(recovery, 'AWS::KMS::Key', 'ReplicaKey')}.Arn>`;
      for (const s of kms) {
        if ([s.Action].flat().some((a: string) => a.endsWith('Mac'))) {
          expect(s.Resource).toBe('arn:<Partition>:kms:eu-central-1:<AccountId>:key/*');
          expect(s.Condition['ForAnyValue:StringEquals']).toEqual({ 'kms:ResourceAliases': ['alias/nca-backup-manifest'] });
        } else {
          expect(s.Resource).toBe(replicaKey);
          expect(s.Condition.StringEquals).toEqual({ 'kms:ViaService': 's3.eu-central-1.amazonaws.com' });
        }
      }
      const secrets = statements.filter((s) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
      expect(secrets.flatMap((s) => [s.Resource].flat())).toEqual([RECOVERY_SECRET]);
    }
  });

  test('the recovery vault lets the recovery workers delete their operation lock and step results only', () => {
    const policy = Object.values(recovery.findResources('AWS::S3::BucketPolicy')).find((p: any) => JSON.stringify(p).includes('DenyDeletesButJanitorAndBreakGlass')) as any;
    const deny = policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'DenyDeletesButJanitorAndBreakGlass');
    const exempt = JSON.stringify(deny.NotResource);
    expect(exempt).toContain('/backups/database/postgres/_lock.json');
    expect(exempt).toContain('/backups/database/postgres/_steps/');
    expect(exempt).not.toContain('redis');
  });

  test('the primary stack gives the manifest key\'s replica its alias in the recovery region', () => {
    const [alias] = Object.values(primary.findResources('Custom::NcaManifestKeyReplicaAlias')) as any[];
    const create = JSON.stringify(alias.Properties.Create);
    expect(create).toContain('\\"action\\":\\"CreateAlias\\"');
    expect(create).toContain('\\"region\\":\\"eu-central-1\\"');
    expect(create).toContain('alias/nca-backup-manifest');
  });
});

test('without backup.recovery the recovery stack holds the vault and its key only', () => {
  const { recovery } = synthTemplates(configWith(() => undefined));
  expect(recovery.findResources('AWS::StepFunctions::StateMachine')).toEqual({});
  expect(recovery.findResources('AWS::Lambda::Function')).toEqual({});
  expect(recovery.toJSON().Outputs.RecoveryRestoreStateMachineArn).toBeUndefined();
});

describe('backup.recovery refusals name the field', () => {
  const yaml = (recovery: string, sources = `postgres: { database: neuroca_db, secret_arn: "${PRIMARY_SECRET}" }`) => `
backup:
  storage:
    primary: { type: s3, bucket: neuroca-backups, region: us-west-2 }
    secondary: { type: s3, bucket: neuroca-dr-backups, region: eu-central-1 }
  sources:
    ${sources}
  recovery:
${recovery}
`;
  const issues = (text: string) => {
    try {
      parseBackupConfig(text);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues;
      throw error;
    }
    throw new Error('the configuration loaded');
  };

  test('a recovery-region secret loads; the section keeps what was backed up and replaces the connection', () => {
    const config = parseBackupConfig(yaml(`    sources: { postgres: { secret_arn: "${RECOVERY_SECRET}" } }`));
    expect(config.recovery).toEqual({ sources: { postgres: { database: 'neuroca_db', secretArn: RECOVERY_SECRET } } });
  });

  test.each([
    ['a secret of the primary region', `    sources: { postgres: { secret_arn: "${PRIMARY_SECRET}" } }`, 'backup.recovery.sources.postgres.secret_arn', /is in the primary region us-west-2; the recovery workers read secrets of eu-central-1 only/],
    ['a host of the primary region', '    sources: { postgres: { secret_arn: "' + RECOVERY_SECRET + '", host: db.abc.us-west-2.rds.amazonaws.com } }', 'backup.recovery.sources.postgres.host', /is in the primary region us-west-2/],
    ['a documentation example', '    sources: { postgres: { secret_arn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:neuroca/db" } }', 'backup.recovery.sources.postgres.secret_arn', /names the account 123456789012, an example account of the AWS documentation/],
    ['no connection at all', '    sources: { postgres: {} }', 'backup.recovery.sources.postgres.secret_arn', /is required/],
    ['a field that is not a connection field', `    sources: { postgres: { secret_arn: "${RECOVERY_SECRET}", database: other } }`, 'backup.recovery.sources.postgres.database', /unknown key; allowed: secret_arn, host, port, url/],
    ['a component not configured under backup.sources', `    sources: { redis: { secret_arn: "${RECOVERY_SECRET}" } }`, 'backup.recovery.sources.redis', /not configured under backup.sources/],
    ['a component whose targets are AWS resources', '    sources: { models: {} }', 'backup.recovery.sources.models', /cannot be restored from the recovery region/],
    ['no component', '    network: { flow_logs: all }', 'backup.recovery.sources', /is required/],
    [
      'a network in the primary region',
      `    sources: { postgres: { secret_arn: "${RECOVERY_SECRET}" } }\n    network: { vpc_id: vpc-0123456789abcdef0, subnet_ids: [subnet-0123456789abcdef0], availability_zones: [us-west-2a], security_group_ids: [sg-0123456789abcdef0] }`,
      'backup.recovery.network.availability_zones',
      /not in eu-central-1/,
    ],
  ])('%s', (_what, recovery, path, problem) => {
    const found = issues(yaml(recovery)).find((i) => i.path === path);
    expect(found?.problem).toMatch(problem);
  });
});
