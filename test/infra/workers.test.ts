/** Workers (Lambda + Fargate per component), their least-privilege roles, the network and the runtime config they get. */
import type { Template } from 'aws-cdk-lib/assertions';
import { deployedRuntimeConfig } from '../../infra/runtime-config';
import { DATA_KEY_ARN, configWith, fixtureConfig, logicalId, render, runtimeConfigOf, statementsOfRole, synthTemplates } from './fixture-config';

const SECRET_ARN = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/postgres-AbC123';
const NETWORK = {
  vpcId: 'vpc-0123456789abcdef0',
  subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
  availabilityZones: ['us-west-2a', 'us-west-2b'],
  securityGroupIds: ['sg-0123456789abcdef0'],
};

function containerOf(template: Template): any {
  const task = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0] as any;
  return task.Properties.ContainerDefinitions[0];
}

/** S3/Secrets Manager statements of a role, with resources rendered to text. */
function dataStatements(template: Template, roleFragment: string): any[] {
  return statementsOfRole(template, logicalId(template, 'AWS::IAM::Role', roleFragment))
    .filter((s) => /"(s3|secretsmanager):/.test(JSON.stringify(s.Action)))
    .map((s) => ({ ...s, Resource: [s.Resource].flat().map(render) }));
}

describe('workers', () => {
  const config = configWith((c) => (c.sources.postgres = { database: 'neuroca_db', secretArn: SECRET_ARN }));
  const { primary } = synthTemplates(config);
  const workerFn = logicalId(primary, 'AWS::Lambda::Function', 'Workerpostgres');
  const fn = primary.toJSON().Resources[workerFn].Properties;

  test('the Lambda worker runs the image with the configured memory and timeout, X-Ray and its own log group', () => {
    expect(fn).toMatchObject({ PackageType: 'Image', MemorySize: 2048, Timeout: 900, Architectures: ['x86_64'], TracingConfig: { Mode: 'Active' } });
    expect(fn.Runtime).toBeUndefined();
    expect(fn.LoggingConfig.LogGroup).toEqual({ Ref: expect.stringMatching(/^WorkerpostgresFunctionLogs/) });
    const other = synthTemplates(configWith((c) => (c.runner = { ...c.runner, lambda: { memoryMiB: 4096, timeoutMinutes: 10 } }))).primary;
    other.hasResourceProperties('AWS::Lambda::Function', { PackageType: 'Image', MemorySize: 4096, Timeout: 600 });
  });

  test('workers get the runtime config without worker references from the state machines; their environment names only the component', () => {
    expect(fn.Environment.Variables).toEqual({ NCA_COMPONENT: 'postgres' });
    const runtime = runtimeConfigOf(primary, workerFn);
    const manifestKeyArn = `<GetAtt:${logicalId(primary, 'AWS::KMS::Key', 'ManifestKey')}.Arn>`;
    expect(runtime).toEqual(JSON.parse(JSON.stringify(deployedRuntimeConfig(config, { kmsKeyId: DATA_KEY_ARN, manifestKeyId: manifestKeyArn }))));
    expect(runtime.manifestKey).toEqual({ kmsKeyId: manifestKeyArn });
    expect(runtime.components.postgres).toEqual({ group: 'database', source: { database: 'neuroca_db', secretArn: SECRET_ARN } });
    expect(JSON.stringify(runtime)).not.toMatch(/password/i);
  });

  test('the Fargate task runs the same image with the CLI as entry point, configured size, awslogs and the same environment', () => {
    primary.hasResourceProperties('AWS::ECS::TaskDefinition', {
      Cpu: '8192',
      Memory: '16384',
      EphemeralStorage: { SizeInGiB: 21 },
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'X86_64', OperatingSystemFamily: 'LINUX' },
    });
    const container = containerOf(primary);
    expect(container.EntryPoint).toEqual(['node', '/var/task/cli.js']);
    expect(container.Name).toBe('postgres-worker');
    expect(container.LogConfiguration.LogDriver).toBe('awslogs');
    const env = Object.fromEntries(container.Environment.map((e: any) => [e.Name, e.Value]));
    expect(env.NCA_COMPONENT).toBe('postgres');
    // The task definition carries the workers' runtime config (ECS has no 4 KB limit); RunTask's overrides hold the step alone.
    expect(JSON.parse(render(env.NCA_RUNTIME_CONFIG))).toEqual(runtimeConfigOf(primary, workerFn));
    // Lambda and Fargate run one image asset.
    const tag = (image: unknown) => JSON.stringify(image).match(/:([0-9a-f]{64})/)?.[1];
    expect(tag(container.Image)).toBeDefined();
    expect(tag(container.Image)).toBe(tag(fn.Code.ImageUri));
    const bigger = synthTemplates(configWith((c) => (c.runner = { ...c.runner, fargate: { cpu: 2048, memoryMiB: 8192, ephemeralStorageGiB: 100 } }))).primary;
    bigger.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '2048', Memory: '8192', EphemeralStorage: { SizeInGiB: 100 } });
  });

  test('each worker role reaches only its component\'s key space, its drill records and its own secret, and deletes only its lock and step results', () => {
    for (const role of ['WorkerpostgresFunctionRole', 'WorkerpostgresTaskRole']) {
      const statements = dataStatements(primary, role);
      const objects = statements.find((s) => [s.Action].flat().includes('s3:PutObject'));
      expect(objects.Resource).toEqual(['arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/*']);
      expect([objects.Action].flat().sort()).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListMultipartUploadParts', 's3:PutObject']);
      const deletes = statements.filter((s) => [s.Action].flat().some((a: string) => /^s3:Delete/.test(a)));
      expect(deletes).toEqual([
        expect.objectContaining({
          Sid: 'ComponentScratchDeletes',
          Action: 's3:DeleteObject',
          Resource: [
            'arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/_lock.json',
            'arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/_steps/*',
          ],
        }),
      ]);
      const listing = statements.find((s) => s.Action === 's3:ListBucket');
      expect(listing).toMatchObject({ Resource: ['arn:<Partition>:s3:::neuroca-backups'], Condition: { StringLike: { 's3:prefix': ['backups/database/postgres/*'] } } });
      const secret = statements.filter((s) => [s.Action].flat().some((a: string) => a.startsWith('secretsmanager:')));
      expect(secret).toEqual([expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: [SECRET_ARN] })]);
      // The records of the drills it runs (drills.test.ts), write only.
      expect(statements.filter((s) => s.Sid === 'DrillRecords')).toEqual([
        expect.objectContaining({ Action: 's3:PutObject', Resource: ['arn:<Partition>:s3:::neuroca-backups/backups/reports/drills/*'] }),
      ]);
      // Nothing else of S3 or Secrets Manager.
      expect(statements).toHaveLength(5);
    }
    expect(logicalId(primary, 'AWS::IAM::Role', 'WorkerpostgresFunctionRole')).not.toBe(logicalId(primary, 'AWS::IAM::Role', 'WorkerpostgresTaskRole'));
    primary.hasResourceProperties('AWS::ECS::TaskDefinition', {
      TaskRoleArn: { 'Fn::GetAtt': [logicalId(primary, 'AWS::IAM::Role', 'WorkerpostgresTaskRole'), 'Arn'] },
    });
  });

  test('no secret configured: no Secrets Manager permission; a partial secret ARN matches only its suffix', () => {
    const none = synthTemplates(fixtureConfig()).primary;
    expect(JSON.stringify(none.findResources('AWS::IAM::Policy'))).not.toContain('secretsmanager:');
    const partial = synthTemplates(configWith((c) => (c.sources.postgres = { database: 'neuroca_db', secretArn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db' })));
    const [secret] = dataStatements(partial.primary, 'WorkerpostgresTaskRole').filter((s) => s.Action === 'secretsmanager:GetSecretValue');
    expect(secret.Resource).toEqual(['arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db-??????']);
  });

  test('with rds_instance_id the postgres worker may read CloudWatch metrics (the room check\'s FreeStorageSpace), through the monitoring endpoint when interface endpoints are on; without it, not', () => {
    const metricReads = (template: Template, role: string) =>
      statementsOfRole(template, logicalId(template, 'AWS::IAM::Role', role)).filter((s) => JSON.stringify(s.Action).includes('cloudwatch:GetMetricData'));
    expect(metricReads(primary, 'WorkerpostgresTaskRole')).toEqual([]);
    const rds = synthTemplates(
      configWith((c) => {
        c.sources.postgres = { database: 'neuroca_db', secretArn: SECRET_ARN, rdsInstanceId: 'neuroca-db' };
        c.createdNetwork = { interfaceEndpoints: true };
      }),
    );
    for (const role of ['WorkerpostgresTaskRole', 'WorkerpostgresFunctionRole']) {
      expect(metricReads(rds.primary, role)).toEqual([expect.objectContaining({ Action: 'cloudwatch:GetMetricData', Resource: '*' })]);
    }
    const endpoints = Object.values(rds.primary.findResources('AWS::EC2::VPCEndpoint')).map((e: any) => JSON.stringify(e.Properties.ServiceName));
    expect(endpoints.some((name) => name.includes('monitoring'))).toBe(true);
  });

  test('the prefix in the config moves the workers\' key space', () => {
    const noPrefix = synthTemplates(configWith((c) => (c.storage.primary.prefix = ''))).primary;
    const [objects] = dataStatements(noPrefix, 'WorkerpostgresTaskRole');
    expect(objects.Resource).toEqual(['arn:<Partition>:s3:::neuroca-backups/database/postgres/*']);
  });

  test('without network config: a VPC of isolated subnets with the S3 gateway endpoint, flow logs, and a worker security group', () => {
    primary.resourceCountIs('AWS::EC2::VPC', 1);
    primary.resourceCountIs('AWS::EC2::NatGateway', 0);
    primary.resourceCountIs('AWS::EC2::InternetGateway', 0);
    primary.resourceCountIs('AWS::EC2::FlowLog', 1);
    // Interface endpoints are a paid choice, off by default (costs.test.ts).
    const endpoints = (Object.values(primary.findResources('AWS::EC2::VPCEndpoint')) as any[]).map((e) => render(e.Properties.ServiceName));
    expect(endpoints).toEqual([expect.stringMatching(/\.s3$/)]);
    expect(fn.VpcConfig.SubnetIds).toHaveLength(2);
    expect(fn.VpcConfig.SecurityGroupIds).toEqual([{ 'Fn::GetAtt': [logicalId(primary, 'AWS::EC2::SecurityGroup', 'WorkerSecurityGroup'), 'GroupId'] }]);
  });

  test('with network config: the given subnets and security groups, no VPC created, handed to the control plane for Fargate', () => {
    const { primary: p } = synthTemplates(configWith((c) => (c.network = NETWORK)));
    p.resourceCountIs('AWS::EC2::VPC', 0);
    p.resourceCountIs('AWS::EC2::SecurityGroup', 0);
    const worker = p.toJSON().Resources[logicalId(p, 'AWS::Lambda::Function', 'Workerpostgres')].Properties;
    expect(worker.VpcConfig).toEqual({ SubnetIds: NETWORK.subnetIds, SecurityGroupIds: NETWORK.securityGroupIds });
    const plan = runtimeConfigOf(p, logicalId(p, 'AWS::Lambda::Function', 'ControlPlanePlan'));
    expect(plan.components.postgres.worker).toMatchObject({ subnets: NETWORK.subnetIds, securityGroups: NETWORK.securityGroupIds });
  });

  test('the control plane gets every worker: function, task definition, container, network', () => {
    const taskDef = logicalId(primary, 'AWS::ECS::TaskDefinition', 'Workerpostgres');
    for (const name of ['ControlPlanePlan', 'ControlPlaneResolveRestore']) {
      const runtime = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', name));
      expect(runtime.components.postgres.worker).toEqual({
        functionName: `<Ref:${workerFn}>`,
        taskDefinitionArn: `<Ref:${taskDef}>`,
        containerName: 'postgres-worker',
        subnets: [expect.stringMatching(/^<Ref:NetworkVpcworkersSubnet1/), expect.stringMatching(/^<Ref:NetworkVpcworkersSubnet2/)],
        securityGroups: [`<GetAtt:${logicalId(primary, 'AWS::EC2::SecurityGroup', 'WorkerSecurityGroup')}.GroupId>`],
      });
      expect(runtime.bucket).toBe('neuroca-backups');
      expect(runtime.runner).toEqual({ lambdaMaxBytes: 2 * 1024 ** 3, maxConcurrency: 4 });
    }
  });

  test('resolve-restore may only list and read the configured components\' backups and write their lock; release-lock reads and deletes the lock only; plan and finalize get no data access', () => {
    const lock = 'arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/_lock.json';
    const resolve = dataStatements(primary, 'ControlPlaneResolveRestoreRole');
    expect(resolve).toEqual([
      expect.objectContaining({ Action: 's3:ListBucket', Condition: { StringLike: { 's3:prefix': ['backups/database/postgres/*'] } } }),
      expect.objectContaining({ Action: 's3:GetObject', Resource: ['arn:<Partition>:s3:::neuroca-backups/backups/database/postgres/*'] }),
      expect.objectContaining({ Sid: 'TakeOperationLocks', Action: 's3:PutObject', Resource: [lock] }),
    ]);
    const release = dataStatements(primary, 'ControlPlaneReleaseLockRole');
    expect(release).toEqual([expect.objectContaining({ Sid: 'ReleaseOperationLocks', Action: ['s3:DeleteObject', 's3:GetObject'], Resource: [lock] })]);
    // Finalize publishes the backups' size and duration (the dashboard's; test/infra/dashboard.test.ts) and writes the
    // system recovery points' indexes (test/infra/system-recovery.test.ts), nothing more.
    const finalizeExtra = ['cloudwatch:PutMetricData', 'kms:Decrypt', 'kms:GenerateDataKey', 's3:GetObject', 's3:PutObject'];
    for (const [role, extra] of [['ControlPlanePlanRole', []], ['ControlPlaneFinalizeRole', finalizeExtra]] as const) {
      const actions = statementsOfRole(primary, logicalId(primary, 'AWS::IAM::Role', role)).flatMap((s) => [s.Action].flat());
      expect(actions.sort()).toEqual([...extra, 'logs:CreateLogStream', 'logs:PutLogEvents', 'xray:PutTelemetryRecords', 'xray:PutTraceSegments'].sort());
    }
  });

  test('control-plane functions: Node.js 22, X-Ray, log groups with retention', () => {
    for (const name of ['ControlPlanePlan', 'ControlPlaneFinalize', 'ControlPlaneResolveRestore', 'ControlPlaneReleaseLock']) {
      const props = primary.toJSON().Resources[logicalId(primary, 'AWS::Lambda::Function', name)].Properties;
      expect(props).toMatchObject({ Runtime: 'nodejs22.x', Handler: 'index.handler', TracingConfig: { Mode: 'Active' } });
      const logGroup = primary.toJSON().Resources[props.LoggingConfig.LogGroup.Ref].Properties;
      expect(logGroup.RetentionInDays).toBe(90);
      expect(logGroup.KmsKeyId).toBeDefined();
    }
  });
});

describe('workers of the memory stores', () => {
  const REDIS_SECRET = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:nca/redis-AbC123';
  const MONGO_SECRET = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:nca/mongo-AbC123';
  const VECTOR_SECRET = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:nca/vector-AbC123';
  const config = configWith((c) => {
    c.sources.redis = { secretArn: REDIS_SECRET, db: 0, keyPatterns: ['memory:*'] };
    c.sources.mongodb = { secretArn: MONGO_SECRET, database: 'neuroca_episodic' };
    c.sources.vector = { secretArn: VECTOR_SECRET, database: 'neuroca_db', table: 'semantic_memory', url: 'postgresql://nca@localhost/neuroca_db' };
    c.sources.memory = { tiers: ['working', 'semantic'], workingNamespace: 'working', episodicCollection: 'memories' };
  });
  const { primary } = synthTemplates(config);

  test('one worker per component, each reaching only its own prefix and its own secret', () => {
    for (const [component, prefix, secret] of [
      ['redis', 'database/redis', REDIS_SECRET],
      ['mongodb', 'database/mongodb', MONGO_SECRET],
      ['vector', 'database/vector', VECTOR_SECRET],
    ]) {
      const statements = dataStatements(primary, `Worker${component}TaskRole`);
      expect(statements.find((s) => [s.Action].flat().includes('s3:PutObject')).Resource).toEqual([`arn:<Partition>:s3:::neuroca-backups/backups/${prefix}/*`]);
      expect(statements.filter((s) => s.Action === 'secretsmanager:GetSecretValue').map((s) => s.Resource)).toEqual([[secret]]);
    }
  });

  test('the memory-tier worker writes under memory/ and reads the secrets of its tiers\' stores only', () => {
    const statements = dataStatements(primary, 'WorkermemoryFunctionRole');
    expect(statements.find((s) => [s.Action].flat().includes('s3:PutObject')).Resource).toEqual(['arn:<Partition>:s3:::neuroca-backups/backups/memory/memory/*']);
    const secrets = statements.filter((s) => s.Action === 'secretsmanager:GetSecretValue').flatMap((s) => s.Resource);
    // Tiers working and semantic: Redis and the vector store, not MongoDB.
    expect(secrets.sort()).toEqual([REDIS_SECRET, VECTOR_SECRET].sort());
  });

  test('the memory worker\'s runtime config carries its stores\' settings, without local URLs', () => {
    const runtime = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'Workermemory'));
    expect(runtime.components.memory).toEqual({
      group: 'memory_tiers',
      source: {
        tiers: ['working', 'semantic'],
        workingNamespace: 'working',
        episodicCollection: 'memories',
        redis: { secretArn: REDIS_SECRET, db: 0, keyPatterns: ['memory:*'] },
        mongodb: { secretArn: MONGO_SECRET, database: 'neuroca_episodic' },
        vector: { secretArn: VECTOR_SECRET, database: 'neuroca_db', table: 'semantic_memory' },
      },
    });
  });
});
