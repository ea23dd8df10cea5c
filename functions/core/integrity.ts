/**
 * The scheduled integrity check (the runbook's "verify checksums, validate backup file structure"): it
 * re-reads stored backups in both vaults, a share per run, so that every backup is read within a period.
 *
 * PER BACKUP CHOSEN. Its manifest must be trusted (MAC) in the primary vault; every artifact is read end to
 * end against the manifest's size and SHA-256; the component's structure check (`Component.inspect`: the
 * archive's table of contents for PostgreSQL, every line of a logs artifact) parses what it can without a
 * target. In the recovery vault the same manifest must exist with the same bytes, and every artifact is read
 * against the primary manifest's SHA-256: a replica is judged by the trusted original, never by itself.
 *
 * WHICH BACKUPS. Run `run` of a cycle of `slots` runs reads the backups whose id hashes to `run mod slots`:
 * with `slots` = 1 / fraction, each backup is read once per cycle, whatever is added or expires meanwhile
 * (a backup's slot does not depend on the others). The cycle's length is the schedule's interval times
 * `slots`: hourly runs at a fraction of 1/24 read every backup once a day.
 *
 * A finding never stops the check: each is recorded (component, backup, vault, what) and the run goes on;
 * the caller turns findings into a failed run and an alarm. Only the vault or KMS being unreachable throws.
 */
import { createHash } from 'node:crypto';
import type { ComponentName, GroupName } from '../../config/types';
import { componentEntry } from '../components';
import type { Logger } from '../components/types';
import { artifactSource, backupPrefix, listBackups, manifestKey } from './catalog';
import { IntegrityError, NcaBackupError } from './errors';
import type { Manifest } from './manifest';
import type { ManifestAuthenticator } from './manifest-mac';
import { drain, type BackupVault } from './storage';

export interface IntegrityFinding {
  readonly component: string;
  readonly backupId: string;
  readonly vault: 'primary' | 'recovery';
  /** manifest (untrusted, damaged, missing or different), artifact (missing, size or SHA-256), structure (the component's parse). */
  readonly kind: 'manifest' | 'artifact' | 'structure';
  readonly problem: string;
}

export interface IntegrityReport {
  readonly run: number;
  readonly slots: number;
  /** Backups read in this run, per vault. */
  readonly checked: { readonly primary: number; readonly recovery: number };
  readonly artifactsRead: number;
  readonly bytesRead: number;
  /** Backups whose component has a structure check, and how many were parsed. */
  readonly structureChecked: number;
  readonly findings: readonly IntegrityFinding[];
}

export interface IntegrityOptions {
  /** Which run of the cycle this is (e.g. hours since the epoch for an hourly schedule). */
  readonly run: number;
  /** Runs per cycle: 1 reads every backup every run. */
  readonly slots: number;
}

/** The run of the cycle a backup is read in: a stable hash of its identity, independent of the other backups. */
export function slotOf(group: string, component: string, backupId: string, slots: number): number {
  const digest = createHash('sha256').update(`${group}/${component}/${backupId}`).digest();
  return digest.readUInt32BE(0) % slots;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 500);

/** Errors that are a finding about the backup, not a failure to look. */
function isFinding(error: unknown): boolean {
  return error instanceof IntegrityError || (error instanceof NcaBackupError && error.name === 'BackupNotFoundError');
}

async function readArtifacts(vault: BackupVault, manifest: Manifest, record: (problem: string) => void): Promise<{ artifacts: number; bytes: number }> {
  const prefix = backupPrefix(manifest.group, manifest.component, manifest.backupId);
  let artifacts = 0;
  let bytes = 0;
  for (const artifact of manifest.artifacts) {
    try {
      await drain(vault.openVerified(prefix + artifact.name, artifact, { component: manifest.component, backupId: manifest.backupId }));
      artifacts++;
      bytes += artifact.bytes;
    } catch (error) {
      if (!isFinding(error)) throw error;
      record(`${artifact.name}: ${message(error)}`);
    }
  }
  return { artifacts, bytes };
}

/** The recovery vault's copy of the manifest, byte for byte the primary's, or why not. */
async function replicaManifestProblem(primary: BackupVault, recovery: BackupVault, manifest: Manifest): Promise<string | undefined> {
  const key = manifestKey(manifest.group, manifest.component, manifest.backupId);
  const digest = async (vault: BackupVault) => {
    const hash = createHash('sha256');
    for await (const chunk of vault.openStream(key)) hash.update(chunk as Buffer);
    return hash.digest('hex');
  };
  try {
    const [mine, theirs] = await Promise.all([digest(primary), digest(recovery)]);
    return mine === theirs ? undefined : `the manifest differs from the primary vault's (SHA-256 ${theirs.slice(0, 16)}… against ${mine.slice(0, 16)}…)`;
  } catch (error) {
    if (!isFinding(error)) throw error;
    return message(error);
  }
}

export async function checkIntegrity(
  vaults: { readonly primary: BackupVault; readonly recovery?: BackupVault },
  authenticator: ManifestAuthenticator,
  components: readonly { readonly name: ComponentName; readonly group: GroupName }[],
  options: IntegrityOptions,
  log: Logger,
): Promise<IntegrityReport> {
  if (!Number.isSafeInteger(options.slots) || options.slots < 1) throw new Error(`slots must be a whole number of at least 1, not ${options.slots}`);
  const slot = ((options.run % options.slots) + options.slots) % options.slots;
  const findings: IntegrityFinding[] = [];
  const checked = { primary: 0, recovery: 0 };
  let artifactsRead = 0;
  let bytesRead = 0;
  let structureChecked = 0;
  for (const { name, group } of components) {
    const inspect = componentEntry(name).component.inspect;
    for (const entry of await listBackups(vaults.primary, authenticator, group, name)) {
      if (slotOf(group, name, entry.backupId, options.slots) !== slot) continue;
      const find = (vault: IntegrityFinding['vault'], kind: IntegrityFinding['kind'], problem: string) => {
        findings.push({ component: name, backupId: entry.backupId, vault, kind, problem });
        log.warn('integrity finding', { component: name, backupId: entry.backupId, vault, kind, problem });
      };
      checked.primary++;
      if (entry.status !== 'trusted') {
        find('primary', 'manifest', entry.status === 'missing' ? `the manifest ${entry.key} vanished while listed` : `the manifest is ${entry.status}: ${entry.problem}`);
        continue;
      }
      const manifest = entry.manifest;
      const read = await readArtifacts(vaults.primary, manifest, (problem) => find('primary', 'artifact', problem));
      artifactsRead += read.artifacts;
      bytesRead += read.bytes;
      if (inspect && read.artifacts === manifest.artifacts.length) {
        try {
          await inspect(artifactSource(vaults.primary, manifest));
          structureChecked++;
        } catch (error) {
          if (!isFinding(error)) throw error;
          find('primary', 'structure', message(error));
        }
      }
      if (vaults.recovery) {
        checked.recovery++;
        const problem = await replicaManifestProblem(vaults.primary, vaults.recovery, manifest);
        if (problem) find('recovery', 'manifest', problem);
        else {
          const replica = await readArtifacts(vaults.recovery, manifest, (p) => find('recovery', 'artifact', p));
          artifactsRead += replica.artifacts;
          bytesRead += replica.bytes;
        }
      }
    }
  }
  const report = { run: options.run, slots: options.slots, checked, artifactsRead, bytesRead, structureChecked, findings };
  log.info('integrity check done', { ...report, findings: findings.length });
  return report;
}

/** A run with findings as the error its step fails with: the first finding named, the count, what to do. */
export function integrityFailure(report: IntegrityReport): IntegrityError {
  const first = report.findings[0];
  return new IntegrityError(`${report.findings.length} integrity finding(s); the first: backup ${first.backupId} in the ${first.vault} vault (${first.kind}): ${first.problem}`, {
    component: first.component,
    backupId: first.backupId,
    hint: 'Do not restore the backups named (the log lists every finding). A recovery-vault finding means replication lost or changed an object: compare it with the primary vault\'s and copy it again.',
  });
}
