/**
 * What a configuration restore would do, item by item: the plan `--dry-run` prints and the workflow returns
 * unless `options.apply: true`, and the list apply.ts writes from. Pure: the backup's items and the stores'
 * current items come in, a plan goes out.
 *
 * A plan never holds a value, nor anything derived from one (a length or a hash of a short secret can be
 * guessed): a difference is named ("value", "tags"), never shown.
 */
import type { ConfigSourceConfig } from './descriptor';
import { isSecretArn } from '../../../config/fields';
import { globPattern } from '../../../config/globs';
import { itemKey, type ConfigItem, type ConfigItemKind } from './item';
import type { ConfigRestoreOptions } from './options';

/**
 * add: in the backup, absent now. change: in both, different. unchanged: in both, the same.
 * prune: present now, absent from the backup, and `options.prune` removes it. keep: the same, left in place.
 */
export const RESTORE_ACTIONS = ['add', 'change', 'unchanged', 'prune', 'keep'] as const;
export type RestoreAction = (typeof RESTORE_ACTIONS)[number];

/** What differs between the backup's item and the current one; never how. */
export type ItemDifference = 'value' | 'type' | 'kmsKeyId' | 'tags' | 'description';

export interface PlanEntry {
  readonly kind: ConfigItemKind;
  readonly name: string;
  readonly action: RestoreAction;
  /** The version the backup holds (absent for prune and keep). */
  readonly backupVersion?: string;
  /** The version the store holds now (absent for add). */
  readonly currentVersion?: string;
  /** change only: which fields the restore writes back. */
  readonly differences?: readonly ItemDifference[];
  /** Why this entry cannot be applied as planned: apply refuses the whole plan before its first write. */
  readonly problem?: string;
}

export interface RestorePlan {
  /** Sorted by kind (parameters, secrets, files) and name. */
  readonly entries: readonly PlanEntry[];
  readonly summary: Readonly<Record<RestoreAction, number>> & {
    /** Backup items outside the configured scope (the scope changed since): never written. */
    readonly outsideScope: number;
    /** Entries that cannot be applied (see `problem`). */
    readonly problems: number;
  };
  /** Backup items outside the configured scope, by kind:name: a restore never touches them. */
  readonly outsideScope: readonly string[];
}

const KIND_ORDER: Record<ConfigItemKind, number> = { parameter: 0, secret: 1, file: 2 };

/** A file item's name, s3://bucket/key, as its bucket and key. */
export function parseFileName(name: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(name);
  return match ? { bucket: match[1], key: match[2] } : undefined;
}

/** The secret name an ARN points at: the resource part without the 6-character suffix Secrets Manager adds. */
function secretNamesOfArn(arn: string): string[] {
  const resource = arn.slice(arn.indexOf(':secret:') + ':secret:'.length);
  const stripped = resource.replace(/-[A-Za-z0-9]{6}$/, '');
  // A partial ARN (no suffix) names the secret as written; a name may itself end in "-abcdef".
  return stripped === resource ? [resource] : [stripped, resource];
}

/** Whether an item lies in the configured scope: a restore writes and deletes nothing outside it. */
export function inScope(item: Pick<ConfigItem, 'kind' | 'name'>, scope: ConfigSourceConfig): boolean {
  switch (item.kind) {
    case 'parameter':
      return scope.parameterPaths.some((path) => item.name.startsWith(path === '/' ? '/' : `${path}/`));
    case 'secret':
      return scope.secrets.some((secret) => (isSecretArn(secret) ? secretNamesOfArn(secret).includes(item.name) : item.name.startsWith(secret)));
    case 'file': {
      const file = parseFileName(item.name);
      return file !== undefined && scope.files.some((location) => location.bucket === file.bucket && file.key.startsWith(location.prefix));
    }
  }
}

const bytesOf = (item: ConfigItem): Buffer => Buffer.from(item.value, item.encoding === 'base64' ? 'base64' : 'utf8');

/** What a restore of `backup` over `current` writes back. Tags absent from the backup are left, so only the backup's are compared. */
export function differences(backup: ConfigItem, current: ConfigItem): ItemDifference[] {
  const found: ItemDifference[] = [];
  if (!bytesOf(backup).equals(bytesOf(current))) found.push('value');
  if (backup.kind === 'parameter' && backup.type !== current.type) found.push('type');
  if (backup.kmsKeyId !== undefined && backup.kmsKeyId !== current.kmsKeyId) found.push('kmsKeyId');
  if (Object.entries(backup.tags ?? {}).some(([key, value]) => current.tags?.[key] !== value)) found.push('tags');
  if (backup.description !== undefined && backup.description !== current.description) found.push('description');
  return found;
}

/** Why a backup item cannot be written as it is, checked before any write. */
function problemOf(backup: ConfigItem, current: ConfigItem | undefined, found: readonly ItemDifference[]): string | undefined {
  if (backup.kind === 'parameter') {
    if (!backup.type) return 'the backup does not say its parameter type';
    if (current && found.includes('type')) {
      return `Parameter Store cannot change a parameter's type (${current.type} now, ${backup.type} in the backup): delete it, then restore it`;
    }
    if (backup.type === 'SecureString' && !backup.kmsKeyId) return 'a SecureString without the KMS key id it was written with would be re-encrypted with the default key';
    if (backup.value === '') return 'Parameter Store refuses an empty value';
  }
  if (backup.kind === 'file' && !parseFileName(backup.name)) return 'not a file name like s3://bucket/key';
  return undefined;
}

/**
 * The plan of restoring `backup` into the stores holding `current`, limited to `scope` and to
 * `options.names`. Every backup item in scope is added, changed or unchanged; every current item absent
 * from the backup is pruned or kept, as `options.prune` says.
 */
export function planRestore(backup: readonly ConfigItem[], current: readonly ConfigItem[], scope: ConfigSourceConfig, options: Pick<ConfigRestoreOptions, 'prune' | 'names'>): RestorePlan {
  const patterns = options.names?.map(globPattern);
  const wanted = (item: ConfigItem) => !patterns || patterns.some((p) => p.test(item.name));
  const now = new Map(current.filter((item) => inScope(item, scope)).map((item) => [itemKey(item), item]));
  const saved = new Map<string, ConfigItem>();
  const outsideScope: string[] = [];
  for (const item of backup) {
    if (!inScope(item, scope)) outsideScope.push(itemKey(item));
    else saved.set(itemKey(item), item);
  }

  const entries: PlanEntry[] = [];
  for (const item of saved.values()) {
    if (!wanted(item)) continue;
    const present = now.get(itemKey(item));
    const found = present ? differences(item, present) : [];
    const problem = problemOf(item, present, found);
    const action: RestoreAction = !present ? 'add' : found.length > 0 ? 'change' : 'unchanged';
    entries.push({
      kind: item.kind,
      name: item.name,
      action,
      backupVersion: item.version,
      ...(present ? { currentVersion: present.version } : {}),
      ...(action === 'change' ? { differences: found } : {}),
      ...(problem && action !== 'unchanged' ? { problem } : {}),
    });
  }
  for (const item of now.values()) {
    if (saved.has(itemKey(item)) || !wanted(item)) continue;
    entries.push({ kind: item.kind, name: item.name, action: options.prune ? 'prune' : 'keep', currentVersion: item.version });
  }
  entries.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const counts = Object.fromEntries(RESTORE_ACTIONS.map((action) => [action, entries.filter((e) => e.action === action).length])) as Record<RestoreAction, number>;
  return {
    entries,
    summary: { ...counts, outsideScope: outsideScope.length, problems: entries.filter((e) => e.problem).length },
    outsideScope: outsideScope.sort(),
  };
}
