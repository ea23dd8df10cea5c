/**
 * What each tier module (working.ts, episodic.ts, semantic.ts) offers the backup and restore: a reader
 * that turns its store into entries (portable items, and native records of what the store holds), and
 * a stager that writes them where nothing is visible until `commit` (a Redis MULTI, a MongoDB staging
 * collection, a PostgreSQL transaction), so a damaged artifact in any tier leaves every tier as it was.
 */
import type { MemoryTier } from './tiers';
import type { ExportHeader, TierLine } from './format';

/** One line of a tier export after the header, as format.ts reads and writes it. */
export type { TierLine } from './format';

/** What a source yields: a line, and what the fingerprint adds for it. */
export type TierEntry = TierLine & {
  /**
   * What the store holds, for the fingerprint: a record's bytes or value digest. Items of tiers without
   * records (semantic) leave it out and are fingerprinted as items.
   */
  readonly stored?: string | Buffer;
  /** Absolute deadline (Unix ms) after which this entry's key is gone from the store (working tier). */
  readonly expireAt?: number;
};

export interface TierSource {
  readonly tier: MemoryTier;
  /** The store's server version, e.g. "7.0.15". */
  readonly version: string;
  /** The header's `source`: the store and how it lays the tier out. */
  readonly description: Record<string, unknown>;
  /** A dimension the store declares (pgvector's vector(n)); null when only the items tell. */
  readonly declaredDimension: number | null;
  readonly read: { readonly snapshot: boolean; readonly method: string };
  /** Entries in store order; each read once even when the store's iteration repeats one. */
  entries(): AsyncIterable<TierEntry>;
  /** Facts known after reading, for the report (items that vanished while read, a missing table, ...). */
  facts(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface StageResult {
  readonly items: number;
  readonly [detail: string]: unknown;
}

export interface TierStager {
  readonly tier: MemoryTier;
  /** Whether the store held items of this tier before the restore (the restore replaces them). */
  readonly hadItems: boolean;
  /** The embedding dimension the target held before the restore (semantic only; null when unknown or empty). */
  readonly targetDimension?: number | null;
  /**
   * Writes the tier out of sight: the native records when the export has them and the store can take
   * them, else the portable items; throws (leaving the store as it was after `abort`) on any failure.
   */
  stage(header: ExportHeader, lines: AsyncIterable<TierLine>): Promise<StageResult>;
  /** Makes the staged items the tier's content, replacing what was there. */
  commit(): Promise<void>;
  /** Drops what was staged; safe to call after a failed stage or commit, and more than once. */
  abort(): Promise<void>;
}
