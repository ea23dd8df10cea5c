/**
 * The restore, as the separate steps the restore state machine shows an operator: each one can fail on
 * its own with a precise error, and nothing touches the target before the artifacts are proven intact
 * and the versions compatible. The same functions serve both runners of the sequence: the workflow's
 * Task states (one step per worker invocation, core/operations.ts) and the CLI (every step in one
 * process, core/restore-sequence.ts).
 */
import { componentEntry } from '../components';
import type { ComponentEntry, RestoreTargetOptions } from '../components/types';
import { artifactSource, backupPrefix, readManifest } from './catalog';
import { runBackup, summarize, type BackupSummary } from './backup-run';
import { authenticatorOf, configuredComponent, type EngineContext } from './context';
import { VerificationError } from './errors';
import { compareFingerprints, describeDifferences } from './fingerprint-diff';
import type { Manifest } from './manifest';
import type { RuntimeConfig } from './runtime-config';
import { drain } from './storage';
import type { Fingerprint, RestoreVerification } from '../components/types';
import type { Room } from '../components/room';

export interface RestoreRequest extends RestoreTargetOptions {
  readonly component: string;
  /** A resolved id (never "latest" here: resolution happens once, before the first step). */
  readonly backupId: string;
  /** Component-specific restore options, already checked by its parser in components/restore-options.ts. */
  readonly options?: Record<string, unknown>;
}

/** A configured component with its registry entry, looked up once per operation. */
export interface RestoreComponent extends ReturnType<typeof configuredComponent> {
  readonly entry: ComponentEntry<unknown, RestoreTargetOptions, any>;
}

/** The component a restore names: configured in backup.yaml and known to the registry, or a clear error. */
export function restoreComponent(config: RuntimeConfig, component: string): RestoreComponent {
  const configured = configuredComponent(config, component);
  return { ...configured, entry: componentEntry(configured.name) };
}

/**
 * One restore request as the steps of one process see it. The manifest is read, and the target connected
 * (which in AWS reads its secret), on first use and kept for every later step in the same process: a
 * worker running one step reads and connects once, the CLI running them all reads and connects once too.
 */
export interface RestoreScope {
  readonly ctx: EngineContext;
  readonly component: RestoreComponent;
  readonly request: RestoreRequest;
  /** The backup's manifest, trusted and valid (catalog.readManifest). */
  manifest(): Promise<Manifest>;
  /** The restore target: the configured source, connected, then retargeted by the request's options. */
  target(): Promise<unknown>;
}

/** `manifest`: the one Resolve already read, when the steps run in the same process as Resolve. */
export function restoreScope(ctx: EngineContext, component: RestoreComponent, request: RestoreRequest, manifest?: Manifest): RestoreScope {
  let read: Promise<Manifest> | undefined = manifest ? Promise.resolve(manifest) : undefined;
  let connected: Promise<unknown> | undefined;
  const { name, group, source, entry } = component;
  return {
    ctx,
    component,
    request,
    manifest: () => (read ??= readManifest(ctx.vault, authenticatorOf(ctx), { group, component: name, backupId: request.backupId })),
    target: () => (connected ??= entry.connect(source, ctx.env).then((base) => entry.retarget(base, componentOptions(request)))),
  };
}

/** What a component's restore, compatibility check and verification receive. */
function componentOptions(request: RestoreRequest): Record<string, unknown> & RestoreTargetOptions {
  return { ...(request.options ?? {}), targetDatabase: request.targetDatabase };
}

/** The backup's manifest, trusted and valid (catalog.readManifest), or a typed error naming its key. */
export async function loadManifest(ctx: EngineContext, component: string, backupId: string): Promise<Manifest> {
  const { name, group } = configuredComponent(ctx.config, component);
  return readManifest(ctx.vault, authenticatorOf(ctx), { group, component: name, backupId });
}

export interface ArtifactVerification {
  readonly artifacts: number;
  readonly bytes: number;
  readonly durationMs: number;
}

/** Reads every artifact end to end against the manifest's SHA-256; touches nothing else. */
export async function verifyArtifacts(ctx: EngineContext, manifest: Manifest): Promise<ArtifactVerification> {
  const started = Date.now();
  const prefix = backupPrefix(manifest.group, manifest.component, manifest.backupId);
  for (const artifact of manifest.artifacts) {
    await drain(ctx.vault.openVerified(prefix + artifact.name, artifact, { component: manifest.component, backupId: manifest.backupId }));
    ctx.log.info('artifact verified', { component: manifest.component, backupId: manifest.backupId, artifact: artifact.name, bytes: artifact.bytes });
  }
  return { artifacts: manifest.artifacts.length, bytes: manifest.totalBytes, durationMs: Date.now() - started };
}

/**
 * Versions, and whether the target has room for the backup (components/room.ts): a target that clearly has
 * none is refused with InsufficientSpaceError before anything is written; otherwise `room` says what was
 * found, `unknown` with its reason where the server does not tell.
 */
export async function checkCompatibility(scope: RestoreScope): Promise<{ compatible: true; source: string; target: string; room: Room }> {
  const manifest = await scope.manifest();
  const { targetVersion, room } = await scope.component.entry.component.checkCompatibility(manifest.source, await scope.target(), componentOptions(scope.request));
  scope.ctx.log.info('restore target room', { component: manifest.component, backupId: manifest.backupId, verdict: room.verdict, reason: room.reason });
  return { compatible: true, source: manifest.source.serverVersion, target: targetVersion, room };
}

export type SafetyBackupResult = ({ readonly skipped: false } & BackupSummary) | { readonly skipped: true; readonly reason: string };

/** Backs up what the restore is about to replace; skipped when the target does not exist yet. */
export async function safetyBackup(scope: RestoreScope, safetyBackupId: string): Promise<SafetyBackupResult> {
  const target = await scope.target();
  if (!(await scope.component.entry.component.targetExists(target))) {
    return { skipped: true, reason: 'the restore target holds nothing the restore would replace (it does not exist yet, or the component only adds to it)' };
  }
  const manifest = await runBackup(scope.ctx, { component: scope.component.name, backupId: safetyBackupId, trigger: 'safety', target });
  return { skipped: false, ...summarize(manifest) };
}

export interface RestoreOutcome {
  readonly component: string;
  readonly backupId: string;
  readonly target: string;
  readonly replacedExisting: boolean;
  readonly details: Record<string, unknown>;
  readonly bytes: number;
  readonly durationMs: number;
}

export async function restoreBackup(scope: RestoreScope): Promise<RestoreOutcome> {
  const { ctx, request } = scope;
  const manifest = await scope.manifest();
  const target = await scope.target();
  const started = Date.now();
  ctx.log.info('restore started', { component: manifest.component, backupId: manifest.backupId, targetDatabase: request.targetDatabase, options: request.options });
  const result = await scope.component.entry.component.restore(artifactSource(ctx.vault, manifest, authenticatorOf(ctx)), target, componentOptions(request), ctx.log);
  const durationMs = Date.now() - started;
  ctx.log.info('restore completed', { component: manifest.component, backupId: manifest.backupId, target: result.target, durationMs, ...result.details });
  return { component: manifest.component, backupId: manifest.backupId, ...result, details: result.details ?? {}, bytes: manifest.totalBytes, durationMs };
}

export interface PostVerification {
  readonly fingerprintMatch: true;
  readonly objects: number;
  readonly details?: Record<string, unknown>;
  readonly durationMs: number;
}

/**
 * What an operator may safely do after a failed verification, for any component. It must never advise an
 * action that makes things worse: the safety backup holds the state before the restore, which may be the
 * very damage the restore was meant to repair, so it is offered for inspection under another name, never
 * to be put back over the target; and repeating the same restore cannot fix a deterministic difference.
 */
export function verificationFailureHint(safetyBackupId?: string): string {
  const before = safetyBackupId
    ? `What the target held before this restore is kept in safety backup ${safetyBackupId} (it may be the damaged state the restore was meant to repair): restore it under another target name to compare, not over this target.`
    : 'No safety backup was taken for this restore, so the state before it is not in the vault.';
  return (
    `The target may now hold a partial or altered restore: keep applications away from it until this is resolved. ${before} ` +
    'Repeating this restore helps only if something wrote to the target while or after it ran (a service that was not stopped); otherwise it fails the same way: report the differences listed.'
  );
}

/** The restored target must carry the fingerprint recorded at backup time, object by object. */
export async function postVerify(scope: RestoreScope, safetyBackupId?: string): Promise<PostVerification> {
  const { ctx, request } = scope;
  const { component } = scope.component.entry;
  const manifest = await scope.manifest();
  const target = await scope.target();
  const started = Date.now();
  const verification = component.verifyRestore
    ? await component.verifyRestore(manifest.fingerprint, artifactSource(ctx.vault, manifest, authenticatorOf(ctx)), target, componentOptions(request), ctx.log)
    : await compareWithFingerprint(component.fingerprint(target), manifest);
  const { differences } = verification;
  if (differences.length > 0) {
    throw new VerificationError(`the restored data does not match the backup's fingerprint: ${describeDifferences(differences)}.`, {
      component: manifest.component,
      backupId: manifest.backupId,
      hint: verificationFailureHint(safetyBackupId),
    });
  }
  return { fingerprintMatch: true, objects: verification.objects, ...(verification.details ? { details: verification.details } : {}), durationMs: Date.now() - started };
}

async function compareWithFingerprint(actual: Promise<Fingerprint>, manifest: Manifest): Promise<RestoreVerification> {
  const found = await actual;
  return { differences: compareFingerprints(manifest.fingerprint, found), objects: Object.keys(found).length };
}
