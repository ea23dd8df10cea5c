/**
 * Drill records as the vault keeps them: MAC'd with the manifest key, bound to their key, like manifests
 * (core/manifest-mac.ts), so a record written by anyone with write access to the bucket, or copied from
 * another drill, never shows on the scorecard as a drill that happened. The report step signs every record
 * of its drill; workers write theirs unsigned first (a drill worker holds no signing right), which the
 * report replaces.
 */
import { drillRecordKey } from '../../config/vault-layout';
import type { ComponentName } from '../../config/types';
import type { DrillResult } from './drill';
import type { ManifestAuthenticator, MacVerdict } from './manifest-mac';
import type { BackupVault } from './storage';

/** Writes the record signed; returns it with its key, as results carry it. */
export async function storeSignedRecord(vault: BackupVault, authenticator: ManifestAuthenticator, record: DrillResult): Promise<DrillResult> {
  const key = drillRecordKey(record.drillId, record.component as ComponentName);
  const { recordKey: _key, recordProblem: _problem, authentication: _old, ...content } = record as DrillResult & { authentication?: unknown };
  const authentication = await authenticator.sign(key, content);
  await vault.putJson(key, { ...content, authentication });
  return { ...content, recordKey: key };
}

/** Whether a record read from `key` carries a valid MAC of this installation's manifest key. */
export function verifyRecord(authenticator: ManifestAuthenticator, key: string, record: object): Promise<MacVerdict> {
  return authenticator.verify(key, record);
}
