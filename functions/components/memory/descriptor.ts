/**
 * The memory-tier export as the configuration, the CLI and the control plane see it
 * (config/component.ts). Pure: no driver. It has no store of its own: each tier is read through the
 * connection of its store's section (working: sources.redis, episodic: sources.mongodb, semantic:
 * sources.vector), so its worker receives those sections and reads their secrets.
 */
import { describeComponent, type ParsedSources } from '../../../config/component';
import { list, mapping, matching, oneOf } from '../../../config/fields';
import { COLLECTION_NAME, type MongoSourceConfig } from '../mongodb/descriptor';
import type { RedisSourceConfig } from '../redis/descriptor';
import type { VectorSourceConfig } from '../vector/descriptor';
import { parseMemoryRestoreOptions } from './options';
import { MEMORY_TIERS, TIER_SOURCE, type MemoryTier } from './tiers';

export { MEMORY_TIERS, TIER_SOURCE, type MemoryTier } from './tiers';

// The NCA's own names: its Redis backend's default tier_name (keys memory:generic:{id}) and the
// collection its MongoDB backend keeps long-term memories in.
export const DEFAULT_WORKING_NAMESPACE = 'generic';
export const DEFAULT_EPISODIC_COLLECTION = 'ltm_memories';

/** The memory-tier export (memory_tiers group), as written under backup.sources.memory. */
export interface MemorySourceConfig {
  /** Tiers exported (each needs its store's source). @default all three */
  readonly tiers: readonly MemoryTier[];
  /** The {tier} part of working memory's Redis keys `memory:{tier}:{id}`. @default "generic" (the NCA's) */
  readonly workingNamespace: string;
  /** MongoDB collection of episodic memories in sources.mongodb.database. @default "ltm_memories" (the NCA's) */
  readonly episodicCollection: string;
}

/** What the memory component receives at run time: its own settings plus the stores it reads. */
export interface MemoryRuntimeSource extends MemorySourceConfig {
  readonly redis?: RedisSourceConfig;
  readonly mongodb?: MongoSourceConfig;
  readonly vector?: VectorSourceConfig;
}

export const memoryDescriptor = describeComponent({
  name: 'memory',
  group: 'memory_tiers',
  source: {
    parse(value, { path, issues, sources }): MemorySourceConfig | undefined {
      const map = mapping(value, path, ['tiers', 'working_namespace', 'episodic_collection'], issues);
      if (!map) return undefined;
      let tiers: MemoryTier[] | undefined = [...MEMORY_TIERS];
      if ('tiers' in map) {
        const values = list(map.tiers, `${path}.tiers`, issues, `tiers (${MEMORY_TIERS.join(', ')})`);
        const parsed = values?.map((v, i) => oneOf(v, `${path}.tiers[${i}]`, issues, MEMORY_TIERS));
        tiers = parsed && parsed.every((t) => t !== undefined) ? [...new Set(parsed as MemoryTier[])] : undefined;
      }
      for (const tier of tiers ?? []) {
        if (!(TIER_SOURCE[tier] in sources)) {
          issues.add(`${path}.tiers`, `the ${tier} tier needs backup.sources.${TIER_SOURCE[tier]} (its store's connection); add it or leave ${tier} out of tiers`);
        }
      }
      const workingNamespace =
        'working_namespace' in map
          ? matching(map.working_namespace, `${path}.working_namespace`, issues, /^[A-Za-z0-9_-]{1,64}$/, 'a key namespace like generic (letters, digits, _ -)')
          : DEFAULT_WORKING_NAMESPACE;
      const episodicCollection =
        'episodic_collection' in map
          ? matching(map.episodic_collection, `${path}.episodic_collection`, issues, COLLECTION_NAME, 'a collection name (no $, not system.*)')
          : DEFAULT_EPISODIC_COLLECTION;
      if (tiers === undefined || workingNamespace === undefined || episodicCollection === undefined) return undefined;
      return { tiers, workingNamespace, episodicCollection };
    },
    runtime(sources: ParsedSources): MemoryRuntimeSource | undefined {
      const memory = sources.memory as MemorySourceConfig | undefined;
      if (!memory) return undefined;
      const stores = Object.fromEntries(Object.values(TIER_SOURCE).flatMap((store) => (sources[store] ? [[store, sources[store]]] : [])));
      return { ...memory, ...stores };
    },
    secretArns(sources: ParsedSources): string[] {
      const tiers = (sources.memory as MemorySourceConfig | undefined)?.tiers ?? [];
      const arns = tiers.map((tier) => (sources[TIER_SOURCE[tier]] as { secretArn?: string } | undefined)?.secretArn);
      return [...new Set(arns.filter((arn): arn is string => !!arn))];
    },
  },
  restore: {
    parseOptions: parseMemoryRestoreOptions,
    // No targets: it takes no target of its own (retarget accepts only its backed-up name); its stores are the configured sources.
    flags: { tiers: { key: 'tiers', list: true, value: 'working,episodic,semantic' } },
  },
});
