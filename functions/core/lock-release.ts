/**
 * The end of a restore execution, successful or not: release the lock its Resolve step took. The event
 * carries the execution's own input (Resolve may have failed before shaping a request), so a component
 * that is not configured, or a lock held by someone else, is a no-op reported in the result, never an error.
 */
import type { ComponentName } from '../../config/types';
import { releaseLock } from './operation-lock';
import type { RuntimeConfig } from './runtime-config';
import type { BackupVault } from './storage';

export interface LockReleaseEvent {
  /** The restore execution's input, as the operator gave it. */
  readonly input: unknown;
  /** The execution name: the owner Resolve wrote into the lock. */
  readonly owner: string;
}

export interface LockReleaseOutcome {
  readonly component?: string;
  readonly released: boolean;
  readonly reason?: string;
}

export async function releaseRestoreLock(config: RuntimeConfig, vault: BackupVault, event: LockReleaseEvent): Promise<LockReleaseOutcome> {
  const component = (event.input as { component?: unknown } | null)?.component;
  const entry = typeof component === 'string' && Object.prototype.hasOwnProperty.call(config.components, component) ? config.components[component as ComponentName] : undefined;
  if (!entry) return { released: false, reason: 'the input names no configured component: no lock was taken' };
  const outcome = await releaseLock(vault, entry.group, component as ComponentName, event.owner);
  return { component: component as string, ...outcome };
}
