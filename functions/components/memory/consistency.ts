/**
 * The cross-tier consistency report of a backup (the manifest's `report`): per tier its item count,
 * embedding dimension and the items that differ from it, and the items breaking the NCA's model rules;
 * across tiers the semantic vectors without an episodic memory and the reverse.
 *
 * Limit: finding orphans holds the ids of the episodic and semantic tiers in memory (a Set each, about
 * 100-150 bytes per id), about 0.5-1 GB for a few million memories per tier. That fits the workers for
 * the NCA's sizes; far larger tiers would need an external sort.
 */
import type { MemoryTier } from './tiers';
import { modelProblems, type MemoryItem } from './item';

/** Example ids shown per finding. */
export const EXAMPLE_LIMIT = 20;

export interface Examples<T> {
  readonly count: number;
  readonly examples: readonly T[];
}

export interface TierReport {
  readonly items: number;
  readonly withEmbedding: number;
  /** The tier's dimension: the store's declared one (a pgvector column), else the most common; null without embeddings. */
  readonly dimension: number | null;
  readonly dimensionSource: 'declared' | 'most common' | 'none';
  /** Items whose embedding has another length than `dimension`. */
  readonly dimensionMismatches: Examples<{ id: string; dimension: number }>;
  /** Items breaking the NCA's model rules (exported as they are). */
  readonly modelViolations: Examples<{ id: string; problems: string[] }>;
  /** Items sharing an id with an earlier one (the NCA's LTM memory_id index is not unique): exported, and restored from native records. */
  readonly duplicateIds: Examples<string>;
  /** How the store was read: snapshot or not, and what that means. */
  readonly read: { readonly snapshot: boolean; readonly method: string };
  readonly [extra: string]: unknown;
}

/** The n smallest strings seen, so examples do not depend on the order a store returns items in. */
class SmallestIds {
  private readonly ids: string[] = [];
  constructor(private readonly limit = EXAMPLE_LIMIT) {}
  offer(id: string): void {
    if (this.ids.length === this.limit && id >= this.ids[this.ids.length - 1]) return;
    let i = this.ids.length;
    while (i > 0 && this.ids[i - 1] > id) i--;
    this.ids.splice(i, 0, id);
    if (this.ids.length > this.limit) this.ids.pop();
  }
  get values(): string[] {
    return [...this.ids];
  }
}

/** Collects one tier's facts while its items stream past. */
/** The most common embedding length of `counts` (length, how many), ties to the smaller; null when empty. */
export function mostCommonLength(counts: Iterable<readonly [number, number]>): number | null {
  let best: number | null = null;
  let bestCount = -1;
  for (const [length, count] of counts) {
    if (count > bestCount || (count === bestCount && best !== null && length < best)) {
      best = length;
      bestCount = count;
    }
  }
  return best;
}

export class TierStats {
  readonly ids = new Set<string>();
  private withEmbedding = 0;
  private readonly lengths = new Map<number, { count: number; examples: SmallestIds }>();
  private violations = 0;
  private readonly violationExamples: { id: string; problems: string[] }[] = [];
  private duplicates = 0;
  private readonly duplicateExamples = new SmallestIds();

  constructor(
    readonly tier: MemoryTier,
    private readonly declaredDimension: number | null = null,
  ) {}

  /** Records an item whose shape was checked; an id seen before is counted as a duplicate. */
  add(item: MemoryItem): void {
    if (this.ids.has(item.id)) {
      this.duplicates++;
      this.duplicateExamples.offer(item.id);
    }
    this.ids.add(item.id);
    if (Array.isArray(item.embedding)) {
      this.withEmbedding++;
      let entry = this.lengths.get(item.embedding.length);
      if (!entry) this.lengths.set(item.embedding.length, (entry = { count: 0, examples: new SmallestIds() }));
      entry.count++;
      entry.examples.offer(item.id);
    }
    const problems = modelProblems(item);
    if (problems.length > 0) {
      this.violations++;
      if (this.violationExamples.length < EXAMPLE_LIMIT) this.violationExamples.push({ id: item.id, problems });
    }
  }

  get items(): number {
    return this.ids.size + this.duplicates;
  }

  /** The declared dimension, else the most common embedding length (ties: the smaller). */
  get dimension(): number | null {
    if (this.declaredDimension !== null) return this.declaredDimension;
    return mostCommonLength([...this.lengths].map(([length, { count }]) => [length, count] as const));
  }

  report(read: TierReport['read'], extra: Record<string, unknown> = {}): TierReport {
    const dimension = this.dimension;
    let mismatched = 0;
    const examples: { id: string; dimension: number }[] = [];
    for (const [length, entry] of [...this.lengths].sort((a, b) => a[0] - b[0])) {
      if (length === dimension) continue;
      mismatched += entry.count;
      for (const id of entry.examples.values) if (examples.length < EXAMPLE_LIMIT) examples.push({ id, dimension: length });
    }
    return {
      items: this.items,
      withEmbedding: this.withEmbedding,
      dimension,
      dimensionSource: this.declaredDimension !== null ? 'declared' : dimension === null ? 'none' : 'most common',
      dimensionMismatches: { count: mismatched, examples },
      modelViolations: { count: this.violations, examples: this.violationExamples },
      duplicateIds: { count: this.duplicates, examples: this.duplicateExamples.values },
      read,
      ...extra,
    };
  }
}

export interface CrossTierReport {
  /** Semantic vectors whose id has no episodic memory. */
  readonly semanticWithoutEpisodic: Examples<string>;
  /** Episodic memories without a semantic vector. */
  readonly episodicWithoutSemantic: Examples<string>;
}

function missingFrom(ids: Set<string>, other: Set<string>): Examples<string> {
  let count = 0;
  const examples = new SmallestIds();
  for (const id of ids) {
    if (other.has(id)) continue;
    count++;
    examples.offer(id);
  }
  return { count, examples: examples.values };
}

export function crossTierReport(episodic: Set<string>, semantic: Set<string>): CrossTierReport {
  return { semanticWithoutEpisodic: missingFrom(semantic, episodic), episodicWithoutSemantic: missingFrom(episodic, semantic) };
}
