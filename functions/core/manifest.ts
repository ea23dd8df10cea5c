/**
 * manifest.json: written last, it is what makes a backup exist. Schema-versioned so that a restore can
 * refuse a manifest from a newer nca-backup it does not understand instead of misreading it.
 */
import type { ComponentName, GroupName } from '../../infra/config/types';
import type { ArtifactRecord, Consistency, Fingerprint, SourceInfo } from '../components/types';
import { IntegrityError } from './errors';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_SCHEMA_VERSION = 1;

/** Why a backup was taken: by its schedule, by an operator, or just before a restore overwrote its target. */
export type BackupTrigger = 'scheduled' | 'manual' | 'safety';

export interface Manifest {
  readonly schemaVersion: number;
  readonly backupId: string;
  readonly group: GroupName;
  readonly component: ComponentName;
  readonly trigger: BackupTrigger;
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
}

export type ManifestInput = Omit<Manifest, 'schemaVersion' | 'totalBytes' | 'durationMs'>;

export function buildManifest(input: ManifestInput): Manifest {
  return {
    schemaVersion: MANIFEST_SCHEMA_VERSION,
    ...input,
    totalBytes: input.artifacts.reduce((sum, a) => sum + a.bytes, 0),
    durationMs: Date.parse(input.completedAt) - Date.parse(input.startedAt),
  };
}

/** Checks what a restore relies on; anything else in the manifest is informational. */
export function parseManifest(value: unknown, where: { component: string; backupId: string }): Manifest {
  const fail = (problem: string) =>
    new IntegrityError(`manifest.json ${problem}.`, { ...where, hint: 'The backup cannot be trusted; pick another backup id.' });
  if (typeof value !== 'object' || value === null) throw fail('is not a JSON object');
  const m = value as Partial<Manifest>;
  if (typeof m.schemaVersion !== 'number') throw fail('has no schemaVersion');
  if (m.schemaVersion > MANIFEST_SCHEMA_VERSION) {
    throw fail(`has schemaVersion ${m.schemaVersion}, newer than this nca-backup understands (${MANIFEST_SCHEMA_VERSION}); upgrade nca-backup`);
  }
  if (m.backupId !== where.backupId) throw fail(`names backup ${String(m.backupId)}, not ${where.backupId}`);
  if (m.component !== where.component) throw fail(`names component ${String(m.component)}, not ${where.component}`);
  if (!Array.isArray(m.artifacts) || m.artifacts.length === 0) throw fail('lists no artifacts');
  for (const a of m.artifacts) {
    if (typeof a?.name !== 'string' || typeof a.bytes !== 'number' || !/^[0-9a-f]{64}$/.test(String(a.sha256))) {
      throw fail(`has an artifact entry without name, bytes and sha256: ${JSON.stringify(a)}`);
    }
  }
  if (typeof m.fingerprint !== 'object' || m.fingerprint === null) throw fail('has no fingerprint');
  if (typeof m.source?.serverMajor !== 'number') throw fail('does not record the source server version');
  return m as Manifest;
}
