/** The NCA's three memory tiers and the source (under backup.sources) of the store each lives in. */

export const MEMORY_TIERS = ['working', 'episodic', 'semantic'] as const;
export type MemoryTier = (typeof MEMORY_TIERS)[number];

export const TIER_SOURCE = { working: 'redis', episodic: 'mongodb', semantic: 'vector' } as const satisfies Record<MemoryTier, string>;
