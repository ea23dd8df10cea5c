/**
 * KMS keys: the vault's data key (created, or the one backup.yaml names), the replica key referenced across
 * regions by its alias, and the operations key that encrypts logs, the alarm topic and the schedules' DLQ.
 *
 * IAM cannot authorise a KMS call on an alias ARN, so a key known only by its alias is granted as
 * `key/*` narrowed by `kms:ResourceAliases` (the documented way to grant by alias).
 */
import { Arn, ArnFormat, Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as cr from 'aws-cdk-lib/custom-resources';
import { Construct } from 'constructs';
import { DEFAULT_INSTALLATION } from '../../config/types';

/** How a policy statement names a key: its ARN, or every key of the account and region that carries an alias. */
export class KmsKeyRef {
  /** A key created in this app (rotation on). */
  static fromKey(key: kms.IKey): KmsKeyRef {
    return new KmsKeyRef(key.keyArn, key.keyArn, undefined, key);
  }

  /** A key named by ARN; its region and account come from the ARN. */
  static fromKeyArn(keyArn: string): KmsKeyRef {
    return new KmsKeyRef(keyArn, keyArn);
  }

  /** A key named by alias ("alias/…") in `region` of the deploying account. */
  static fromAlias(aliasName: string, region: string): KmsKeyRef {
    const aliasArn = `arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:${aliasName}`;
    return new KmsKeyRef(aliasArn, `arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:key/*`, { aliasName, region });
  }

  private constructor(
    /** What S3 (bucket default encryption, replication, SSE headers) is given: a key ARN or an alias ARN. */
    readonly arnForS3: string,
    /** The IAM resource that covers the key. */
    readonly policyResource: string,
    /** Set when the key is known only by alias: statements carry a kms:ResourceAliases condition. */
    private readonly byAlias?: { readonly aliasName: string; readonly region: string },
    readonly key?: kms.IKey,
  ) {}

  get aliasName(): string | undefined {
    return this.byAlias?.aliasName;
  }

  /**
   * A grant on an alias-only key necessarily names `key/*`; it is narrowed by kms:ResourceAliases and
   * kms:ViaService. Records that reason for cdk-nag on `scope` (the policy holding the statement).
   */
  acknowledgeAliasGrant(scope: Construct): void {
    if (!this.byAlias) return;
    const { aliasName, region } = this.byAlias;
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${region}:<AWS::AccountId>:key/*]`,
      reason: `The key is known here only by its alias ${aliasName}; IAM cannot grant on an alias ARN, so the statement names keys of ${region} narrowed by kms:ResourceAliases = ${aliasName} and kms:ViaService = S3.`,
    });
  }

  /** An IKey for L2 props such as `encryptionKey`. */
  asKey(scope: Construct, id: string): kms.IKey {
    return this.key ?? kms.Key.fromKeyArn(scope, id, this.arnForS3);
  }

  /** Allows `actions` on this key only when S3 in `region` calls KMS on the principal's behalf. */
  s3Statement(actions: string[], region: string): iam.PolicyStatement {
    const conditions: Record<string, Record<string, unknown>> = {
      StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` },
    };
    if (this.aliasName) conditions['ForAnyValue:StringEquals'] = { 'kms:ResourceAliases': [this.aliasName] };
    return new iam.PolicyStatement({ actions, resources: [this.policyResource], conditions });
  }
}

/**
 * The KMS aliases of an installation (`backup.installation`): the created data key's, the replica key's and
 * the manifest key's. Aliases are unique per account and region, so a second installation gets its own.
 */
export function keyAliases(installation: string): { readonly data: string; readonly replica: string; readonly manifest: string; readonly configEnvelope: string } {
  return {
    data: `alias/${installation}`,
    replica: `alias/${installation}-replica`,
    manifest: `alias/${installation}-manifest`,
    configEnvelope: `alias/${installation}-config-envelope`,
  };
}

/**
 * The vault's data key: `encryption.kms_key_id` when given (key ARN, alias ARN, alias name or key id of the
 * primary region), otherwise a new customer managed key with yearly rotation under `alias`.
 */
export function dataKeyRef(scope: Construct, kmsKeyId: string | undefined, alias = keyAliases(DEFAULT_INSTALLATION).data): KmsKeyRef {
  const region = Stack.of(scope).region;
  if (!kmsKeyId) {
    const key = new kms.Key(scope, 'DataKey', {
      description: 'nca-backup: SSE-KMS for every backup object in the primary vault',
      enableKeyRotation: true,
      alias,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return KmsKeyRef.fromKey(key);
  }
  if (kmsKeyId.startsWith('arn:')) {
    const parts = Arn.split(kmsKeyId, ArnFormat.SLASH_RESOURCE_NAME);
    if (parts.resource === 'alias') return KmsKeyRef.fromAlias(`alias/${parts.resourceName}`, parts.region ?? region);
    return KmsKeyRef.fromKeyArn(kmsKeyId);
  }
  if (kmsKeyId.startsWith('alias/')) return KmsKeyRef.fromAlias(kmsKeyId, region);
  return KmsKeyRef.fromKeyArn(`arn:${Aws.PARTITION}:kms:${region}:${Aws.ACCOUNT_ID}:key/${kmsKeyId}`);
}

/** The value handed to the functions as `kmsKeyId` (the SSEKMSKeyId header): what the operator wrote, or the created key's ARN. */
export function runtimeKmsKeyId(ref: KmsKeyRef, configured: string | undefined): string {
  return configured ?? ref.arnForS3;
}

/** The default installation's alias of the key of the recovery region that re-encrypts replicas; the primary stack finds it by alias. */
export const REPLICA_KEY_ALIAS = keyAliases(DEFAULT_INSTALLATION).replica;

export interface KeyAliasProps {
  /**
   * The key's alias.
   * @default - the default installation's (keyAliases)
   */
  readonly alias?: string;
}

export class ReplicaKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: KeyAliasProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'nca-backup: SSE-KMS for the replicas in the recovery-region vault',
      enableKeyRotation: true,
      alias: props.alias ?? REPLICA_KEY_ALIAS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

/**
 * Encrypts the operational data (CloudWatch Logs groups, the alarm topic, the schedules' dead-letter queue).
 * Kept apart from the data key so that an imported data key's policy never needs changing.
 */
export class OperationsKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    const { region, account, partition } = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: 'nca-backup: logs, alarm topic and dead-letter queue',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs encrypts log groups of this account and region with the key.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${partition}:logs:${region}:${account}:log-group:*` },
        },
      }),
    );
    // CloudWatch alarms publish to the KMS-encrypted topic.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    );
  }
}


/** The default installation's alias of the manifest key (both regions: the primary stack gives the replica the same alias, KeyReplica `alias`). */
export const MANIFEST_KEY_ALIAS = keyAliases(DEFAULT_INSTALLATION).manifest;
/** The MAC algorithm every manifest is signed with; grants are narrowed to it. */
export const MANIFEST_MAC_ALGORITHM = 'HMAC_SHA_256';

/**
 * The HMAC key that authenticates manifests (HMAC_256, GENERATE_VERIFY_MAC). Only backup workers may
 * GenerateMac; readers may only VerifyMac, so a principal that can write to the bucket but does not hold
 * GenerateMac cannot produce a manifest any reader accepts.
 *
 * Multi-Region on purpose: a key cannot become multi-Region after it is created, and the recovery region
 * needs the same key material to verify replicated manifests, above all when the primary region is lost
 * (see ManifestKeyReplica).
 * HMAC keys do not support automatic rotation (KMS refuses EnableKeyRotation for them).
 *
 * Who holds what: a component's worker role runs its backups and also its verify and restore steps (the
 * state machines invoke the same function and task definition for every operation), and KMS has no
 * condition that tells a GenerateMac for a backup from any other, so that role holds GenerateMac and
 * VerifyMac. Splitting it would need a second restore-only worker per component (function, task
 * definition, WorkerRef and state machine changes). It costs little: a worker can already write its own
 * component's key space, so the MAC's job is to stop everyone else who can write to the bucket (other
 * roles, a leaked bucket-write credential, an operator's mistake) from planting a manifest. The control
 * plane's resolve-restore, which reads manifests, gets VerifyMac only.
 */
/** What a role is granted on the manifest key: ManifestKey in the primary region, ManifestKeyReplicaRef in the recovery region. */
export interface ManifestMacKey {
  /** Backup workers: sign the manifests they write (and verify, as every reader does). */
  grantGenerateMac(role: iam.IRole): void;
  /** Readers: verify only. */
  grantVerifyMac(role: iam.IRole): void;
}

export class ManifestKey extends Construct implements ManifestMacKey {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: KeyAliasProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'nca-backup: HMAC key that authenticates backup manifests (GenerateMac: backup workers only)',
      keySpec: kms.KeySpec.HMAC_256,
      keyUsage: kms.KeyUsage.GENERATE_VERIFY_MAC,
      multiRegion: true,
      alias: props.alias ?? MANIFEST_KEY_ALIAS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }

  /** Backup workers: sign the manifests they write (and verify, as every reader does). */
  grantGenerateMac(role: iam.IRole): void {
    role.addToPrincipalPolicy(manifestMacStatement('ManifestMacGenerate', ['kms:GenerateMac', 'kms:VerifyMac'], this.key.keyArn));
  }

  /** Readers: verify only. */
  grantVerifyMac(role: iam.IRole): void {
    role.addToPrincipalPolicy(manifestMacStatement('ManifestMacVerify', ['kms:VerifyMac'], this.key.keyArn));
  }
}

export interface KeyReplicaProps {
  /** A multi-Region primary key of this stack. */
  readonly key: kms.Key;
  readonly replicaRegion: string;
  /** The replica's description. */
  readonly description: string;
  /** The custom resource's type, e.g. `Custom::NcaManifestKeyReplica`. */
  readonly resourceType: string;
  /** The replica's physical id before the region, e.g. `manifest-key-replica`. */
  readonly name: string;
  /**
   * An alias the replica gets in its region, so the recovery stack (deployed before the key exists) can name it.
   * @default none
   */
  readonly alias?: string;
}

/**
 * A multi-Region key's replica in the recovery region: same key material and key id, so what the primary
 * region sealed or signed opens there even when the primary region is gone. KMS creates a replica only
 * through ReplicateKey, called in the primary key's region, and the recovery stack (deployed first) cannot
 * name a key the primary stack has not created yet; so the primary stack makes that call itself, once,
 * through an SDK custom resource. The replica is kept when the stack is deleted (no delete call), like every
 * key here, and an existing replica is accepted as is. Its ARN is the primary key's ARN with the recovery region.
 */
export class KeyReplica extends Construct {
  readonly resource: cr.AwsCustomResource;

  constructor(scope: Construct, id: string, props: KeyReplicaProps) {
    super(scope, id);
    const primaryRegion = Stack.of(this).region;
    this.resource = new cr.AwsCustomResource(this, 'Replicate', {
      resourceType: props.resourceType,
      installLatestAwsSdk: false,
      onCreate: {
        service: 'KMS',
        action: 'ReplicateKey',
        region: primaryRegion,
        parameters: { KeyId: props.key.keyArn, ReplicaRegion: props.replicaRegion, Description: props.description },
        physicalResourceId: cr.PhysicalResourceId.of(`${props.name}-${props.replicaRegion}`),
        // A replica made by an earlier deployment (or by hand) is the one we want.
        ignoreErrorCodesMatching: 'AlreadyExistsException',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([
        new iam.PolicyStatement({ actions: ['kms:ReplicateKey'], resources: [props.key.keyArn] }),
        // ReplicateKey creates the replica with the caller's kms:CreateKey permission in the replica region.
        new iam.PolicyStatement({ actions: ['kms:CreateKey'], resources: ['*'] }),
      ]),
    });
    Validations.of(this.resource).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'kms:CreateKey supports no resource-level permissions, and ReplicateKey creates the replica with it; held only by the deploy-time custom resource that CloudFormation alone invokes.',
    });
    // The provider is CDK's single SDK-call function for the stack; it writes its own logs with the basic execution role.
    Validations.of(this.resource.grantPrincipal as unknown as Construct).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'CDK\'s SDK custom-resource provider (deploy time only, invoked by CloudFormation) logs through AWSLambdaBasicExecutionRole; it holds nothing else but the replica statements.',
    });
    if (props.alias) this.aliasReplica(props);
  }

  /**
   * KMS aliases are per region and ReplicateKey copies none: CreateAlias in the replica region, on the replica
   * (a multi-Region key keeps its key id in every region). An alias already there is kept as is.
   */
  private aliasReplica(props: KeyReplicaProps): void {
    const { partition, account } = Stack.of(this);
    const replicaArn = Arn.format({ partition, service: 'kms', region: props.replicaRegion, account, resource: 'key', resourceName: props.key.keyId });
    const aliasArn = `arn:${partition}:kms:${props.replicaRegion}:${account}:${props.alias}`;
    const alias = new cr.AwsCustomResource(this, 'Alias', {
      resourceType: `${props.resourceType}Alias`,
      installLatestAwsSdk: false,
      onCreate: {
        service: 'KMS',
        action: 'CreateAlias',
        region: props.replicaRegion,
        parameters: { AliasName: props.alias, TargetKeyId: props.key.keyId },
        physicalResourceId: cr.PhysicalResourceId.of(`${props.name}-alias-${props.replicaRegion}`),
        ignoreErrorCodesMatching: 'AlreadyExistsException',
      },
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['kms:CreateAlias'], resources: [replicaArn, aliasArn] })]),
    });
    alias.node.addDependency(this.resource);
  }
}

/**
 * The manifest key's replica as the recovery stack names it: by alias in its own region (the primary stack
 * gives the replica that alias; the recovery stack, deployed first, cannot know the key id). IAM cannot grant
 * on an alias ARN, so the statements name the region's keys narrowed by kms:ResourceAliases.
 */
export class ManifestKeyReplicaRef implements ManifestMacKey {
  constructor(
    readonly aliasName: string,
    readonly region: string,
  ) {}

  /** What the functions send as the manifest key (VerifyMac and GenerateMac accept an alias ARN). */
  get aliasArn(): string {
    return `arn:${Aws.PARTITION}:kms:${this.region}:${Aws.ACCOUNT_ID}:${this.aliasName}`;
  }

  grantGenerateMac(role: iam.IRole): void {
    this.grant(role, 'ManifestMacGenerate', ['kms:GenerateMac', 'kms:VerifyMac']);
  }

  grantVerifyMac(role: iam.IRole): void {
    this.grant(role, 'ManifestMacVerify', ['kms:VerifyMac']);
  }

  private grant(role: iam.IRole, sid: string, actions: string[]): void {
    const statement = manifestMacStatement(sid, actions, `arn:${Aws.PARTITION}:kms:${this.region}:${Aws.ACCOUNT_ID}:key/*`);
    statement.addCondition('ForAnyValue:StringEquals', { 'kms:ResourceAliases': [this.aliasName] });
    role.addToPrincipalPolicy(statement);
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:kms:${this.region}:<AWS::AccountId>:key/*]`,
      reason: `The manifest key's replica is known here only by its alias ${this.aliasName} (the primary stack creates it after this stack); IAM cannot grant on an alias ARN, so the statement names keys of ${this.region} narrowed by kms:ResourceAliases = ${this.aliasName} and kms:MacAlgorithm.`,
    });
  }
}

/** The manifest key's replica: manifests signed in the primary verify in the recovery region. */
export function manifestKeyReplica(scope: Construct, key: kms.Key, replicaRegion: string, alias?: string): KeyReplica {
  return new KeyReplica(scope, 'ManifestKeyReplica', {
    ...(alias ? { alias } : {}),
    key,
    replicaRegion,
    description: `nca-backup: replica of the manifest HMAC key (primary in ${Stack.of(scope).region}); verifies replicated manifests`,
    resourceType: 'Custom::NcaManifestKeyReplica',
    name: 'manifest-key-replica',
  });
}

/** What a configuration export's encryption context must name (functions/components/config/envelope.ts). */
export const CONFIG_ENVELOPE_COMPONENT = 'config';

/**
 * The key configuration exports are sealed with before upload (envelope encryption inside SSE-KMS), apart
 * from the vault's data key: whoever may read the vault and use its key still cannot open a secret value
 * without kms:Decrypt on this key. Its policy refuses every cryptographic use whose encryption context does
 * not name the configuration component, so the key cannot be borrowed for anything else; the workers of the
 * component are granted GenerateDataKey and Decrypt under that context only, its drill worker Decrypt only.
 *
 * Multi-Region, like the manifest key, so that the recovery region can open exports when the primary is gone
 * (the primary stack replicates it: KeyReplica).
 */
export class ConfigEnvelopeKey extends Construct {
  readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: KeyAliasProps = {}) {
    super(scope, id);
    this.key = new kms.Key(this, 'Key', {
      description: 'nca-backup: seals configuration exports (envelope encryption under the context component=config)',
      enableKeyRotation: true,
      multiRegion: true,
      alias: props.alias ?? keyAliases(DEFAULT_INSTALLATION).configEnvelope,
      pendingWindow: Duration.days(30),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyForConfigurationExports',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*'],
        resources: ['*'],
        conditions: { StringNotEquals: { 'kms:EncryptionContext:component': CONFIG_ENVELOPE_COMPONENT } },
      }),
    );
  }

  /** A worker of the configuration component: seal exports (GenerateDataKey) and open them (Decrypt), under the component's context only. */
  grantSealAndOpen(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ConfigEnvelope',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: { 'kms:EncryptionContext:component': CONFIG_ENVELOPE_COMPONENT },
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['component', 'backupId'] },
        },
      }),
    );
  }

  /** A drill worker of the configuration component: open the exports it restores (Decrypt), never seal one; under the component's context only. */
  grantOpen(role: iam.IRole): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'ConfigEnvelopeOpen',
        actions: ['kms:Decrypt'],
        resources: [this.key.keyArn],
        conditions: {
          StringEquals: { 'kms:EncryptionContext:component': CONFIG_ENVELOPE_COMPONENT },
          'ForAllValues:StringEquals': { 'kms:EncryptionContextKeys': ['component', 'backupId'] },
        },
      }),
    );
  }
}

export function manifestMacStatement(sid: string, actions: string[], keyArn: string): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions,
    resources: [keyArn],
    conditions: { StringEquals: { 'kms:MacAlgorithm': MANIFEST_MAC_ALGORITHM } },
  });
}
