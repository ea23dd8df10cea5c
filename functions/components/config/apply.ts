/**
 * Writes a restore plan (plan.ts) back into Parameter Store, Secrets Manager and S3.
 *
 * Everything that can be known to fail is refused before the first write (a parameter type Parameter
 * Store cannot change, a SecureString without its key, a plan entry without its backup item). Then the
 * writes run one item at a time: additions and changes first, deletions (prune) last, so a failure never
 * leaves an item deleted whose replacement did not get written. The first write that fails (the SDK's
 * standard retry has already retried throttling and 5xx) stops the apply with a typed error that names the
 * item and lists what was written before it.
 *
 * Tags are added or overwritten, never removed: tags added since the backup stay.
 * No value reaches a log line or an error: logs carry kind, name and action only, and a store's error
 * message is scrubbed of the item's value before it is quoted.
 */
import { PutObjectCommand, DeleteObjectCommand } from '@aws-sdk/client-s3';
import { CreateSecretCommand, DeleteSecretCommand, PutSecretValueCommand, TagResourceCommand, UpdateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { AddTagsToResourceCommand, DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { AccessDeniedError, InvalidInputError, StorageError, TransientError } from '../../core/errors';
import { s3FailureKind } from '../../core/s3-errors';
import type { Logger } from '../types';
import { itemKey, type ConfigItem } from './item';
import { parseFileName, type PlanEntry, type RestorePlan } from './plan';
import type { ConfigClients } from './clients';

const COMPONENT = 'config';
/** Parameter Store's Standard tier holds 4 KB; a larger value needs the Advanced tier. */
const STANDARD_TIER_BYTES = 4096;
/** A pruned secret can be restored (RestoreSecret) for this many days: a prune is never a ForceDelete. */
export const SECRET_RECOVERY_WINDOW_DAYS = 30;


export interface ApplyResult {
  /** kind:name of every item written or deleted, in the order it was. */
  readonly written: readonly string[];
  readonly summary: RestorePlan['summary'];
}

const tagList = (tags: Readonly<Record<string, string>> | undefined) => Object.entries(tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
const hasTags = (item: ConfigItem) => Object.keys(item.tags ?? {}).length > 0;
const bytesOf = (item: ConfigItem) => Buffer.from(item.value, item.encoding === 'base64' ? 'base64' : 'utf8');
const describe = (key: string) => key.replace(':', ' ');

/** Refuses the plan, before any write, when an entry cannot be applied; returns each entry's backup item. */
function preflight(plan: RestorePlan, backupItems: readonly ConfigItem[]): Map<string, ConfigItem> {
  const byKey = new Map(backupItems.map((item) => [itemKey(item), item]));
  const problems: string[] = [];
  for (const entry of plan.entries) {
    if (entry.problem) problems.push(`${entry.kind} ${entry.name}: ${entry.problem}`);
    if ((entry.action === 'add' || entry.action === 'change') && !byKey.has(itemKey(entry))) problems.push(`${entry.kind} ${entry.name}: the plan writes it but the backup has no such item`);
  }
  if (problems.length > 0) {
    throw new InvalidInputError(`the restore plan cannot be applied, nothing was written: ${problems.join('; ')}.`, {
      component: COMPONENT,
      hint: 'Fix these items in the target or leave them out with options.names, then apply again.',
    });
  }
  return byKey;
}

async function writeParameter(clients: ConfigClients, entry: PlanEntry, item: ConfigItem): Promise<void> {
  const adding = entry.action === 'add';
  const onlyTags = !adding && entry.differences?.every((d) => d === 'tags');
  if (!onlyTags) {
    await clients.ssm.send(
      new PutParameterCommand({
        Name: item.name,
        Value: item.value,
        Type: item.type,
        ...(item.type === 'SecureString' ? { KeyId: item.kmsKeyId } : {}),
        ...(item.description !== undefined ? { Description: item.description } : {}),
        ...(Buffer.byteLength(item.value) > STANDARD_TIER_BYTES ? { Tier: 'Advanced' as const } : {}),
        // PutParameter refuses Tags with Overwrite: a new parameter gets them here, an existing one below.
        ...(adding ? { Overwrite: false, ...(hasTags(item) ? { Tags: tagList(item.tags) } : {}) } : { Overwrite: true }),
      }),
    );
  }
  if (!adding && entry.differences?.includes('tags')) {
    await clients.ssm.send(new AddTagsToResourceCommand({ ResourceType: 'Parameter', ResourceId: item.name, Tags: tagList(item.tags) }));
  }
}

async function writeSecret(clients: ConfigClients, entry: PlanEntry, item: ConfigItem): Promise<void> {
  const value = item.encoding === 'base64' ? { SecretBinary: bytesOf(item) } : { SecretString: item.value };
  if (entry.action === 'add') {
    await clients.secretsManager.send(
      new CreateSecretCommand({
        Name: item.name,
        ...value,
        ...(item.kmsKeyId !== undefined ? { KmsKeyId: item.kmsKeyId } : {}),
        ...(item.description !== undefined ? { Description: item.description } : {}),
        ...(hasTags(item) ? { Tags: tagList(item.tags) } : {}),
      }),
    );
    return;
  }
  const found = entry.differences ?? [];
  // The key first: the value written next is then encrypted with the backup's key.
  if (found.includes('kmsKeyId') || found.includes('description')) {
    await clients.secretsManager.send(
      new UpdateSecretCommand({
        SecretId: item.name,
        ...(found.includes('kmsKeyId') ? { KmsKeyId: item.kmsKeyId } : {}),
        ...(found.includes('description') ? { Description: item.description } : {}),
      }),
    );
  }
  if (found.includes('value')) await clients.secretsManager.send(new PutSecretValueCommand({ SecretId: item.name, ...value }));
  if (found.includes('tags')) await clients.secretsManager.send(new TagResourceCommand({ SecretId: item.name, Tags: tagList(item.tags) }));
}

async function writeFile(clients: ConfigClients, item: ConfigItem): Promise<void> {
  const { bucket, key } = parseFileName(item.name)!;
  await clients.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: bytesOf(item) }));
}

const isNotFound = (error: unknown) => ['ParameterNotFound', 'ResourceNotFoundException', 'NoSuchKey'].includes(String((error as Error)?.name));

async function prune(clients: ConfigClients, entry: PlanEntry): Promise<void> {
  try {
    if (entry.kind === 'parameter') await clients.ssm.send(new DeleteParameterCommand({ Name: entry.name }));
    else if (entry.kind === 'secret') await clients.secretsManager.send(new DeleteSecretCommand({ SecretId: entry.name, RecoveryWindowInDays: SECRET_RECOVERY_WINDOW_DAYS }));
    else {
      const file = parseFileName(entry.name);
      if (!file) throw new InvalidInputError(`${entry.name} is not a file name like s3://bucket/key.`, { component: COMPONENT });
      await clients.s3.send(new DeleteObjectCommand({ Bucket: file.bucket, Key: file.key }));
    }
  } catch (error) {
    // Gone already (a retried apply, or someone else): what the prune wanted.
    if (!isNotFound(error)) throw error;
  }
}

/** The failure of one write as the typed error to throw: the item, the store's words without the value, what was written before. */
function writeFailure(error: unknown, entry: PlanEntry, item: ConfigItem | undefined, written: readonly string[], left: readonly PlanEntry[]): Error {
  let detail = `${(error as Error)?.name ?? 'Error'}: ${String((error as Error)?.message ?? error)}`;
  if (item && item.value.length > 0) detail = detail.split(item.value).join('***');
  detail = detail.slice(0, 300);
  const doing = entry.action === 'prune' ? 'deleting' : entry.action === 'add' ? 'adding' : 'writing back';
  const before = written.length > 0 ? `Written before it: ${written.map(describe).join(', ')}.` : 'Nothing was written before it.';
  const after = left.length > 0 ? ` Not written: ${left.map((e) => `${e.kind} ${e.name}`).join(', ')}.` : '';
  const message = `${doing} ${entry.kind} ${entry.name} failed (${detail}). ${before}${after}`;
  switch (s3FailureKind(error)) {
    case 'denied':
      return new AccessDeniedError(message, { component: COMPONENT, hint: `Grant the restore role the write on ${entry.name}, then apply again: items already written are written again unchanged.` });
    case 'transient':
      return new TransientError(message, { component: COMPONENT, hint: 'The store kept failing after retries; applying again writes the same values.' });
    default:
      return new StorageError(message, { component: COMPONENT, hint: 'Fix the item in the store (or leave it out with options.names), then apply again.' });
  }
}

/**
 * Applies `plan` with the values of `backupItems` (the plan holds none). Writes nothing when the plan
 * has a problem; stops at the first write that fails.
 */
export async function applyPlan(plan: RestorePlan, backupItems: readonly ConfigItem[], clients: ConfigClients, log: Logger): Promise<ApplyResult> {
  const byKey = preflight(plan, backupItems);
  const writes = plan.entries.filter((e) => e.action === 'add' || e.action === 'change');
  const deletes = plan.entries.filter((e) => e.action === 'prune');
  const queue = [...writes, ...deletes];
  const written: string[] = [];
  for (const [i, entry] of queue.entries()) {
    const item = byKey.get(itemKey(entry));
    try {
      if (entry.action === 'prune') await prune(clients, entry);
      else if (entry.kind === 'parameter') await writeParameter(clients, entry, item!);
      else if (entry.kind === 'secret') await writeSecret(clients, entry, item!);
      else await writeFile(clients, item!);
    } catch (error) {
      log.warn('configuration restore stopped', { kind: entry.kind, name: entry.name, action: entry.action, written: written.length });
      throw writeFailure(error, entry, item, written, queue.slice(i + 1));
    }
    written.push(itemKey(entry));
    log.info('configuration item restored', { kind: entry.kind, name: entry.name, action: entry.action, ...(entry.differences ? { differences: entry.differences } : {}) });
  }
  return { written, summary: plan.summary };
}
