/**
 * A copy of the configuration under a name prefix: what a restore with `targetDatabase` (other than
 * "configuration") writes, and a restore drill's sandbox (core/drill.ts). Every item keeps its name below
 * the prefix: parameter `/neuroca/db/host` becomes `/<prefix>/neuroca/db/host`, secret `neuroca/api` becomes
 * `<prefix>/neuroca/api`, file `s3://bucket/config/app.yaml` becomes `s3://bucket/<prefix>/config/app.yaml`.
 * The restore plans against the copy's items under their production names, so it is the ordinary restore,
 * only writing elsewhere; the drill deletes the copy afterwards, secrets without a recovery window.
 */
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { DeleteSecretCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, GetParameterCommand } from '@aws-sdk/client-ssm';
import { isSecretArn } from '../../../config/fields';
import { InvalidInputError } from '../../core/errors';
import { silentLogger } from '../../core/logger';
import type { ConfigTarget } from './target';
import type { ConfigSourceConfig } from './descriptor';
import type { ConfigItem, ConfigItemKind } from './item';
import { parseFileName } from './plan';
import { readConfiguration } from './read';
import type { DrillSampleResult, DrillSandbox } from '../types';

const COMPONENT = 'config';

/** A copy's prefix: letters, digits, `.`, `_` and `-`, valid in a parameter path segment, a secret name and an S3 key. */
export const COPY_PREFIX = /^[A-Za-z0-9_.-]{1,64}$/;

/** The secret name an ARN points at (without the 6-character suffix Secrets Manager adds). */
const secretNameOfArn = (arn: string) => arn.slice(arn.indexOf(':secret:') + ':secret:'.length).replace(/-[A-Za-z0-9]{6}$/, '');

/** Where the copy under `prefix` of each configured store is read: the same paths, names and keys below the prefix. */
export function copySource(source: ConfigSourceConfig, prefix: string): ConfigSourceConfig {
  return {
    ...source,
    parameterPaths: source.parameterPaths.map((path) => `/${prefix}${path}`),
    secrets: source.secrets.map((ref) => `${prefix}/${isSecretArn(ref) ? secretNameOfArn(ref) : ref}`),
    files: source.files.map((location) => ({ bucket: location.bucket, prefix: `${prefix}/${location.prefix}` })),
  };
}

/** An item's name in the copy under `prefix`. */
export function copyName(kind: ConfigItemKind, name: string, prefix: string): string {
  if (kind === 'parameter') return `/${prefix}${name}`;
  if (kind === 'secret') return `${prefix}/${name}`;
  const file = parseFileName(name)!;
  return `s3://${file.bucket}/${prefix}/${file.key}`;
}

/** A copy's item under its production name (the inverse of copyName). */
export function productionName(kind: ConfigItemKind, name: string, prefix: string): string {
  if (kind === 'parameter') return name.startsWith(`/${prefix}/`) ? name.slice(prefix.length + 1) : name;
  if (kind === 'secret') return name.startsWith(`${prefix}/`) ? name.slice(prefix.length + 1) : name;
  const file = parseFileName(name);
  return file && file.key.startsWith(`${prefix}/`) ? `s3://${file.bucket}/${file.key.slice(prefix.length + 1)}` : name;
}

/** The copy's items (when the target is one), each under its production name: what a plan compares with the backup. */
export async function currentItems(target: ConfigTarget, log = silentLogger): Promise<ConfigItem[]> {
  const { copy } = target;
  if (copy === undefined) return readConfiguration(target.source, target.clients, log);
  const items = await readConfiguration(copySource(target.source, copy), target.clients, log);
  return items.map((item) => ({ ...item, name: productionName(item.kind, item.name, copy) }));
}

export function configSandbox(request: { readonly drillId: string; readonly source: unknown }): DrillSandbox {
  const name = `nca-drill-${request.drillId.toLowerCase()}`;
  return { name, source: request.source, targetDatabase: name, options: { apply: true } };
}

/** Where the items go: the configured stores, or the copy's prefix in them. */
export const configPlaces = (target: ConfigTarget) => [{ store: 'configuration stores', server: 'aws', database: target.copy ?? 'configuration' }];

/** A restored item read back from its store in the copy: a parameter when the backup has one, else a secret, else a file. */
export async function sampleConfig({ target }: { readonly target: ConfigTarget }): Promise<DrillSampleResult> {
  const items = await currentItems(target);
  const item = items.find((i) => i.kind === 'parameter') ?? items[0];
  if (!item) return { problem: 'the sandbox holds no restored item' };
  const where = copyName(item.kind, item.name, target.copy!);
  if (item.kind === 'parameter') {
    const read = await target.clients.ssm.send(new GetParameterCommand({ Name: where, WithDecryption: true }));
    if (read.Parameter?.Value === undefined) return { problem: `parameter ${where} has no value` };
  } else if (item.value === '') return { problem: `${item.kind} ${where} is empty` };
  return { read: `${item.kind} ${where} read back` };
}

/** Deletes every item of the copy the target is: parameters, secrets (without recovery window: a scratch copy), files. */
export async function dropConfigCopy(target: ConfigTarget): Promise<void> {
  const { copy } = target;
  if (copy === undefined) throw new InvalidInputError('this configuration target is the configured stores themselves, not a copy: nothing to drop.', { component: COMPONENT });
  for (const item of await readConfiguration(copySource(target.source, copy), target.clients, silentLogger)) {
    if (item.kind === 'parameter') await target.clients.ssm.send(new DeleteParameterCommand({ Name: item.name }));
    else if (item.kind === 'secret') await target.clients.secretsManager.send(new DeleteSecretCommand({ SecretId: item.name, ForceDeleteWithoutRecovery: true }));
    else {
      const file = parseFileName(item.name)!;
      await target.clients.s3.send(new DeleteObjectCommand({ Bucket: file.bucket, Key: file.key }));
    }
  }
}
