/**
 * One component's backup: artifacts stream through the sink into the vault, then the manifest is
 * written last. A failed attempt leaves no manifest, so it never counts as a backup; its partial
 * artifacts are deleted here when possible and by the lifecycle rule otherwise.
 */
import type { ArtifactRecord, ArtifactSink } from '../components/types';
import { componentEntry, type RestoreTargetOptions } from '../components';
import { backupPrefix } from './catalog';
import { configuredComponent, type EngineContext } from './context';
import { InvalidInputError } from './errors';
import { buildManifest, MANIFEST_FILE, type BackupTrigger, type Manifest } from './manifest';
import { VERSION } from './version';

export interface BackupRequest {
  readonly component: string;
  readonly backupId: string;
  readonly trigger: BackupTrigger;
  /** Back up this target instead of the configured one (safety backups of a restore target). */
  readonly target?: RestoreTargetOptions & Record<string, unknown>;
}

export interface BackupSummary {
  readonly component: string;
  readonly group: string;
  readonly backupId: string;
  readonly trigger: BackupTrigger;
  readonly bytes: number;
  readonly durationMs: number;
  readonly throughputMBps: number;
  readonly artifacts: number;
  readonly database: string;
  /** The component's report.warnings (an empty memory tier, a database with no collections): present only when there are some. */
  readonly warnings?: readonly string[];
}

const ARTIFACT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$/;

export function summarize(manifest: Manifest): BackupSummary {
  return {
    component: manifest.component,
    group: manifest.group,
    backupId: manifest.backupId,
    trigger: manifest.trigger,
    bytes: manifest.totalBytes,
    durationMs: manifest.durationMs,
    throughputMBps: manifest.durationMs > 0 ? Math.round((manifest.totalBytes / 1e6 / (manifest.durationMs / 1000)) * 100) / 100 : 0,
    artifacts: manifest.artifacts.length,
    database: manifest.source.database,
    ...warningsOf(manifest),
  };
}

/** A backup that found nothing where it looked must not look healthy: its warnings travel with its summary. */
function warningsOf(manifest: Manifest): { warnings?: string[] } {
  const warnings = manifest.report?.warnings;
  if (!Array.isArray(warnings) || warnings.length === 0) return {};
  return { warnings: warnings.map(String) };
}

export async function runBackup(ctx: EngineContext, request: BackupRequest): Promise<Manifest> {
  const { name, group, source } = configuredComponent(ctx.config, request.component);
  const entry = componentEntry(name);
  const connected = await entry.connect(source, ctx.env);
  const target = entry.retarget(connected, request.target ?? {});
  const prefix = backupPrefix(group, name, request.backupId);
  // A retried step (Lambda retry, re-driven execution) finds its backup already complete: keep it.
  const existing = await ctx.vault.getJson<Manifest>(prefix + MANIFEST_FILE);
  if (existing) {
    ctx.log.info('backup already complete', { component: name, backupId: request.backupId });
    return existing;
  }
  const written: ArtifactRecord[] = [];
  const startedAt = ctx.now();
  ctx.log.info('backup started', { component: name, backupId: request.backupId, trigger: request.trigger });

  const sink: ArtifactSink = {
    async write(artifactName, body, options = {}) {
      if (!ARTIFACT_NAME.test(artifactName) || artifactName === MANIFEST_FILE) {
        throw new InvalidInputError(`artifact name '${artifactName}' is not allowed.`, { component: name, backupId: request.backupId });
      }
      const contentType = options.contentType ?? 'application/octet-stream';
      const stored = await ctx.vault.writeStream(prefix + artifactName, body, contentType);
      const record: ArtifactRecord = { name: artifactName, bytes: stored.bytes, sha256: stored.sha256, contentType };
      written.push(record);
      ctx.log.info('artifact stored', { component: name, backupId: request.backupId, artifact: artifactName, bytes: stored.bytes });
      return record;
    },
  };

  try {
    const result = await entry.component.backup(target, sink, ctx.log);
    const manifest = buildManifest({
      backupId: request.backupId,
      group,
      component: name,
      trigger: request.trigger,
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
    await ctx.vault.putJson(prefix + MANIFEST_FILE, manifest);
    ctx.log.info('backup completed', { ...summarize(manifest) });
    return manifest;
  } catch (error) {
    const keys = await ctx.vault.listKeys(prefix).catch(() => []);
    await ctx.vault.deleteKeys(keys).catch(() => undefined);
    throw error;
  }
}
