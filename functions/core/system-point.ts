/**
 * System recovery points: a backup of `group: "all"` takes every configured component under one id (the
 * system id), each component's manifest recording the point and the planned components under its MAC. The
 * backup's Finalize step writes `system/<id>/manifest.json` last: an index of each component's backup id,
 * the span of their snapshots and the outcome. The index carries no MAC (only the backup workers may
 * sign), so it is never trusted: a restore-all re-derives the point from the authenticated component
 * manifests and refuses, naming the component, when the index disagrees with them. A forged or edited
 * index can therefore hide a point, never change what a restore-all restores.
 */
import { COMPONENT_GROUP, type ComponentName, type GroupName } from '../../config/types';
import { SYSTEM_DIR, MANIFEST_FILE, systemIndexKey } from '../../config/vault-layout';
import { isBackupId } from './backup-id';
import type { ComponentFailed, ComponentSucceeded } from './backup-outcome';
import { inspectBackup, type BackupEntry } from './catalog';
import { BackupNotFoundError, IncompleteRecoveryPointError, IntegrityError, InvalidInputError } from './errors';
import type { ManifestAuthenticator } from './manifest-mac';
import type { SystemMembership } from './manifest';
import type { RuntimeConfig } from './runtime-config';
import { PreconditionFailedError, type BackupVault } from './storage';

export const SYSTEM_INDEX_SCHEMA_VERSION = 1;

/** The runbook's restore priority: databases first, then the memory stores and tiers, configuration, models. */
export const DEFAULT_RESTORE_ORDER: readonly ComponentName[] = ['postgres', 'vector', 'mongodb', 'redis', 'memory', 'config', 'models', 'logs'];

const COMPONENT_NAMES = Object.keys(COMPONENT_GROUP) as ComponentName[];

export interface SystemIndexComponent {
  readonly component: ComponentName;
  readonly group: GroupName;
  /** Always the system id: listed so an operator reading the index finds each backup without knowing the rule. */
  readonly backupId: string;
  readonly status: 'SUCCEEDED' | 'FAILED';
  /** SUCCEEDED: when the component's backup began reading its source. */
  readonly startedAt?: string;
  /** FAILED: the error name and what happened. */
  readonly error?: string;
  readonly cause?: string;
}

export interface SystemIndex {
  readonly schemaVersion: number;
  readonly systemId: string;
  /** complete: every planned component backed up; incomplete: at least one failed. */
  readonly outcome: 'complete' | 'incomplete';
  readonly components: readonly SystemIndexComponent[];
  /** The first and last component snapshot (backup start) and the time between them; absent when none succeeded. */
  readonly firstSnapshotAt?: string;
  readonly lastSnapshotAt?: string;
  readonly spanMs?: number;
  readonly writtenAt: string;
}

/** The index of a system backup from its plan and each component's result (the backup workflow's Map). */
export function buildSystemIndex(system: SystemMembership, results: readonly (ComponentSucceeded | ComponentFailed)[], now: Date): SystemIndex {
  const components = system.components.map((component): SystemIndexComponent => {
    const result = results.find((r) => r.component === component);
    const base = { component, group: COMPONENT_GROUP[component], backupId: system.systemId };
    if (result?.status === 'SUCCEEDED') return { ...base, status: 'SUCCEEDED', startedAt: String(result.result.startedAt) };
    // A component the Map never reported on is no part of the point either.
    return { ...base, status: 'FAILED', error: result?.error ?? 'NoResultError', cause: result?.cause ?? 'the backup workflow reported no result for it' };
  });
  const snapshots = components.flatMap((c) => (c.startedAt ? [c.startedAt] : [])).sort();
  return {
    schemaVersion: SYSTEM_INDEX_SCHEMA_VERSION,
    systemId: system.systemId,
    outcome: components.every((c) => c.status === 'SUCCEEDED') ? 'complete' : 'incomplete',
    components,
    ...spanOf(snapshots),
    writtenAt: now.toISOString(),
  };
}

function spanOf(sortedTimes: readonly string[]): { firstSnapshotAt?: string; lastSnapshotAt?: string; spanMs?: number } {
  if (sortedTimes.length === 0) return {};
  const first = sortedTimes[0];
  const last = sortedTimes[sortedTimes.length - 1];
  return { firstSnapshotAt: first, lastSnapshotAt: last, spanMs: Date.parse(last) - Date.parse(first) };
}

/**
 * Writes the index once (If-None-Match): a retried Finalize finds its own index and keeps it; it is never
 * replaced, so a later write cannot turn an incomplete point into a complete-looking one.
 */
export async function writeSystemIndex(vault: BackupVault, index: SystemIndex): Promise<SystemIndex> {
  try {
    await vault.putJson(systemIndexKey(index.systemId), index, { ifNoneMatch: '*' });
    return index;
  } catch (error) {
    if (!(error instanceof PreconditionFailedError)) throw error;
    const existing = await vault.getJson<SystemIndex>(systemIndexKey(index.systemId));
    return existing ?? index;
  }
}

/** System ids that have an index object, newest first (ids sort by time): not yet read, so not yet trusted. */
export async function listSystemIds(vault: BackupVault): Promise<string[]> {
  const keys = await vault.listKeys(SYSTEM_DIR);
  return keys
    .filter((key) => key.endsWith(`/${MANIFEST_FILE}`))
    .map((key) => key.slice(SYSTEM_DIR.length, -(MANIFEST_FILE.length + 1)))
    .filter(isBackupId)
    .sort()
    .reverse();
}

/** One component of a recovery point, as its authenticated manifest says. */
export interface SystemPointComponent {
  readonly component: ComponentName;
  readonly group: GroupName;
  readonly backupId: string;
  /** restorable: a trusted manifest of this point; otherwise why it is not part of it (the backup failed, or its manifest is not usable). */
  /** not-configured: a component of the point this deployment has no worker for (the recovery region's, without a backup.recovery.sources entry). */
  readonly status: 'restorable' | 'missing' | 'untrusted' | 'damaged' | 'not-in-point' | 'not-configured';
  readonly problem?: string;
  readonly startedAt?: string;
}

/** A recovery point as derived from the component manifests, checked against its index. */
export interface SystemPoint {
  readonly systemId: string;
  readonly complete: boolean;
  readonly components: readonly SystemPointComponent[];
  readonly firstSnapshotAt?: string;
  readonly lastSnapshotAt?: string;
  readonly spanMs?: number;
}

/** The index, checked like user input: only the fields compared against the manifests are read. */
function parseSystemIndex(raw: unknown, systemId: string, key: string): SystemIndex {
  const fail = (problem: string) =>
    new IntegrityError(`system index ${key} ${problem}.`, { backupId: systemId, hint: 'The recovery point cannot be used as a whole; pick another system id.' });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw fail('is not a JSON object');
  const index = raw as Partial<SystemIndex>;
  if (typeof index.schemaVersion !== 'number') throw fail('has no schemaVersion');
  if (index.schemaVersion > SYSTEM_INDEX_SCHEMA_VERSION) throw fail(`has schemaVersion ${index.schemaVersion}, newer than this nca-backup understands (${SYSTEM_INDEX_SCHEMA_VERSION}); upgrade nca-backup`);
  if (index.systemId !== systemId) throw fail(`names system ${JSON.stringify(String(index.systemId).slice(0, 80))}, not ${systemId}`);
  if (index.outcome !== 'complete' && index.outcome !== 'incomplete') throw fail('has no outcome (complete or incomplete)');
  if (!Array.isArray(index.components) || index.components.length === 0 || index.components.length > COMPONENT_NAMES.length) throw fail('lists no components');
  const seen = new Set<string>();
  for (const entry of index.components as unknown[]) {
    const c = entry as Partial<SystemIndexComponent> | null;
    if (typeof c !== 'object' || c === null || !COMPONENT_NAMES.includes(c.component as ComponentName)) {
      throw fail(`has a component entry that names no component: ${JSON.stringify(entry)?.slice(0, 120)}`);
    }
    if (seen.has(c.component!)) throw fail(`lists component ${c.component} twice`);
    seen.add(c.component!);
    if (c.status !== 'SUCCEEDED' && c.status !== 'FAILED') throw fail(`gives component ${c.component} no status (SUCCEEDED or FAILED)`);
    if (typeof c.backupId !== 'string') throw fail(`gives component ${c.component} no backup id`);
  }
  return index as SystemIndex;
}

/** The index's disagreement with the authenticated manifests, named by component. */
function disagreement(key: string, systemId: string, component: string, problem: string): IntegrityError {
  return new IntegrityError(`system index ${key} ${problem}, which the component manifests of recovery point ${systemId} contradict.`, {
    component,
    backupId: systemId,
    hint: 'The index was altered or written by something other than nca-backup: do not restore this point as a whole; restore components one by one after checking them with nca-backup list.',
  });
}

/**
 * Reads a recovery point: its index, then every configured component's manifest under the system id
 * through the catalog (MAC first). The planned components come from the authenticated manifests' `system`
 * sections; the index must agree with them component by component, or the point is refused.
 */
export async function inspectSystemPoint(config: RuntimeConfig, vault: BackupVault, authenticator: ManifestAuthenticator, systemId: string): Promise<SystemPoint> {
  const key = `s3://${vault.bucket}/${vault.key(systemIndexKey(systemId))}`;
  const raw = await vault.getJson<unknown>(systemIndexKey(systemId));
  if (raw === undefined) {
    throw new BackupNotFoundError(`system recovery point ${systemId} has no index (${key}).`, { backupId: systemId, hint: 'Recovery points are listed under the vault\'s system/ folder' });
  }
  const index = parseSystemIndex(raw, systemId, key);
  const configured = Object.entries(config.components) as [ComponentName, NonNullable<RuntimeConfig['components'][ComponentName]>][];
  const entries = new Map<ComponentName, BackupEntry>();
  for (const [component, c] of configured) {
    entries.set(component, await inspectBackup(vault, authenticator, { group: c.group, component, backupId: systemId }));
  }
  const members = [...entries.entries()].filter(([, e]) => e.status === 'trusted' && e.manifest.system?.systemId === systemId) as [ComponentName, Extract<BackupEntry, { status: 'trusted' }>][];
  const indexed = new Map(index.components.map((c) => [c.component, c]));
  if (members.length === 0) {
    const claimed = index.components.find((c) => c.status === 'SUCCEEDED');
    if (claimed) throw disagreement(key, systemId, claimed.component, `lists ${claimed.component} as backed up`);
    throw new BackupNotFoundError(`system recovery point ${systemId} holds no component backup: every component failed.`, { backupId: systemId });
  }
  // Every member recorded the same plan when it was written; one that differs was not written by this backup.
  const planned = [...members[0][1].manifest.system!.components].sort();
  for (const [component, entry] of members) {
    if (JSON.stringify([...entry.manifest.system!.components].sort()) !== JSON.stringify(planned)) {
      throw new IntegrityError(`the manifest of ${component} under ${systemId} plans components ${entry.manifest.system!.components.join(', ')}, the manifest of ${members[0][0]} plans ${planned.join(', ')}.`, {
        component,
        backupId: systemId,
        hint: 'The recovery point is inconsistent: restore components one by one.',
      });
    }
  }
  for (const c of index.components) {
    if (!planned.includes(c.component)) throw disagreement(key, systemId, c.component, `lists ${c.component}, which the point did not plan`);
  }
  const components = planned.map((component): SystemPointComponent => {
    const listed = indexed.get(component);
    if (!listed) throw disagreement(key, systemId, component, `leaves out ${component}`);
    if (listed.backupId !== systemId) throw disagreement(key, systemId, component, `gives ${component} backup id ${JSON.stringify(listed.backupId.slice(0, 80))}`);
    const entry = entries.get(component);
    // Its manifest is not read (this deployment may not read its prefix): the point is incomplete here, and
    // force restores the rest.
    if (!entry) return { component, group: COMPONENT_GROUP[component], backupId: systemId, status: 'not-configured', problem: 'not configured in this deployment, so it cannot be restored here' };
    const member = entry.status === 'trusted' && entry.manifest.system?.systemId === systemId;
    if (member !== (listed.status === 'SUCCEEDED')) {
      throw disagreement(key, systemId, component, member ? `lists ${component} as failed` : `lists ${component} as backed up`);
    }
    const group = COMPONENT_GROUP[component];
    if (member) return { component, group, backupId: systemId, status: 'restorable', startedAt: entry.manifest.startedAt };
    // A backup taken later under the same id (nca-backup backup --backup-id) is no part of the point.
    if (entry.status === 'trusted') {
      return { component, group, backupId: systemId, status: 'not-in-point', problem: `its backup under ${systemId} does not record this recovery point (taken on its own)` };
    }
    // The index says it failed, and no usable manifest says otherwise.
    // The index's error name is shown only when it looks like one: its text is not trusted.
    const recorded = typeof listed.error === 'string' && /^[A-Za-z][A-Za-z0-9.]{0,63}$/.test(listed.error) ? listed.error : 'error not shown';
    const problem = entry.status === 'missing' ? `its backup failed (${recorded}): there is no manifest` : `its manifest ${entry.key} is ${entry.status}: ${entry.problem}`;
    return { component, group, backupId: systemId, status: entry.status, problem };
  });
  const complete = components.every((c) => c.status === 'restorable');
  // The index's outcome is checked against what this deployment can read: a component it does not
  // configure may be the one that failed.
  const checked = components.filter((c) => c.status !== 'not-configured');
  const checkedComplete = checked.every((c) => c.status === 'restorable');
  const unchecked = checked.length < components.length;
  if (index.outcome === 'complete' ? !checkedComplete : checkedComplete && !unchecked) {
    throw disagreement(key, systemId, checked.find((c) => c.status !== 'restorable')?.component ?? planned[0], `says the point is ${index.outcome}`);
  }
  const snapshots = components.flatMap((c) => (c.startedAt ? [c.startedAt] : [])).sort();
  return { systemId, complete, components, ...spanOf(snapshots) };
}

/** The error for an incomplete point restored without force. */
function incomplete(point: SystemPoint): IncompleteRecoveryPointError {
  const missing = point.components.filter((c) => c.status !== 'restorable');
  return new IncompleteRecoveryPointError(
    `system recovery point ${point.systemId} is incomplete: ${missing.map((c) => `${c.component} (${c.problem})`).join('; ')}. It is not restorable as a whole.`,
    {
      component: missing[0]?.component,
      backupId: point.systemId,
      hint: 'Restore the components it holds with force (--force, or "force": true), or pick a complete point (the vault\'s system/ folder lists them).',
    },
  );
}

export interface ResolvedSystemPoint {
  readonly point: SystemPoint;
  /** Newer points `latest` passed over, each with why (incomplete, disagreeing index, ...). */
  readonly passedOver: readonly { readonly systemId: string; readonly reason: string }[];
}

/**
 * "latest" or a system id → its recovery point. `latest` is the newest point whose index agrees with its
 * authenticated manifests and that is complete (with force: the newest usable one, complete or not); an
 * explicit id that is incomplete is refused unless forced.
 */
export async function resolveSystemPoint(
  config: RuntimeConfig,
  vault: BackupVault,
  authenticator: ManifestAuthenticator,
  requested: string,
  options: { force: boolean },
): Promise<ResolvedSystemPoint> {
  if (requested !== 'latest' && !isBackupId(requested)) {
    throw new InvalidInputError(`systemId '${requested.slice(0, 100)}' is neither "latest" nor a system id like 20261123T020000Z-7f3a.`, { hint: 'Recovery points are listed under the vault\'s system/ folder' });
  }
  const ids = await listSystemIds(vault);
  if (requested !== 'latest') {
    if (!ids.includes(requested)) {
      throw new BackupNotFoundError(`system recovery point ${requested} does not exist (it has no index).`, { backupId: requested, hint: `Most recent: ${ids.slice(0, 5).join(', ') || 'none'}.` });
    }
    const point = await inspectSystemPoint(config, vault, authenticator, requested);
    if (!point.complete && !options.force) throw incomplete(point);
    return { point, passedOver: [] };
  }
  const passedOver: { systemId: string; reason: string }[] = [];
  for (const systemId of ids) {
    try {
      const point = await inspectSystemPoint(config, vault, authenticator, systemId);
      if (point.complete || options.force) return { point, passedOver };
      passedOver.push({ systemId, reason: incomplete(point).message });
    } catch (error) {
      if (!(error instanceof IntegrityError || error instanceof BackupNotFoundError || error instanceof InvalidInputError)) throw error;
      passedOver.push({ systemId, reason: `${error.name}: ${error.message}` });
    }
  }
  throw new BackupNotFoundError(`there is no ${options.force ? 'usable' : 'complete'} system recovery point yet under ${vault.key(SYSTEM_DIR)}.`, {
    hint: passedOver.length > 0
      ? `Passed over: ${passedOver.slice(0, 3).map((p) => `${p.systemId} (${p.reason})`).join('; ')}.`
      : 'Take one first: start the backup state machine with {"group": "all"}, or run nca-backup backup-all.',
  });
}

/** The components in restore order: those `order` names first, in its order, the rest in the default order. */
export function restoreOrder<T extends { component: ComponentName }>(components: readonly T[], order: readonly ComponentName[]): T[] {
  const rank = (c: ComponentName) => {
    const given = order.indexOf(c);
    return given >= 0 ? given : order.length + DEFAULT_RESTORE_ORDER.indexOf(c);
  };
  return [...components].sort((a, b) => rank(a.component) - rank(b.component));
}
