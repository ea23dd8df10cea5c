/**
 * manifest.json: written last, it is what makes a backup exist. Schema-versioned so that a restore can
 * refuse a manifest from a newer nca-backup it does not understand instead of misreading it.
 */
import { COMPONENT_GROUP, type ComponentName, type GroupName } from '../../config/types';
import type { ArtifactRecord, Consistency, Fingerprint, SourceInfo } from '../components/types';
import { IntegrityError } from './errors';
import type { ManifestAuthentication } from './manifest-mac';
import { isDatabaseName, MAX_DATABASE_NAME_BYTES, type SystemMembership } from './workflow-input';

import { MANIFEST_FILE } from '../../config/vault-layout';

export { MANIFEST_FILE };
export const MANIFEST_SCHEMA_VERSION = 1;

/**
 * Why a backup was taken: by its schedule, by an operator, after a configuration change (the `changed`
 * field names the first changed item), or just before a restore overwrote its target.
 */
export type BackupTrigger = 'scheduled' | 'manual' | 'change' | 'safety';

export interface Manifest {
  readonly schemaVersion: number;
  readonly backupId: string;
  readonly group: GroupName;
  readonly component: ComponentName;
  readonly trigger: BackupTrigger;
  /** Trigger change only: the name of the first change of its debounce window (a name, never a value). */
  readonly changed?: string;
  readonly startedAt: string;
  readonly completedAt: string;
  readonly durationMs: number;
  readonly source: SourceInfo;
  readonly artifacts: readonly ArtifactRecord[];
  readonly totalBytes: number;
  readonly fingerprint: Fingerprint;
  readonly consistency: Consistency;
  /** Component-specific facts: keys skipped as expired, the memory tiers' cross-tier consistency, ... */
  readonly report?: Record<string, unknown>;
  readonly encryption: { readonly algorithm: 'aws:kms'; readonly kmsKeyId: string };
  readonly producer: { readonly name: 'nca-backup'; readonly version: string; readonly runner: string };
  /**
   * A backup taken as part of a system recovery point (`group: "all"`): the point's id (this backup's id)
   * and every component planned for it. Written by the worker, so under the MAC: restore-all derives the
   * recovery point from these, never from the unauthenticated system index (core/system-point.ts).
   */
  readonly system?: SystemMembership;
  /** The MAC over everything else (core/manifest-mac.ts); added when the manifest is written. */
  readonly authentication?: ManifestAuthentication;
}

// The system section is planned with the backup (workflow-input.ts); its type lives there.
export type { SystemMembership };

export type ManifestInput = Omit<Manifest, 'schemaVersion' | 'totalBytes' | 'durationMs' | 'authentication'>;

/**
 * An artifact's name: one path segment of safe characters. The same rule when a backup writes an artifact
 * and when a restore reads a manifest: an artifact "../other-id/x" would read another backup's object.
 */
const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

export function isArtifactName(name: unknown): name is string {
  return typeof name === 'string' && ARTIFACT_NAME.test(name) && name !== MANIFEST_FILE;
}

/** C0 and C1 control characters, NUL included: never part of a name a manifest may hand to a server. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_NAME_BYTES = 255;

/** Names of tables, collections, columns and namespaces recorded in `source` and its per-tier sections. */
const SOURCE_NAME_FIELDS = ['database', 'table', 'collection', 'namespace', 'embeddingColumn', 'metadataColumn'] as const;
const SOURCE_SECTIONS = ['working', 'episodic', 'semantic'] as const;

/** Why a name recorded in the manifest may not be used, or undefined when it may. */
function nameProblem(value: unknown, field: string): string | undefined {
  if (typeof value !== 'string') return `${field} is not a string`;
  // JSON escapes C0 controls only; DEL and C1 are escaped too, so a message never carries a raw control.
  const shown = JSON.stringify(value.slice(0, 80)).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (CONTROL_CHARACTERS.test(value)) return `${field} ${shown} contains control characters`;
  if (field.endsWith('database') && !isDatabaseName(value)) return `${field} ${shown} is not a database name (1 to ${MAX_DATABASE_NAME_BYTES} bytes)`;
  if (value === '' || Buffer.byteLength(value, 'utf8') > MAX_NAME_BYTES) return `${field} ${shown} is not 1 to ${MAX_NAME_BYTES} bytes`;
  return undefined;
}

function sourceNameProblem(source: Record<string, unknown>): string | undefined {
  const problem = nameProblem(source.database, 'source.database');
  if (problem) return problem;
  const sections: [string, Record<string, unknown>][] = [['source', source]];
  for (const section of SOURCE_SECTIONS) {
    const value = source[section];
    if (value !== undefined && value !== null) {
      if (typeof value !== 'object') return `source.${section} is not an object`;
      sections.push([`source.${section}`, value as Record<string, unknown>]);
    }
  }
  for (const [path, record] of sections) {
    for (const field of SOURCE_NAME_FIELDS) {
      const value = record[field];
      if (value === undefined || value === null) continue;
      const found = nameProblem(value, `${path}.${field}`);
      if (found) return found;
    }
  }
  return undefined;
}

const COMPONENT_NAMES = Object.keys(COMPONENT_GROUP) as readonly ComponentName[];

/** Why a manifest's `system` section may not be used, or undefined when it may: the same rules a worker applies before writing it. */
export function systemMembershipProblem(value: unknown, backupId: string, component: string): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'system section that is not an object';
  const { systemId, components } = value as Partial<SystemMembership>;
  if (systemId !== backupId) return `system.systemId ${JSON.stringify(String(systemId).slice(0, 80))} that is not its own backup id ${backupId}`;
  if (!Array.isArray(components) || components.length === 0 || components.length > COMPONENT_NAMES.length) return 'system.components that is not a list of component names';
  const unknown = components.filter((c) => !(COMPONENT_NAMES as readonly unknown[]).includes(c));
  if (unknown.length > 0) return `system.components naming ${JSON.stringify(String(unknown[0]).slice(0, 80))}, which is no component`;
  if (new Set(components).size !== components.length) return 'system.components listing a component twice';
  if (!components.includes(component as ComponentName)) return `system.components without its own component ${component}`;
  return undefined;
}

export function buildManifest(input: ManifestInput): Manifest {
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    ...input,
    totalBytes: input.artifacts.reduce((sum, a) => sum + a.bytes, 0),
    durationMs: Date.parse(input.completedAt) - Date.parse(input.startedAt),
  };
}

/**
 * Checks what a restore relies on, and every name a restore could hand to a server or use as a key, like
 * user input; anything else in the manifest is informational. `key` names the object in errors.
 */
export function parseManifest(value: unknown, where: { group?: string; component: string; backupId: string; key?: string }): Manifest {
  // `problem` alone, for a listing that reports it beside the key.
  const fail = (problem: string) =>
    Object.assign(
      new IntegrityError(`${where.key ?? 'manifest.json'} ${problem}.`, { component: where.component, backupId: where.backupId, hint: 'The backup cannot be trusted; pick another backup id.' }),
      { problem },
    );
  if (typeof value !== 'object' || value === null) throw fail('is not a JSON object');
  const m = value as Partial<Manifest>;
  if (typeof m.schemaVersion !== 'number') throw fail('has no schemaVersion');
  if (m.schemaVersion > MANIFEST_SCHEMA_VERSION) {
    throw fail(`has schemaVersion ${m.schemaVersion}, newer than this nca-backup understands (${MANIFEST_SCHEMA_VERSION}); upgrade nca-backup`);
  }
  if (m.backupId !== where.backupId) throw fail(`names backup ${String(m.backupId)}, not ${where.backupId}`);
  if (m.component !== where.component) throw fail(`names component ${String(m.component)}, not ${where.component}`);
  if (where.group !== undefined && m.group !== where.group) throw fail(`names group ${String(m.group)}, not ${where.group}`);
  if (!Array.isArray(m.artifacts) || m.artifacts.length === 0) throw fail('lists no artifacts');
  const names = new Set<string>();
  for (const a of m.artifacts) {
    if (typeof a?.name !== 'string' || !Number.isSafeInteger(a.bytes) || a.bytes < 0 || !/^[0-9a-f]{64}$/.test(String(a.sha256))) {
      throw fail(`has an artifact entry without name, bytes and sha256: ${JSON.stringify(a)?.slice(0, 200)}`);
    }
    if (!isArtifactName(a.name)) throw fail(`names an artifact ${JSON.stringify(a.name.slice(0, 100))} that is not a plain file name`);
    if (names.has(a.name)) throw fail(`lists artifact ${a.name} twice`);
    names.add(a.name);
    if (a.contentType !== undefined && typeof a.contentType !== 'string') throw fail(`gives artifact ${a.name} a contentType that is not a string`);
  }
  if (typeof m.fingerprint !== 'object' || m.fingerprint === null) throw fail('has no fingerprint');
  if (typeof m.source !== 'object' || m.source === null) throw fail('has no source');
  if (typeof m.source.serverMajor !== 'number') throw fail('does not record the source server version');
  const problem = sourceNameProblem(m.source as Record<string, unknown>);
  if (problem) throw fail(`has a ${problem}`);
  if (typeof m.totalBytes !== 'number' || typeof m.completedAt !== 'string') throw fail('has no totalBytes or completedAt');
  if (m.system !== undefined) {
    const found = systemMembershipProblem(m.system, m.backupId, m.component);
    if (found) throw fail(`has a ${found}`);
  }
  return m as Manifest;
}
