/**
 * The memory component's restore options, driver-free so the control plane can check a restore input
 * (functions/components/restore-options.ts) without bundling Redis, MongoDB or PostgreSQL clients.
 */
import { MEMORY_TIERS, type MemoryTier } from './tiers';
import { InvalidInputError } from '../../core/errors';

export interface MemoryRestoreOptions {
  /** Restore into this database: only the backed-up name ("memory-tiers") applies (see memoryEntry.retarget). */
  readonly targetDatabase?: string;
  /** Tiers to restore; default every tier in the backup. */
  readonly tiers?: readonly MemoryTier[];
}

const COMPONENT = 'memory';
const ALLOWED = `Allowed: ${MEMORY_TIERS.join(', ')} (any combination).`;

/** Validates `tiers` as given by an operator: a list (or comma-separated text) of known tiers; returned in MEMORY_TIERS order. */
export function parseTiers(value: unknown): MemoryTier[] {
  const list = typeof value === 'string' ? value.split(',').map((t) => t.trim()) : value;
  if (!Array.isArray(list) || list.length === 0) {
    throw new InvalidInputError('options.tiers must be a non-empty list of tiers.', { component: COMPONENT, hint: ALLOWED });
  }
  for (const tier of list) {
    if (typeof tier !== 'string' || !(MEMORY_TIERS as readonly string[]).includes(tier)) {
      throw new InvalidInputError(`options.tiers: ${JSON.stringify(tier)} is not a memory tier.`, { component: COMPONENT, hint: ALLOWED });
    }
  }
  return MEMORY_TIERS.filter((tier) => list.includes(tier));
}

export function parseMemoryRestoreOptions(raw: Record<string, unknown>): { tiers?: MemoryTier[] } {
  for (const key of Object.keys(raw)) {
    if (key !== 'tiers') {
      throw new InvalidInputError(`options.${key} is not an option of the memory component.`, { component: COMPONENT, hint: `Allowed: tiers (${MEMORY_TIERS.join(', ')}).` });
    }
  }
  return raw.tiers === undefined ? {} : { tiers: parseTiers(raw.tiers) };
}
