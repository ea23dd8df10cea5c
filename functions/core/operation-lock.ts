/**
 * The per-component operation lock: one object in the vault, `<group>/<component>/_lock.json`, so a backup
 * and a restore (or two restores) of the same component never run at once. It is taken with a conditional
 * create (If-None-Match: *); a second operation fails at once with OperationInProgressError naming the
 * holder, its operation and since when. A lock past its expiry is taken over with a conditional replace
 * (If-Match on the ETag read), so of two operations racing for a dead lock only one wins. The holder renews
 * the expiry while it works and deletes the lock at its end (conditional on the ETag it last wrote), and a
 * holder that died leaves a lock that expires on its own.
 *
 * The lock is not a backup: its name starts with "_" and is not a backup id, so the catalog never lists it,
 * and the workers' step results (`_steps/`) sit beside it.
 */
import type { ComponentName, GroupName } from '../../config/types';
import { OperationInProgressError, TransientError } from './errors';
import type { Logger } from '../components/types';
import { PreconditionFailedError, type BackupVault } from './storage';
import { lockKey } from '../../config/vault-layout';

// The lock's key, for whoever inspects the lock; the vault layout defines it.
export { lockKey };
/** A lock not renewed for this long is considered abandoned (its holder died) and may be taken over. */
export const LOCK_TTL_MS = 30 * 60 * 1000;
/** Holders renew well before expiry, so a slow renewal or two never lets the lock lapse. */
export const LOCK_RENEW_MS = 5 * 60 * 1000;

export interface LockRecord {
  readonly component: string;
  /** Who holds it: a restore execution's name, "backup-<backup id>", a CLI run id. */
  readonly owner: string;
  /** What the holder does: backup, restore. */
  readonly operation: string;
  readonly startedAt: string;
  readonly renewedAt: string;
  readonly expiresAt: string;
}

export interface LockRequest {
  readonly group: GroupName;
  readonly component: ComponentName;
  readonly owner: string;
  readonly operation: string;
  readonly now?: () => Date;
  readonly ttlMs?: number;
}

export interface HeldLock {
  readonly key: string;
  readonly record: LockRecord;
  /** ETag of the lock object as this holder last wrote it. */
  readonly etag: string;
}

function describe(record: LockRecord): string {
  return `${record.operation} ${record.owner} (since ${record.startedAt}, expires ${record.expiresAt} unless renewed)`;
}

/**
 * Takes the lock, or renews it when `owner` already holds it (a retried step, the next step of the same
 * restore). Throws OperationInProgressError when another live operation holds it.
 */
export async function acquireLock(vault: BackupVault, request: LockRequest): Promise<HeldLock> {
  const key = lockKey(request.group, request.component);
  const now = request.now ?? (() => new Date());
  // Each round reads the lock and writes conditionally on what it read; losing a race means reading again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await vault.getJsonWithEtag<LockRecord>(key);
    const at = now();
    const fresh = (startedAt: string, operation: string): LockRecord => ({
      component: request.component,
      owner: request.owner,
      operation,
      startedAt,
      renewedAt: at.toISOString(),
      expiresAt: new Date(at.getTime() + (request.ttlMs ?? LOCK_TTL_MS)).toISOString(),
    });
    try {
      if (!current) {
        const record = fresh(at.toISOString(), request.operation);
        const etag = await vault.putJson(key, record, { ifNoneMatch: '*' });
        return { key, record, etag: etag ?? '' };
      }
      const held = current.value;
      if (held.owner === request.owner) {
        const record = fresh(held.startedAt, held.operation);
        const etag = await vault.putJson(key, record, { ifMatch: current.etag });
        return { key, record, etag: etag ?? '' };
      }
      if (Date.parse(held.expiresAt) > at.getTime()) {
        // The janitor's blob prune holds the lock for seconds: worth a retry, not a failed backup.
        if (held.operation === 'prune') {
          throw new TransientError(`the janitor is pruning this component's blobs: ${describe(held)}.`, { component: request.component, hint: 'Retried; nothing was changed.' });
        }
        throw new OperationInProgressError(`another operation holds this component's lock: ${describe(held)}.`, {
          component: request.component,
          hint: `Nothing was changed. Start again when it has finished; a holder that died releases the lock when it expires (or delete ${vault.key(key)} once it is certain nothing runs).`,
        });
      }
      const record = fresh(at.toISOString(), request.operation);
      const etag = await vault.putJson(key, record, { ifMatch: current.etag });
      return { key, record, etag: etag ?? '' };
    } catch (error) {
      if (error instanceof PreconditionFailedError) continue;
      throw error;
    }
  }
  throw new OperationInProgressError('the lock kept changing hands while taking it: other operations are starting at the same moment.', {
    component: request.component,
    hint: 'Nothing was changed; start again in a minute.',
  });
}

export interface LockRelease {
  readonly released: boolean;
  readonly reason?: string;
}

/** Deletes the lock if `owner` still holds it; someone else's lock, or none, is left alone and said so. */
export async function releaseLock(vault: BackupVault, group: GroupName, component: ComponentName, owner: string): Promise<LockRelease> {
  const key = lockKey(group, component);
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await vault.getJsonWithEtag<LockRecord>(key);
    if (!current) return { released: false, reason: 'no lock was held' };
    if (current.value.owner !== owner) return { released: false, reason: `the lock is held by ${describe(current.value)}` };
    if (await vault.deleteObject(key, { ifMatch: current.etag })) return { released: true };
  }
  return { released: false, reason: 'the lock kept changing while releasing it' };
}

/**
 * Runs `work` while holding the lock, renewing it every LOCK_RENEW_MS; releases it at the end (success or
 * failure) unless `keep` (a restore step: the workflow releases at its end). A failed release is logged,
 * never thrown: it must not hide the operation's own result, and the lock expires anyway.
 */
export async function withOperationLock<T>(
  vault: BackupVault,
  request: LockRequest & { readonly keep?: boolean; readonly log: Logger },
  work: () => Promise<T>,
): Promise<T> {
  await acquireLock(vault, request);
  const renewal = setInterval(() => {
    acquireLock(vault, request).catch((error: unknown) =>
      request.log.warn('could not renew the operation lock', { component: request.component, owner: request.owner, error: (error as Error).message }),
    );
  }, LOCK_RENEW_MS);
  renewal.unref();
  try {
    return await work();
  } finally {
    clearInterval(renewal);
    if (!request.keep) {
      await releaseLock(vault, request.group, request.component, request.owner).catch((error: unknown) =>
        request.log.warn('could not release the operation lock; it expires on its own', {
          component: request.component,
          owner: request.owner,
          error: (error as Error).message,
        }),
      );
    }
  }
}
