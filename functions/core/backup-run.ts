/**
 * One component's backup: artifacts stream through the sink into the vault, then the manifest, MACed,
 * is written last. Every object is written once (If-None-Match: *): nothing that exists, least of all a
 * completed backup, is ever replaced. A failed attempt leaves no manifest, so it never counts as a backup;
 * it deletes the objects it wrote itself, and only those (a concurrent attempt's objects are not its own);
 * what it cannot delete is left to the vault's clean-up of objects that never got a manifest.
 */
import { addAbortSignal } from 'node:stream';
import type { ArtifactRecord, ArtifactSink } from '../components/types';
import { componentEntry } from '../components';
import { artifactSource, backupPrefix, inspectBackup, manifestKey, resolveBackup, usableManifest } from './catalog';
import { blobStoreOf } from './blobs';
import { authenticatorOf, configuredComponent, type EngineContext } from './context';
import { BackupNotFoundError, InvalidInputError, OperationInProgressError } from './errors';
import { buildManifest, isArtifactName, type BackupTrigger, type Manifest, type SystemMembership } from './manifest';
import { PreconditionFailedError } from './storage';
import { VERSION } from './version';

export interface BackupRequest {
  readonly component: string;
  readonly backupId: string;
  readonly trigger: BackupTrigger;
  /** Trigger change only: the first changed item's name, recorded in the manifest. */
  readonly changed?: string;
  /** Part of a system recovery point (`group: "all"`): recorded in the manifest, under its MAC. */
  readonly system?: SystemMembership;
  /**
   * Back up this target, already connected, instead of connecting the configured source: a restore's
   * safety backup backs up the restore's own target, connected once for the whole restore.
   */
  readonly target?: unknown;
  /**
   * Stops the backup when aborted (the Lambda deadline, lambda-deadline.ts): the artifact being written is
   * destroyed, no manifest is written, and this attempt's objects are deleted like any failed attempt's.
   */
  readonly signal?: AbortSignal;
}

export interface BackupSummary {
  readonly component: string;
  readonly group: string;
  readonly backupId: string;
  readonly trigger: BackupTrigger;
  /** Trigger change only: the first changed item's name. */
  readonly changed?: string;
  readonly bytes: number;
  /** When the backup began reading its source: a system recovery point's span runs from the first to the last. */
  readonly startedAt: string;
  readonly durationMs: number;
  readonly throughputMBps: number;
  readonly artifacts: number;
  readonly database: string;
  /** The component's report.warnings (an empty memory tier, a database with no collections): present only when there are some. */
  readonly warnings?: readonly string[];
  /**
   * A deduplicating component (models): the bytes its files hold and the bytes this backup stored anew.
   * Its artifacts are only an index, so `bytes` alone would hide what the backup did.
   */
  readonly sourceBytes?: number;
  readonly storedBytes?: number;
}

export function summarize(manifest: Manifest): BackupSummary {
  return {
    component: manifest.component,
    group: manifest.group,
    backupId: manifest.backupId,
    trigger: manifest.trigger,
    ...(manifest.changed !== undefined ? { changed: manifest.changed } : {}),
    bytes: manifest.totalBytes,
    startedAt: manifest.startedAt,
    durationMs: manifest.durationMs,
    throughputMBps: manifest.durationMs > 0 ? Math.round((manifest.totalBytes / 1e6 / (manifest.durationMs / 1000)) * 100) / 100 : 0,
    artifacts: manifest.artifacts.length,
    database: manifest.source.database,
    ...warningsOf(manifest),
    ...storedOf(manifest),
  };
}

function storedOf(manifest: Manifest): { sourceBytes?: number; storedBytes?: number } {
  const { bytes, storedBytes } = manifest.report ?? {};
  return typeof bytes === 'number' && typeof storedBytes === 'number' ? { sourceBytes: bytes, storedBytes } : {};
}

/** A backup that found nothing where it looked must not look healthy: its warnings travel with its summary. */
function warningsOf(manifest: Manifest): { warnings?: string[] } {
  const warnings = manifest.report?.warnings;
  if (!Array.isArray(warnings) || warnings.length === 0) return {};
  return { warnings: warnings.map(String) };
}

/** An object of this backup already exists: another attempt wrote it, and it is not this attempt's to replace. */
function writtenByAnother(key: string, component: string, backupId: string): OperationInProgressError {
  return new OperationInProgressError(`${key} already exists: another attempt of backup ${backupId} wrote it, and vault objects are written once. Nothing of that attempt was touched.`, {
    component,
    backupId,
    hint: 'If no other attempt is running, a failed one left it: run the backup under a new backup id (objects without a manifest are removed by the vault clean-up).',
  });
}

export async function runBackup(ctx: EngineContext, request: BackupRequest): Promise<Manifest> {
  const { name, group, source } = configuredComponent(ctx.config, request.component);
  const entry = componentEntry(name);
  const target = request.target ?? entry.retarget(await entry.connect(source, ctx.env), {});
  const prefix = backupPrefix(group, name, request.backupId);
  const authenticator = authenticatorOf(ctx);
  const ref = { group, component: name, backupId: request.backupId };
  // A retried step (Lambda retry, re-driven execution) finds its backup already complete: keep it, once
  // its manifest is proven authentic (a planted one under this id fails here, naming its key).
  const existing = await inspectBackup(ctx.vault, authenticator, ref);
  if (existing.status !== 'missing') {
    const manifest = usableManifest(existing, name);
    ctx.log.info('backup already complete', { component: name, backupId: request.backupId });
    return manifest;
  }
  const written: ArtifactRecord[] = [];
  /** Keys this attempt created (or may have: a write that failed midway), the only ones it may delete. */
  const mine: string[] = [];
  const startedAt = ctx.now();
  ctx.log.info('backup started', { component: name, backupId: request.backupId, trigger: request.trigger, ...(request.changed !== undefined ? { changed: request.changed } : {}) });

  /** Writes one object of this attempt; a key that already exists is another attempt's and stays untouched. */
  const writeOnce = async <T>(key: string, write: () => Promise<T>): Promise<T> => {
    try {
      const result = await write();
      mine.push(key);
      return result;
    } catch (error) {
      if (error instanceof PreconditionFailedError) throw writtenByAnother(error.key, name, request.backupId);
      mine.push(key);
      throw error;
    }
  };

  const sink: ArtifactSink = {
    backupId: request.backupId,
    async write(artifactName, body, options = {}) {
      if (!isArtifactName(artifactName) || written.some((a) => a.name === artifactName)) {
        throw new InvalidInputError(`artifact name '${artifactName}' is not allowed.`, { component: name, backupId: request.backupId });
      }
      const contentType = options.contentType ?? 'application/octet-stream';
      if (request.signal) {
        request.signal.throwIfAborted();
        addAbortSignal(request.signal, body);
      }
      const stored = await writeOnce(prefix + artifactName, () => ctx.vault.writeStream(prefix + artifactName, body, contentType, options.upload));
      const record: ArtifactRecord = { name: artifactName, bytes: stored.bytes, sha256: stored.sha256, contentType };
      written.push(record);
      ctx.log.info('artifact stored', { component: name, backupId: request.backupId, artifact: artifactName, bytes: stored.bytes });
      return record;
    },
    blobs: blobStoreOf(ctx.vault, group, name, request.backupId),
    async previous() {
      try {
        return artifactSource(ctx.vault, await resolveBackup(ctx.vault, authenticator, group, name, 'latest'), authenticator);
      } catch (error) {
        if (error instanceof BackupNotFoundError) return undefined;
        throw error;
      }
    },
  };

  try {
    const result = await entry.component.backup(target, sink, ctx.log);
    // A backup stopped at its deadline never gets a manifest, even if its last artifact made it.
    request.signal?.throwIfAborted();
    const manifest = buildManifest({
      backupId: request.backupId,
      group,
      component: name,
      trigger: request.trigger,
      ...(request.changed !== undefined ? { changed: request.changed } : {}),
      ...(request.system !== undefined ? { system: request.system } : {}),
      startedAt: startedAt.toISOString(),
      completedAt: ctx.now().toISOString(),
      source: result.source,
      artifacts: result.artifacts,
      fingerprint: result.fingerprint,
      consistency: result.consistency,
      ...(result.report ? { report: result.report } : {}),
      encryption: { algorithm: 'aws:kms', kmsKeyId: ctx.config.kmsKeyId },
      producer: { name: 'nca-backup', version: VERSION, runner: ctx.runner },
    });
    const key = manifestKey(group, name, request.backupId);
    // The MAC travels inside the manifest, so it is still one object written last, once.
    const signed: Manifest = { ...manifest, authentication: await authenticator.sign(key, manifest) };
    await writeOnce(key, () => ctx.vault.putJson(key, signed, { ifNoneMatch: '*' }));
    ctx.log.info('backup completed', { ...summarize(signed) });
    return signed;
  } catch (error) {
    await ctx.vault.deleteKeys(mine).catch((cleanupError: Error) => {
      ctx.log.warn('could not delete this attempt\'s objects; the vault clean-up removes them', { component: name, backupId: request.backupId, keys: mine, error: cleanupError.message });
    });
    throw error;
  }
}
