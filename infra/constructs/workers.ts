/**
 * One component's worker: the Lambda function (container image) and the Fargate task definition that run
 * the same image and engine, each with its own role holding exactly that component's permissions: its
 * secret, its key space in the vault, the data key through S3. A component whose worker holds grants on its
 * sources also gets a drill worker (WorkerPurpose): the same image, run by the drill workflow, without them,
 * holding grants only on its drills' sandboxes.
 */
import * as path from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { COMPONENT_GROUP, type BackupConfig, type ComponentName } from '../../config/types';
import type { GrantScope, WorkerGrant } from '../../config/component';
import { secretResource } from '../../config/fields';
import { drillGrantsOf, secretArnsOf, workerGrantsOf } from '../../config/sources';
import type { WorkerRef } from '../../config/runtime-config';
import type { KmsKeyRef, ManifestMacKey } from './keys';
import { REPORTS_DIR, blobPrefix, componentPrefix, lockKey, stagingPrefix, stepResultsPrefix } from '../../config/vault-layout';
import { storesBlobs } from '../../config/components';
import { bucketArn } from './replication';
import { nagText } from '../vault-names';
import { configuredComponents } from '../runtime-config';

/** The repository root: the build context of the worker image. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const WORKER_DOCKERFILE = 'functions/Dockerfile';
/** Days worker logs are kept. */
export const WORKER_LOG_RETENTION = logs.RetentionDays.THREE_MONTHS;

/**
 * How BuildKit exports the worker image: one plain single-platform manifest, whatever the local Docker's
 * defaults. Lambda refuses an image index ("The image manifest, config or layer media type ... is not
 * supported"), and BuildKit makes one as soon as it attaches its default provenance attestation, which
 * Docker 29's containerd image store keeps (aws/aws-cdk#31548). `attestation-inline=false` drops that
 * default (inline-only) attestation at export; `oci-mediatypes=false` writes Docker v2 schema 2 media
 * types, the most widely accepted. The CDK CLI passes each entry as `docker build --output=<entry>`.
 */
export const WORKER_IMAGE_OUTPUT = 'type=image,oci-mediatypes=false,attestation-inline=false';

/**
 * The worker image, built once from functions/Dockerfile with the repository root as context (the root's
 * .dockerignore keeps the context to package files, functions/ and config/). x86_64 on purpose: the
 * Lambda functions and Fargate tasks are declared x86_64, and pinning the platform keeps a build on an ARM
 * laptop from producing an image that cannot start. A plain manifest on purpose (WORKER_IMAGE_OUTPUT).
 */
export function workerImage(scope: Construct, pgMajor?: string): ecrAssets.DockerImageAsset {
  return new ecrAssets.DockerImageAsset(scope, 'WorkerImage', {
    directory: REPO_ROOT,
    file: WORKER_DOCKERFILE,
    platform: ecrAssets.Platform.LINUX_AMD64,
    outputs: [WORKER_IMAGE_OUTPUT],
    buildArgs: pgMajor ? { PG_MAJOR: pgMajor } : undefined,
    exclude: ['node_modules', 'cdk.out', '.git', 'bench/results', 'test'],
  });
}

/** A key of the vault layout (config/vault-layout.ts) as the primary bucket holds it: behind the vault prefix. */
function primaryKey(config: BackupConfig, relativeKey: string): string {
  return `${config.storage.primary.prefix}${relativeKey}`;
}

/** `<prefix><group prefix>/<component>/`: the only key space a component's worker may touch. */
export function componentKeyPrefix(config: BackupConfig, component: ComponentName): string {
  return primaryKey(config, componentPrefix(COMPONENT_GROUP[component], component));
}

/**
 * `<prefix>blobs/<component>/`: the content-addressed blobs of a component whose descriptor says it stores
 * them; undefined for the others.
 */
export function componentBlobPrefix(config: BackupConfig, component: ComponentName): string | undefined {
  return storesBlobs(component) ? primaryKey(config, blobPrefix(component)) : undefined;
}

/** The component's operation lock. */
export function componentLockKey(config: BackupConfig, component: ComponentName): string {
  return primaryKey(config, lockKey(COMPONENT_GROUP[component], component));
}

/** `<prefix>reports/drills/`: every restore drill's records (config/vault-layout.ts drillRecordKey). */
export function drillRecordsPrefix(config: BackupConfig): string {
  return primaryKey(config, `${REPORTS_DIR}drills/`);
}

/** `<prefix>reports/scorecard.html`: the drill scorecard's latest edition (each drill's own is under its records). */
export function scorecardKey(config: BackupConfig): string {
  return primaryKey(config, `${REPORTS_DIR}scorecard.html`);
}

/**
 * What a worker is for. `worker`: backups, verifies and restores, and the drills of a component that has no
 * separate drill worker. `drill`: the drills of a component whose worker holds grants on its sources (its
 * production targets, e.g. the models' S3 locations or the configuration's parameters): the same image, with
 * a role that holds none of them, only the descriptor's `drillGrants` on its drills' `nca-drill` sandboxes, so a
 * drill cannot write where a restore would.
 */
export type WorkerPurpose = 'worker' | 'drill';

/**
 * A component whose descriptor grants its worker access to the systems it backs up gets a drill worker of
 * its own (WorkerPurpose `drill`); the others' production targets are database servers, reached with the
 * secret every drill needs for its sandbox on the same server, which no role can tell apart.
 */
export function drillsOnOwnWorker(config: BackupConfig, component: ComponentName): boolean {
  return sourceGrants(config, component).length > 0;
}

/** The key pattern of the component's Fargate step results. */
function stepResultKeys(config: BackupConfig, component: ComponentName): string {
  return `${primaryKey(config, stepResultsPrefix(COMPONENT_GROUP[component], component))}*`;
}

/** Where a worker's source grants apply: the primary region of the deploying account. */
function grantScope(config: BackupConfig): GrantScope {
  return { partition: Aws.PARTITION, account: Aws.ACCOUNT_ID, region: config.storage.primary.region };
}

/** What the component's worker may do on the systems it backs up, beyond its secrets (descriptor `grants`). */
export function sourceGrants(config: BackupConfig, component: ComponentName): readonly WorkerGrant[] {
  return workerGrantsOf(config, component, grantScope(config));
}

/**
 * What the component's drill worker may do on its drills' sandboxes (descriptor `drillGrants`): the `nca-drill`
 * names its drill.ts writes, never the production ones its worker's source grants name.
 */
export function drillGrants(config: BackupConfig, component: ComponentName): readonly WorkerGrant[] {
  return drillGrantsOf(config, component, grantScope(config));
}

/** A role's grants beyond the vault: a worker's on its sources, a drill worker's on its sandboxes. */
function grantsFor(config: BackupConfig, component: ComponentName, purpose: WorkerPurpose): readonly WorkerGrant[] {
  return purpose === 'drill' ? drillGrants(config, component) : sourceGrants(config, component);
}

/** The keys a worker may delete or replace: the component's operation lock, the Fargate step results and, for a component that stores blobs, its backups' scratch copies. */
export function workerScratchKeys(config: BackupConfig, component: ComponentName): string[] {
  const staging = storesBlobs(component) ? [`${primaryKey(config, stagingPrefix(COMPONENT_GROUP[component], component))}*`] : [];
  return [componentLockKey(config, component), stepResultKeys(config, component), ...staging];
}

/** A worker's objects: its key space and blobs read and written, its scratch keys deleted. */
function workerObjectStatements(config: BackupConfig, component: ComponentName, bucket: string): iam.PolicyStatement[] {
  const blobs = componentBlobPrefix(config, component);
  return [
    new iam.PolicyStatement({
      sid: 'ComponentObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
      resources: [`${bucket}/${componentKeyPrefix(config, component)}*`],
    }),
    // Blobs are written once under their digest and shared by later backups: read, write and checksum them
    // (GetObjectAttributes after a server-side copy), never delete (the janitor prunes).
    ...(blobs
      ? [
          new iam.PolicyStatement({
            sid: 'ComponentBlobs',
            actions: ['s3:GetObject', 's3:GetObjectAttributes', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
            resources: [`${bucket}/${blobs}*`],
          }),
        ]
      : []),
    new iam.PolicyStatement({
      sid: 'ComponentScratchDeletes',
      actions: ['s3:DeleteObject'],
      resources: workerScratchKeys(config, component).map((key) => `${bucket}/${key}`),
    }),
  ];
}

/**
 * A drill worker's objects: it reads backups and blobs and writes nothing of them; it takes and releases the
 * component's operation lock while it restores, and as a Fargate task writes (and first clears) its step result.
 */
function drillWorkerObjectStatements(config: BackupConfig, component: ComponentName, bucket: string): iam.PolicyStatement[] {
  const blobs = componentBlobPrefix(config, component);
  const own = [componentLockKey(config, component), stepResultKeys(config, component)].map((key) => `${bucket}/${key}`);
  return [
    new iam.PolicyStatement({ sid: 'ComponentObjects', actions: ['s3:GetObject'], resources: [`${bucket}/${componentKeyPrefix(config, component)}*`] }),
    ...(blobs ? [new iam.PolicyStatement({ sid: 'ComponentBlobs', actions: ['s3:GetObject', 's3:GetObjectAttributes'], resources: [`${bucket}/${blobs}*`] })] : []),
    new iam.PolicyStatement({ sid: 'ComponentLockAndSteps', actions: ['s3:PutObject', 's3:DeleteObject'], resources: own }),
  ];
}

/**
 * Everything a worker of `component` needs: read its secret, read and write (never delete) its key space and,
 * when it stores blobs, its blob prefix, the data key via S3. Completed backups are never deleted by a worker: the only deletes are the operation lock a
 * backup releases and the step result a Fargate task clears before it runs (core/operations.ts); an attempt
 * that failed is removed by the janitor, whose role alone may delete backup objects.
 *
 * The worker that runs the component's drills writes their records under `<prefix>reports/drills/` (write
 * only: the drill-report function reads them). A drill worker gets no source grant, only its drill grants on
 * the sandboxes, and reads its key space and blobs without writing them (drillWorkerObjectStatements).
 */
export function componentStatements(config: BackupConfig, component: ComponentName, dataKey: KmsKeyRef, purpose: WorkerPurpose = 'worker'): iam.PolicyStatement[] {
  const bucket = bucketArn(config.storage.primary.bucket);
  const keyPrefix = componentKeyPrefix(config, component);
  const blobs = componentBlobPrefix(config, component);
  const statements = [
    ...(purpose === 'drill' ? drillWorkerObjectStatements(config, component, bucket) : workerObjectStatements(config, component, bucket)),
    new iam.PolicyStatement({
      sid: 'ComponentListing',
      actions: ['s3:ListBucket'],
      resources: [bucket],
      conditions: { StringLike: { 's3:prefix': [`${keyPrefix}*`, ...(blobs ? [`${blobs}*`] : [])] } },
    }),
    dataKey.s3Statement(['kms:Encrypt', 'kms:Decrypt', 'kms:GenerateDataKey'], config.storage.primary.region),
  ];
  const secretArns = secretArnsOf(config, component);
  if (secretArns.length > 0) {
    statements.push(new iam.PolicyStatement({ sid: 'ComponentSecret', actions: ['secretsmanager:GetSecretValue'], resources: secretArns.map(secretResource) }));
  }
  const runsDrills = purpose === 'drill' || !drillsOnOwnWorker(config, component);
  if (runsDrills) {
    statements.push(new iam.PolicyStatement({ sid: 'DrillRecords', actions: ['s3:PutObject'], resources: [`${bucket}/${drillRecordsPrefix(config)}*`] }));
  }
  for (const grant of grantsFor(config, component, purpose)) {
    statements.push(new iam.PolicyStatement({ sid: grant.sid, actions: [...grant.actions], resources: [...grant.resources], conditions: grant.conditions as Record<string, unknown> | undefined }));
  }
  return statements;
}

/** Acknowledges the wildcards componentStatements necessarily carries, on the policy that holds them. */
export function acknowledgeComponentStatements(scope: Construct, config: BackupConfig, component: ComponentName, dataKey: KmsKeyRef, purpose: WorkerPurpose = 'worker'): void {
  const keyPrefix = componentKeyPrefix(config, component);
  Validations.of(scope).acknowledge(
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${keyPrefix}*]`,
      reason:
        purpose === 'drill'
          ? `Backup ids are generated per run, so the drill worker reads every key under its component's prefix ${keyPrefix} (and nothing outside it); it writes only the lock and its step results there.`
          : `Backup ids are generated per run, so the worker reads and writes every key under its own component prefix ${keyPrefix} (and nothing outside it); it cannot delete there.`,
    },
    {
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${stepResultKeys(config, component)}]`,
      reason: 'Fargate step results are named by step id per execution; the task clears its own step result before it runs, and may delete nothing else but the lock.',
    },
  );
  if (storesBlobs(component) && purpose === 'worker') {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${primaryKey(config, stagingPrefix(COMPONENT_GROUP[component], component))}*]`,
      reason: 'A backup\'s scratch copies are named per backup id under _staging/; the backup deletes its own once their blobs are written (the janitor removes what a failed one left).',
    });
  }
  const blobs = componentBlobPrefix(config, component);
  if (blobs) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${blobs}*]`,
      reason:
        purpose === 'drill'
          ? `Blobs are named by their content's digest, so the drill worker reads every key under its component's blob prefix ${blobs} (and nothing outside it); it cannot write or delete there.`
          : `Blobs are named by their content's digest, so the worker reads and writes every key under its own blob prefix ${blobs} (and nothing outside it); it cannot delete there.`,
    });
  }
  if (purpose === 'drill' || !drillsOnOwnWorker(config, component)) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(config.storage.primary.bucket)}/${drillRecordsPrefix(config)}*]`,
      reason: `A drill writes its record at <drill id>/${component}.json under ${drillRecordsPrefix(config)}, with drill ids generated per run; write only, no read or delete.`,
    });
  }
  dataKey.acknowledgeAliasGrant(scope);
  const wildcards = new Map<string, string[]>();
  for (const grant of grantsFor(config, component, purpose)) {
    for (const resource of grant.resources.filter((r) => r.includes('*'))) {
      if (!grant.wildcardReason) throw new Error(`${component}: grant ${grant.sid} names ${resource} without a wildcardReason`);
      wildcards.set(resource, [...(wildcards.get(resource) ?? []), grant.wildcardReason]);
    }
  }
  for (const [resource, reasons] of wildcards) {
    Validations.of(scope).acknowledge({ id: `AwsSolutions-IAM5[Resource::${nagText(resource)}]`, reason: [...new Set(reasons)].join(' ') });
  }
}

export interface ComponentWorkerProps {
  readonly component: ComponentName;
  readonly config: BackupConfig;
  readonly image: ecrAssets.DockerImageAsset;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
  readonly securityGroups: ec2.ISecurityGroup[];
  readonly cluster: ecs.ICluster;
  readonly dataKey: KmsKeyRef;
  /**
   * The manifest HMAC key. The worker runs backups (signs manifests) as well as verify and restore steps, so
   * its role gets GenerateMac and VerifyMac; see ManifestKey for why the roles are not split per operation.
   */
  readonly manifestKey: ManifestMacKey;
  readonly logKey: kms.IKey;
  /** The workers' runtime config (without worker references) as a JSON string token: the Fargate task's NCA_RUNTIME_CONFIG. */
  readonly runtimeConfigJson: string;
  /**
   * `drill`: a drill worker (WorkerPurpose): no source grants but its drill grants on the sandboxes, and the
   * manifest key for verifying only (it signs no backup).
   * @default 'worker'
   */
  readonly purpose?: WorkerPurpose;
}

export class ComponentWorker extends Construct {
  readonly function: lambda.DockerImageFunction;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly containerName: string;

  constructor(scope: Construct, id: string, props: ComponentWorkerProps) {
    super(scope, id);
    const { component, config } = props;
    const purpose = props.purpose ?? 'worker';
    const drill = purpose === 'drill';
    const grantManifestKey = (role: iam.IRole) => (drill ? props.manifestKey.grantVerifyMac(role) : props.manifestKey.grantGenerateMac(role));
    const who = drill ? `${component} drill worker` : `${component} worker`;
    // The Lambda function gets its runtime config in each event from the state machines (Lambda allows 4 KB of
    // environment in all, which a large configuration exceeds); the task definition, which has no such limit,
    // carries it as NCA_RUNTIME_CONFIG, so RunTask's overrides (8 KB) hold the step alone.
    const environment = { NCA_COMPONENT: component };
    const ecsEnvReason =
      'NCA_RUNTIME_CONFIG and NCA_COMPONENT hold bucket, prefix, key and secret ARNs and the component name only; the database password is read from Secrets Manager at run time.';

    // Lambda
    const functionLogs = new logs.LogGroup(this, 'FunctionLogs', {
      retention: WORKER_LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const functionRole = new iam.Role(this, 'FunctionRole', {
      description: `nca-backup ${who} (Lambda)`,
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    for (const statement of componentStatements(config, component, props.dataKey, purpose)) functionRole.addToPrincipalPolicy(statement);
    functionRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'VpcNetworkInterfaces',
        actions: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        resources: ['*'],
      }),
    );
    grantManifestKey(functionRole);
    functionLogs.grantWrite(functionRole);
    acknowledgeComponentStatements(functionRole, config, component, props.dataKey, purpose);
    Validations.of(functionRole).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only the actions that support no resource-level permissions: Lambda ENI management for the VPC (the statement AWSLambdaVPCAccessExecutionRole grants) and X-Ray PutTraceSegments/PutTelemetryRecords for active tracing.',
      },
    );

    this.function = new lambda.DockerImageFunction(this, 'Function', {
      description: drill
        ? `nca-backup drill worker for ${component}: restore drills only, without the worker's grants on its sources`
        : `nca-backup worker for ${component}: estimate, backup, verify and restore operations`,
      code: lambda.DockerImageCode.fromEcr(props.image.repository, { tagOrDigest: props.image.imageTag }),
      architecture: lambda.Architecture.X86_64,
      memorySize: config.runner.lambda.memoryMiB,
      timeout: Duration.minutes(config.runner.lambda.timeoutMinutes),
      vpc: props.vpc,
      vpcSubnets: { subnets: props.subnets },
      securityGroups: props.securityGroups,
      environment,
      role: functionRole,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: functionLogs,
    });

    // Fargate
    const taskLogs = new logs.LogGroup(this, 'TaskLogs', {
      retention: WORKER_LOG_RETENTION,
      encryptionKey: props.logKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const taskRole = new iam.Role(this, 'TaskRole', {
      description: `nca-backup ${who} (Fargate task)`,
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
    });
    for (const statement of componentStatements(config, component, props.dataKey, purpose)) taskRole.addToPrincipalPolicy(statement);
    grantManifestKey(taskRole);
    acknowledgeComponentStatements(taskRole, config, component, props.dataKey, purpose);

    const executionRole = new iam.Role(this, 'ExecutionRole', {
      description: `nca-backup ${who}: pulls the image and writes the task logs`,
      assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
    });
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ecr:GetAuthorizationToken, needed to pull the worker image, supports no resource-level permissions; the layer pulls are limited to the image repository.',
    });

    this.taskDefinition = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: config.runner.fargate.cpu,
      memoryLimitMiB: config.runner.fargate.memoryMiB,
      ephemeralStorageGiB: config.runner.fargate.ephemeralStorageGiB,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      taskRole,
      executionRole,
    });
    this.containerName = `${component}-worker`;
    this.taskDefinition.addContainer('Worker', {
      containerName: this.containerName,
      image: ecs.ContainerImage.fromDockerImageAsset(props.image),
      // The Lambda base image's entry point is the runtime interface client; the task runs the CLI instead and
      // the state machine passes ["run-step", "<json>"] as the command.
      entryPoint: ['node', '/var/task/cli.js'],
      // Lambda sets AWS_REGION itself (and refuses it as a variable); the task gets it explicitly.
      environment: { ...environment, NCA_RUNTIME_CONFIG: props.runtimeConfigJson, AWS_REGION: Stack.of(this).region },
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: component, logGroup: taskLogs }),
    });
    Validations.of(this.taskDefinition).acknowledge({ id: 'AwsSolutions-ECS2', reason: ecsEnvReason });
  }

  /** What the control plane hands to the state machines for this component. */
  workerRef(subnets: ec2.ISubnet[], securityGroups: ec2.ISecurityGroup[]): WorkerRef {
    return {
      functionName: this.function.functionName,
      taskDefinitionArn: this.taskDefinition.taskDefinitionArn,
      containerName: this.containerName,
      subnets: subnets.map((s) => s.subnetId),
      securityGroups: securityGroups.map((sg) => sg.securityGroupId),
    };
  }
}

export interface WorkerPlaneProps {
  /** backup.yaml as the plane sees it (the recovery stack's: config/recovery.ts restorePlaneConfig). */
  readonly config: BackupConfig;
  /** PG_MAJOR build argument of the worker image. @default - the Dockerfile's */
  readonly pgMajor?: string;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.ISubnet[];
  readonly securityGroups: ec2.ISecurityGroup[];
  /** The vault's key: the data key in the primary region, the replica key in the recovery region. */
  readonly dataKey: KmsKeyRef;
  readonly manifestKey: ManifestMacKey;
  readonly logKey: kms.IKey;
  /** The workers' runtime config as a JSON string token (Stack.toJsonString). */
  readonly runtimeConfigJson: string;
}

/** The cluster, the worker of each configured component and the drill workers (drillsOnOwnWorker), with the references the control plane gets. */
export interface WorkerPlane {
  readonly cluster: ecs.Cluster;
  readonly workers: Partial<Record<ComponentName, ComponentWorker>>;
  readonly drillWorkers: Partial<Record<ComponentName, ComponentWorker>>;
  /** Each component's worker, as the restore and backup workflows run it. */
  readonly refs: Partial<Record<ComponentName, WorkerRef>>;
  /** Each component's drill worker where it has one, else its worker: as the drill workflow runs it. */
  readonly drillRefs: Partial<Record<ComponentName, WorkerRef>>;
}

/**
 * What both stacks run their workflows' steps on: the ECS cluster (ids Cluster, WorkerImage, Worker-<component>,
 * Drill-<component> directly under `scope`) and one ComponentWorker per configured component.
 */
export function workerPlane(scope: Construct, props: WorkerPlaneProps): WorkerPlane {
  const { config } = props;
  const containerInsights = config.runner.fargate.containerInsights === true;
  const cluster = new ecs.Cluster(scope, 'Cluster', {
    vpc: props.vpc,
    containerInsightsV2: containerInsights ? ecs.ContainerInsights.ENABLED : ecs.ContainerInsights.DISABLED,
  });
  if (!containerInsights) {
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-ECS4',
      reason: 'Container Insights is off by default (backup.yaml runner.fargate.container_insights): the per-task metrics are a paid choice; each task logs to CloudWatch Logs and the workflows raise the failure alarms.',
    });
  }
  const components = configuredComponents(config);
  const image = components.length > 0 ? workerImage(scope, props.pgMajor) : undefined;
  const workers: Partial<Record<ComponentName, ComponentWorker>> = {};
  const drillWorkers: Partial<Record<ComponentName, ComponentWorker>> = {};
  const refs: Partial<Record<ComponentName, WorkerRef>> = {};
  const drillRefs: Partial<Record<ComponentName, WorkerRef>> = {};
  for (const component of components) {
    const workerProps: ComponentWorkerProps = {
      component,
      config,
      image: image!,
      vpc: props.vpc,
      subnets: props.subnets,
      securityGroups: props.securityGroups,
      cluster,
      dataKey: props.dataKey,
      manifestKey: props.manifestKey,
      logKey: props.logKey,
      runtimeConfigJson: props.runtimeConfigJson,
    };
    const worker = new ComponentWorker(scope, `Worker-${component}`, workerProps);
    workers[component] = worker;
    refs[component] = worker.workerRef(props.subnets, props.securityGroups);
    const drillWorker = drillsOnOwnWorker(config, component) ? new ComponentWorker(scope, `Drill-${component}`, { ...workerProps, purpose: 'drill' }) : worker;
    if (drillWorker !== worker) drillWorkers[component] = drillWorker;
    drillRefs[component] = drillWorker.workerRef(props.subnets, props.securityGroups);
  }
  return { cluster, workers, drillWorkers, refs, drillRefs };
}
