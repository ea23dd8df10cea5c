/**
 * The scheduled integrity check (the runbook's "verify checksums, validate backup file structure"): it
 * re-reads stored backups in both vaults, a share per run, so that every backup is read within a period.
 *
 * TWO PARTS, run where each can. The primary check (`checkPrimary`, in the component's worker, which has the
 * component's parsers): the manifest must be trusted (MAC); every artifact is read end to end against the
 * manifest's size and SHA-256; the component's structure check (`Component.inspect`: the archive's table of
 * contents for PostgreSQL, every line of a logs artifact) parses what it can without a target. The replica
 * check (`checkReplicas`, in a function outside the workers' VPC, whose S3 endpoint serves the primary region
 * only): in the recovery vault the same manifest must exist with the same bytes, and every artifact is read
 * against the primary manifest's SHA-256: a replica is judged by the trusted original, never by itself.
 *
 * WHICH BACKUPS. Run `run` of a cycle of `slots` runs reads the backups whose id hashes to `run mod slots`:
 * with `slots` = 1 / fraction, each backup is read once per cycle, whatever is added or expires meanwhile
 * (a backup's slot does not depend on the others). The cycle's length is the schedule's interval times
 * `slots`: hourly runs at a fraction of 1/24 read every backup once a day. Both parts pick the same backups.
 *
 * A finding never stops the check: each is recorded (component, backup, vault, what) and logged as one
 * `integrity finding` line, which the stack counts into NcaBackup/IntegrityFindings; the caller turns
 * findings into a failed run. Only the vault or KMS being unreachable throws.
 */
import { createHash } from 'node:crypto';
import type { ComponentName, GroupName } from '../../config/types';
import type { ArtifactSource, Logger } from '../components/types';
import { artifactSource, backupPrefix, listBackups, manifestKey, type BackupEntry } from './catalog';
import { IntegrityError, InvalidInputError, NcaBackupError } from './errors';
import type { Manifest } from './manifest';
import type { ManifestAuthenticator } from './manifest-mac';
import type { VaultRuntimeConfig } from './runtime-config';
import { drain, type BackupVault } from './storage';
import { INTEGRITY_FINDING_MESSAGE } from '../../config/integrity-metrics';

/** A component's structure check (its `inspect`). */
export type Inspect = (source: ArtifactSource) => Promise<void>;

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

/** The scheduled input both checks share: the component (one configured in the vault part) and the cycle's length in hourly runs. */
export interface IntegrityRunInput {
  readonly component?: unknown;
  readonly cycleHours?: unknown;
}

/** The input checked, and this hour's run of the cycle (hours since the epoch: every hourly run reads the next slot). */
export function integrityRunOf(config: VaultRuntimeConfig, input: IntegrityRunInput, now: Date): { component: { name: ComponentName; group: GroupName }; options: IntegrityOptions } {
  const { cycleHours, component } = input;
  if (typeof cycleHours !== 'number' || !Number.isSafeInteger(cycleHours) || cycleHours < 1) throw new InvalidInputError(`cycleHours ${JSON.stringify(cycleHours)} is not a whole number of hours, 1 or more.`);
  const components = config.components as Record<string, { group: GroupName } | undefined>;
  const entry = typeof component === 'string' && Object.prototype.hasOwnProperty.call(components, component) ? components[component] : undefined;
  if (!entry) throw new InvalidInputError(`component '${String(component)}' is not configured in backup.yaml sources.`, { hint: `Configured components: ${Object.keys(components).join(', ') || 'none'}.` });
  return { component: { name: component as ComponentName, group: entry.group }, options: { run: Math.floor(now.getTime() / 3_600_000), slots: cycleHours } };
}

interface RunBackup {
  readonly name: ComponentName;
  readonly group: GroupName;
  readonly entry: BackupEntry;
  readonly find: (vault: IntegrityFinding['vault'], kind: IntegrityFinding['kind'], problem: string) => void;
}

/** Every backup of this run's slot, component by component (each one's newest first), with a recorder of its findings. */
async function* backupsOfRun(
  primary: BackupVault,
  authenticator: ManifestAuthenticator,
  components: readonly { readonly name: ComponentName; readonly group: GroupName }[],
  options: IntegrityOptions,
  findings: IntegrityFinding[],
  log: Logger,
): AsyncGenerator<RunBackup> {
  if (!Number.isSafeInteger(options.slots) || options.slots < 1) throw new Error(`slots must be a whole number of at least 1, not ${options.slots}`);
  const slot = ((options.run % options.slots) + options.slots) % options.slots;
  for (const { name, group } of components) {
    for (const entry of await listBackups(primary, authenticator, group, name)) {
      if (slotOf(group, name, entry.backupId, options.slots) !== slot) continue;
      const find = (vault: IntegrityFinding['vault'], kind: IntegrityFinding['kind'], problem: string) => {
        findings.push({ component: name, backupId: entry.backupId, vault, kind, problem });
        log.warn(INTEGRITY_FINDING_MESSAGE, { component: name, backupId: entry.backupId, vault, kind, problem });
      };
      yield { name, group, entry, find };
    }
  }
}

function done(options: IntegrityOptions, counts: Omit<IntegrityReport, 'run' | 'slots'>, log: Logger): IntegrityReport {
  const report = { run: options.run, slots: options.slots, ...counts };
  log.info('integrity check done', { ...report, findings: report.findings.length });
  return report;
}

/**
 * The primary vault's share of the run: trusted manifests, every artifact against its size and SHA-256, and
 * the component's structure check (`inspectOf`: the component's `inspect`, which needs its parsers; the
 * workers run this part). `inspectOf` is passed in so that this module carries no component code.
 */
export async function checkPrimary(
  vault: BackupVault,
  authenticator: ManifestAuthenticator,
  components: readonly { readonly name: ComponentName; readonly group: GroupName }[],
  options: IntegrityOptions,
  inspectOf: (component: ComponentName) => Inspect | undefined,
  log: Logger,
): Promise<IntegrityReport> {
  const findings: IntegrityFinding[] = [];
  let checked = 0;
  let artifactsRead = 0;
  let bytesRead = 0;
  let structureChecked = 0;
  for await (const { name, entry, find } of backupsOfRun(vault, authenticator, components, options, findings, log)) {
    checked++;
    if (entry.status !== 'trusted') {
      find('primary', 'manifest', entry.status === 'missing' ? `the manifest ${entry.key} vanished while listed` : `the manifest is ${entry.status}: ${entry.problem}`);
      continue;
    }
    const manifest = entry.manifest;
    const read = await readArtifacts(vault, manifest, (problem) => find('primary', 'artifact', problem));
    artifactsRead += read.artifacts;
    bytesRead += read.bytes;
    const inspect = inspectOf(name);
    if (inspect && read.artifacts === manifest.artifacts.length) {
      try {
        await inspect(artifactSource(vault, manifest));
        structureChecked++;
      } catch (error) {
        if (!isFinding(error)) throw error;
        find('primary', 'structure', message(error));
      }
    }
  }
  return done(options, { checked: { primary: checked, recovery: 0 }, artifactsRead, bytesRead, structureChecked, findings }, log);
}

/**
 * The recovery vault's share of the run: for each backup of the slot whose primary manifest is trusted, the
 * replica's manifest byte for byte the primary's and every replica artifact against the primary manifest's
 * size and SHA-256. A backup whose primary manifest is not trusted is the primary check's finding, not
 * compared here. Needs no component code: a function outside the workers' VPC runs it.
 */
export async function checkReplicas(
  vaults: { readonly primary: BackupVault; readonly recovery: BackupVault },
  authenticator: ManifestAuthenticator,
  components: readonly { readonly name: ComponentName; readonly group: GroupName }[],
  options: IntegrityOptions,
  log: Logger,
): Promise<IntegrityReport> {
  const findings: IntegrityFinding[] = [];
  let checked = 0;
  let artifactsRead = 0;
  let bytesRead = 0;
  for await (const { entry, find } of backupsOfRun(vaults.primary, authenticator, components, options, findings, log)) {
    if (entry.status !== 'trusted') continue;
    checked++;
    const problem = await replicaManifestProblem(vaults.primary, vaults.recovery, entry.manifest);
    if (problem) {
      find('recovery', 'manifest', problem);
      continue;
    }
    const replica = await readArtifacts(vaults.recovery, entry.manifest, (p) => find('recovery', 'artifact', p));
    artifactsRead += replica.artifacts;
    bytesRead += replica.bytes;
  }
  return done(options, { checked: { primary: 0, recovery: checked }, artifactsRead, bytesRead, structureChecked: 0, findings }, log);
}

/** The replica check's scheduled input: the run's component and cycle, and where the recovery vault is (replicas keep the primary's keys, so its prefix). */
export interface ReplicaRunInput extends IntegrityRunInput {
  readonly recovery?: unknown;
}

/**
 * The integrity-replica function's run: this hour's share of the component's backups, each replica compared
 * with the trusted primary manifest. A run with a finding fails with IntegrityError naming the first.
 */
export async function checkReplicaIntegrity(
  config: VaultRuntimeConfig,
  input: ReplicaRunInput,
  deps: { readonly vaultOf: (vault: VaultRuntimeConfig) => BackupVault; readonly authenticator: ManifestAuthenticator; readonly log: Logger; readonly now: Date },
): Promise<IntegrityReport> {
  const { component, options } = integrityRunOf(config, input, deps.now);
  const r = input.recovery as Record<string, unknown> | undefined;
  if (typeof r !== 'object' || r === null || typeof r.bucket !== 'string' || r.bucket === '' || typeof r.region !== 'string' || r.region === '') {
    throw new InvalidInputError('recovery must be {bucket, region}: the recovery vault the schedule compares (set by the stack, infra/constructs/integrity.ts; redeploy it).');
  }
  const vaults = { primary: deps.vaultOf(config), recovery: deps.vaultOf({ ...config, bucket: r.bucket, region: r.region }) };
  const report = await checkReplicas(vaults, deps.authenticator, [component], options, deps.log);
  if (report.findings.length > 0) throw integrityFailure(report);
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
