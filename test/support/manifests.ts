/** Manifests written straight into a test vault: authentic ones (MACed with a given key) and forgeries. */
import type { ComponentName, GroupName } from '../../config/types';
import { manifestKey } from '../../functions/core/catalog';
import { buildManifest, type Manifest } from '../../functions/core/manifest';
import { localAuthenticator, localKeyPath, type ManifestAuthenticator } from '../../functions/core/manifest-mac';
import type { BackupVault } from '../../functions/core/storage';

/** The run's local manifest key (global setup points NCA_MANIFEST_KEY_FILE at a temporary file). */
export function testAuthenticator(): ManifestAuthenticator {
  return localAuthenticator(localKeyPath(process.env));
}

/** A manifest that passes every check but its MAC; `changes` replaces fields. */
export function sampleManifest(group: GroupName, component: ComponentName, backupId: string, changes: Record<string, unknown> = {}): Manifest {
  return {
    ...buildManifest({
      backupId,
      group,
      component,
      trigger: 'manual',
      startedAt: '2026-11-23T02:00:00.000Z',
      completedAt: '2026-11-23T02:00:01.000Z',
      source: { serverVersion: '15.18', serverMajor: 15, database: 'neuroca_db' },
      artifacts: [{ name: 'neuroca_db.dump', bytes: 3, sha256: 'a'.repeat(64), contentType: 'application/octet-stream' }],
      fingerprint: {},
      consistency: { pointInTime: true, method: 'test' },
      encryption: { algorithm: 'aws:kms', kmsKeyId: 'test' },
      producer: { name: 'nca-backup', version: 'test', runner: 'test' },
    }),
    ...changes,
  } as Manifest;
}

/** Writes `manifest` at its own key (or `at`), MACed by `authenticator` when one is given (a forgery otherwise). */
export async function plantManifest(
  vault: BackupVault,
  manifest: Manifest,
  options: { authenticator?: ManifestAuthenticator; at?: string } = {},
): Promise<string> {
  const key = options.at ?? manifestKey(manifest.group, manifest.component, manifest.backupId);
  const { authentication: _old, ...content } = manifest;
  const body = options.authenticator ? { ...content, authentication: await options.authenticator.sign(key, content) } : content;
  await vault.putJson(key, body);
  return key;
}
