/**
 * Post-restore verification for Redis. Comparing the manifest's fingerprint with the target's cannot
 * work as it is: keys that expired since the backup are rightly absent, a merge restore leaves other
 * keys in place, and keyPattern restores part of the backup. So the artifact is streamed once more and:
 *
 *  - its records must still add up to the manifest's fingerprint (the artifact is the one backed up);
 *  - every record the restore should have written (selected by keyPattern, not expiring within the grace
 *    period) is looked up on the target by key, and the per-type counts and digests of those records are
 *    compared with the values found (same canonical digests as the fingerprint); their expiry must
 *    match the backup's absolute expiry within a second;
 *  - in replace mode the target must hold no other long-lived key in scope (keys the backup does not have).
 *
 * Keys expiring within GRACE_MS of the start are not compared: they may legitimately vanish while the
 * check runs. They are counted in the details.
 */
import { compareFingerprints } from '../../core/fingerprint-diff';
import type { ArtifactSource, Fingerprint, Logger, RestoreVerification } from '../types';
import { serverFacts } from './compatibility';
import { redisFailure, withRedis, type RedisTarget } from './connection';
import { FingerprintBuilder } from './digest';
import { forEachRecord, openDump, RecordBatches } from './format';
import { KeyScope, type RedisRestoreOptions } from './options';
import { readKeys } from './reader';
import { findDumpArtifact, serverClock } from './restore';
import { scanKeys } from './scan';

export const GRACE_MS = 10 * 60_000;
const EXPIRY_TOLERANCE_MS = 1000;

type Difference = RestoreVerification['differences'][number];

export async function verifyRedisRestore(
  expected: Fingerprint,
  source: ArtifactSource,
  target: RedisTarget,
  options: RedisRestoreOptions,
  log: Logger,
): Promise<RestoreVerification> {
  const artifact = findDumpArtifact(source);
  const mode = options.mode ?? 'replace';
  return withRedis(target, async (redis) => {
    const [now, facts] = await Promise.all([serverClock(redis), serverFacts(redis, target.db)]);
    const started = now();
    const cutoff = started + GRACE_MS;
    const inArtifact = new FingerprintBuilder();
    const wanted = new FingerprintBuilder();
    const found = new FingerprintBuilder();
    const counts = { compared: 0, missing: 0, expiryDiffers: 0, expiredSinceBackup: 0, expiringSoon: 0, notSelected: 0, foundLongLived: 0 };
    const batches = new RecordBatches(async (batch) => {
      const read = await readKeys(redis, batch.map((r) => r.key), { dump: false, exactExpiry: facts.exactExpiry });
      const live = new Map(read.values.map((value) => [value.key.toString('latin1'), value]));
      for (const record of batch) {
        wanted.add(record.type, record.digest);
        counts.compared++;
        const value = live.get(record.key.toString('latin1'));
        if (!value) {
          counts.missing++;
          continue;
        }
        found.add(value.type, value.digest);
        if (value.expiresAt === 0 || value.expiresAt > cutoff) counts.foundLongLived++;
        if ((value.expiresAt === 0) !== (record.expiresAt === 0) || Math.abs(value.expiresAt - record.expiresAt) > EXPIRY_TOLERANCE_MS) counts.expiryDiffers++;
      }
    });

    const stream = source.open(artifact.name);
    let scope: KeyScope;
    try {
      const reader = await openDump(stream, { name: artifact.name });
      scope = new KeyScope(reader.header.keyPatterns, options.keyPattern);
      await forEachRecord(reader, (record) => {
        inArtifact.add(record.type, record.digest);
        if (!scope.selects(record.key)) {
          counts.notSelected++;
          return;
        }
        if (record.expiresAt !== 0 && record.expiresAt <= cutoff) {
          if (record.expiresAt <= started) counts.expiredSinceBackup++;
          else counts.expiringSoon++;
          return;
        }
        return batches.add(record);
      });
      await batches.end();
    } catch (error) {
      throw redisFailure(error, target, 'verifying the restore');
    } finally {
      stream.destroy();
    }

    let extraKeys = 0;
    if (mode === 'replace') {
      try {
        let liveLongLived = 0;
        const at = now();
        for await (const keys of scanKeys(redis, scope.scanPatterns)) {
          const inScope = keys.filter((key) => scope.contains(key));
          if (inScope.length === 0) continue;
          const pipeline = redis.pipeline();
          for (const key of inScope) pipeline.pttl(key);
          for (const [error, pttl] of (await pipeline.exec()) ?? []) {
            if (error) throw error;
            if (pttl === -1 || (typeof pttl === 'number' && pttl >= 0 && at + pttl > cutoff)) liveLongLived++;
          }
        }
        extraKeys = Math.max(0, liveLongLived - counts.foundLongLived);
      } catch (error) {
        throw redisFailure(error, target, 'counting the keys in scope');
      }
    }

    const differences: Difference[] = compareFingerprints(wanted.result(), found.result());
    if (compareFingerprints(expected, inArtifact.result()).length > 0) {
      differences.push({ object: 'artifact', problem: "the artifact's records do not add up to the fingerprint recorded in the manifest" });
    }
    if (counts.expiryDiffers > 0) {
      differences.push({ object: 'expiry', problem: `${counts.expiryDiffers} restored keys expire at another time than recorded in the backup` });
    }
    if (extraKeys > 0) {
      differences.push({ object: 'keyspace', problem: `the target holds ${extraKeys} keys in scope that the backup does not hold` });
    }
    const overran = now() > cutoff;
    const details = { mode, ...counts, extraKeys, graceMs: GRACE_MS, ...(overran ? { overran: true } : {}) };
    log.info('redis restore verified', { differences: differences.length, ...details });
    return { differences, objects: Object.keys(wanted.result()).length, details };
  });
}
