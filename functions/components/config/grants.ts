/**
 * What the configuration component's worker may do, as data (config/component.ts WorkerGrant): read and, for
 * a restore that applies, write exactly the configured Parameter Store paths, secrets and file prefixes, and
 * use KMS only on their behalf. A backup and the restore's safety backup read; an applied restore writes; the
 * workflows run both on the one worker, so its roles hold both.
 *
 * KMS: the keys the parameters, secrets and files are encrypted with are not known at synth time (each item
 * names its own, or the AWS managed key), so the statements name the region's keys and are narrowed to the
 * service calling on the worker's behalf (kms:ViaService) and to the configured items by the encryption
 * context each service sets: PARAMETER_ARN (Parameter Store), SecretARN (Secrets Manager) and aws:s3:arn (S3;
 * the bucket's ARN when the bucket uses S3 Bucket Keys).
 */
import type { GrantScope, WorkerGrant } from '../../../config/component';
import { isSecretArn, secretResource } from '../../../config/fields';

/** The parts of backup.sources.config the grants are made of (ConfigSourceConfig, without importing the descriptor that uses them). */
export interface ConfigGrantSources {
  readonly parameterPaths: readonly string[];
  readonly secrets: readonly string[];
  readonly files: readonly { readonly bucket: string; readonly prefix: string }[];
}

/** The parameter ARNs of a path: the path itself and everything below it ("/" is every parameter). */
export function parameterResources(path: string, { partition, region, account }: GrantScope): string[] {
  const base = `arn:${partition}:ssm:${region}:${account}:parameter`;
  return path === '/' ? [`${base}/*`] : [`${base}${path}`, `${base}${path}/*`];
}

/** The secret ARNs a configured secret covers: its own ARN (any version suffix), or every name under a prefix. */
export function secretResources(secret: string, { partition, region, account }: GrantScope): string {
  return isSecretArn(secret) ? secretResource(secret) : `arn:${partition}:secretsmanager:${region}:${account}:secret:${secret}*`;
}

const kmsKeys = ({ partition, region, account }: GrantScope): string => `arn:${partition}:kms:${region}:${account}:key/*`;

const KMS_REASON =
  'The keys the configuration is encrypted with are chosen per item (or are the AWS managed keys), so the statement names keys of the region, narrowed by kms:ViaService to the one service and by its encryption context to the configured items.';

export function configGrants(source: ConfigGrantSources, scope: GrantScope): WorkerGrant[] {
  const grants: WorkerGrant[] = [];
  if (source.parameterPaths.length > 0) {
    const parameters = source.parameterPaths.flatMap((path) => parameterResources(path, scope));
    grants.push(
      {
        sid: 'ConfigParameters',
        actions: ['ssm:GetParametersByPath', 'ssm:GetParameters', 'ssm:ListTagsForResource', 'ssm:PutParameter', 'ssm:AddTagsToResource', 'ssm:DeleteParameter'],
        resources: parameters,
        wildcardReason: `Parameter Store paths are read recursively: every parameter under ${source.parameterPaths.join(', ')} and nothing else.`,
      },
      // DescribeParameters (the type, key id and version of each parameter) supports no resource-level permissions.
      { sid: 'ConfigDescribeParameters', actions: ['ssm:DescribeParameters'], resources: ['*'], wildcardReason: 'ssm:DescribeParameters supports no resource-level permissions; the worker calls it with a filter on its configured paths.' },
      {
        sid: 'ConfigSecureStrings',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [kmsKeys(scope)],
        conditions: {
          StringEquals: { 'kms:ViaService': `ssm.${scope.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameters },
        },
        wildcardReason: KMS_REASON,
      },
    );
  }
  if (source.secrets.length > 0) {
    const secrets = source.secrets.map((secret) => secretResources(secret, scope));
    grants.push(
      {
        sid: 'ConfigSecrets',
        actions: [
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecret',
          'secretsmanager:CreateSecret',
          'secretsmanager:DeleteSecret',
          'secretsmanager:TagResource',
        ],
        resources: secrets,
        wildcardReason: 'A secret named by ARN is granted with any version suffix; a name prefix covers every secret under it, and nothing else.',
      },
      { sid: 'ConfigListSecrets', actions: ['secretsmanager:ListSecrets'], resources: ['*'], wildcardReason: 'secretsmanager:ListSecrets supports no resource-level permissions; the worker lists with a name filter on its configured prefixes.' },
      {
        sid: 'ConfigSecretKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [kmsKeys(scope)],
        conditions: {
          StringEquals: { 'kms:ViaService': `secretsmanager.${scope.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:SecretARN': secrets },
        },
        wildcardReason: KMS_REASON,
      },
    );
  }
  if (source.files.length > 0) {
    const buckets = [...new Set(source.files.map((f) => `arn:${scope.partition}:s3:::${f.bucket}`))];
    const objects = source.files.map((f) => `arn:${scope.partition}:s3:::${f.bucket}/${f.prefix}*`);
    grants.push(
      {
        sid: 'ConfigFiles',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: objects,
        wildcardReason: 'Configuration files are every object under the configured prefixes, and nothing else.',
      },
      ...buckets.map((bucket, i): WorkerGrant => ({
        sid: `ConfigFileListing${i}`,
        actions: ['s3:ListBucket'],
        resources: [bucket],
        conditions: { StringLike: { 's3:prefix': source.files.filter((f) => bucket.endsWith(`:::${f.bucket}`)).map((f) => `${f.prefix}*`) } },
      })),
      {
        sid: 'ConfigFileKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [kmsKeys(scope)],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${scope.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': [...buckets, ...objects] },
        },
        wildcardReason: KMS_REASON,
      },
    );
  }
  return grants;
}

/**
 * The name prefix of every drill's copy (drill.ts configSandbox: `nca-drill-<drill id, lower-case>`): a drill
 * worker's grants name the copies below it and never a configured name.
 */
export const DRILL_COPY = 'nca-drill-*';

/** A secret's name from its ARN, without the 6-character suffix Secrets Manager adds (as drill.ts copies it). */
const secretNameOf = (secret: string): string => (isSecretArn(secret) ? secret.slice(secret.indexOf(':secret:') + ':secret:'.length).replace(/-[A-Za-z0-9]{6}$/, '') : secret);

/**
 * What the configuration's drill worker may do, as data: a drill restores a backup into a copy under
 * `nca-drill-<id>` (drill.ts), reads it back and deletes it: parameters `/nca-drill-<id><path>`, secrets
 * `nca-drill-<id>/<name>`, files `s3://<bucket>/nca-drill-<id>/<prefix>`, each with the KMS use its service
 * makes for it, narrowed by the encryption context to the copies. Nothing of the configured items themselves.
 */
export function configDrillGrants(source: ConfigGrantSources, scope: GrantScope): WorkerGrant[] {
  const { partition, region, account } = scope;
  const grants: WorkerGrant[] = [];
  if (source.parameterPaths.length > 0) {
    const base = `arn:${partition}:ssm:${region}:${account}:parameter/${DRILL_COPY}`;
    const parameters = [...new Set(source.parameterPaths.flatMap((path) => (path === '/' ? [`${base}/*`] : [`${base}${path}`, `${base}${path}/*`])))];
    grants.push(
      {
        sid: 'DrillParameters',
        actions: ['ssm:GetParametersByPath', 'ssm:GetParameters', 'ssm:GetParameter', 'ssm:ListTagsForResource', 'ssm:PutParameter', 'ssm:AddTagsToResource', 'ssm:DeleteParameter'],
        resources: parameters,
        wildcardReason: `A drill's copy of the parameters is named by its drill id: every parameter under /${DRILL_COPY} below the configured paths, never a configured parameter.`,
      },
      { sid: 'DrillDescribeParameters', actions: ['ssm:DescribeParameters'], resources: ['*'], wildcardReason: 'ssm:DescribeParameters supports no resource-level permissions; the drill calls it with a filter on its copy\'s paths.' },
      {
        sid: 'DrillSecureStrings',
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'],
        resources: [kmsKeys(scope)],
        conditions: { StringEquals: { 'kms:ViaService': `ssm.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:PARAMETER_ARN': parameters } },
        wildcardReason: `${KMS_REASON} For a drill: only the copy's parameters.`,
      },
    );
  }
  if (source.secrets.length > 0) {
    const secrets = [...new Set(source.secrets.map((secret) => `arn:${partition}:secretsmanager:${region}:${account}:secret:${DRILL_COPY}/${secretNameOf(secret)}*`))];
    grants.push(
      {
        sid: 'DrillSecrets',
        actions: [
          'secretsmanager:CreateSecret',
          'secretsmanager:PutSecretValue',
          'secretsmanager:UpdateSecret',
          'secretsmanager:TagResource',
          'secretsmanager:DescribeSecret',
          'secretsmanager:GetSecretValue',
          'secretsmanager:DeleteSecret',
        ],
        resources: secrets,
        wildcardReason: `A drill's copy of the secrets is named by its drill id (${DRILL_COPY}/<configured name>, with the suffix Secrets Manager adds), never a configured secret.`,
      },
      { sid: 'DrillListSecrets', actions: ['secretsmanager:ListSecrets'], resources: ['*'], wildcardReason: 'secretsmanager:ListSecrets supports no resource-level permissions; the drill lists with a name filter on its copy\'s prefixes.' },
      {
        sid: 'DrillSecretKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [kmsKeys(scope)],
        conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:SecretARN': secrets } },
        wildcardReason: `${KMS_REASON} For a drill: only the copy's secrets.`,
      },
    );
  }
  if (source.files.length > 0) {
    const buckets = [...new Set(source.files.map((f) => `arn:${partition}:s3:::${f.bucket}`))];
    const objects = source.files.map((f) => `arn:${partition}:s3:::${f.bucket}/${DRILL_COPY}/${f.prefix}*`);
    grants.push(
      {
        sid: 'DrillFiles',
        actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'],
        resources: objects,
        wildcardReason: `A drill's copy of the files is every object under ${DRILL_COPY}/<configured prefix> in the configured buckets, never a configured file.`,
      },
      ...buckets.map((bucket, i): WorkerGrant => ({
        sid: `DrillFileListing${i}`,
        actions: ['s3:ListBucket'],
        resources: [bucket],
        conditions: { StringLike: { 's3:prefix': source.files.filter((f) => bucket.endsWith(`:::${f.bucket}`)).map((f) => `${DRILL_COPY}/${f.prefix}*`) } },
      })),
      {
        sid: 'DrillFileKeys',
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: [kmsKeys(scope)],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${region}.amazonaws.com` }, StringLike: { 'kms:EncryptionContext:aws:s3:arn': [...buckets, ...objects] } },
        wildcardReason: `${KMS_REASON} For a drill: only the copy's files (or their buckets, with S3 Bucket Keys).`,
      },
    );
  }
  return grants;
}
