/**
 * What of a fingerprint a restore can be held to. A restore without owners and grants (noOwner) cannot
 * reproduce the "#privileges" entries (owners and grants), so they are left out on both sides; every
 * other entry must match. Used by the check of the staging database before the swap and by the
 * post-restore verification after it: one rule, one place.
 */
import type { Client } from 'pg';
import { compareFingerprints } from '../../core/fingerprint-diff';
import type { Fingerprint, FingerprintEntry, RestoreVerification } from '../types';
import { fingerprintDatabase, isPrivilegesKey, PRIVILEGES_FACET } from './fingerprint';

export function comparableFingerprint(fingerprint: Fingerprint, options: { noOwner?: boolean }): Fingerprint {
  if (!options.noOwner) return fingerprint;
  return Object.fromEntries(Object.entries(fingerprint).filter(([key]) => !isPrivilegesKey(key)));
}

/**
 * Fingerprints the database `client` is connected to and compares it with `expected`. `rows`: the
 * tables' row entries when they were read already (fingerprintRowsApart).
 */
export async function verifyDatabase(client: Client, expected: Fingerprint, options: { noOwner?: boolean }, rows?: ReadonlyMap<string, FingerprintEntry>): Promise<RestoreVerification> {
  const found = comparableFingerprint(await fingerprintDatabase(client, rows), options);
  const differences = compareFingerprints(comparableFingerprint(expected, options), found);
  return { differences, objects: Object.keys(found).length, ...(options.noOwner ? { details: { leftOut: `entries ending in ${PRIVILEGES_FACET} (restored without owners and grants)` } } : {}) };
}
