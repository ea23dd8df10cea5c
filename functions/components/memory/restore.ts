/**
 * The restore: the chosen tiers (options.tiers, default every tier in the backup) are checked before
 * anything is written, then staged side by side out of sight (Redis MULTI, MongoDB staging collection,
 * PostgreSQL transaction) while their artifacts stream and are verified, and committed only when every
 * tier staged cleanly. A damaged artifact, a bad item or a refused write in any tier therefore leaves
 * every tier as it was.
 *
 * The commits themselves (COMMIT, renameCollection, EXEC) are three separate operations on three servers:
 * if one fails after another succeeded, the error names the tiers already replaced.
 */
import { MEMORY_TIERS, type MemoryTier } from './tiers';
import { InvalidInputError, NcaBackupError, ToolError, TransientError, VersionMismatchError } from '../../core/errors';
import type { ArtifactSource, ComponentRestoreResult, Fingerprint, FingerprintEntry, Logger, RestoreVerification, SourceInfo } from '../types';
import { checkedItem, digestEntry, openTierSources } from './backup';
import { TierStats } from './consistency';
import { artifactName, COMPONENT, FORMAT, FORMAT_VERSION, TierReader, type ExportHeader } from './format';
import { ItemDigest, type JsonObject } from './item';
import { parseTiers } from './options';
import { tierFailure, type MemoryTarget } from './connection';
import type { StageResult, TierLine, TierStager } from './tier';
import { openWorkingStager, workingStored } from './working';
import { openEpisodicStager } from './episodic';
import { checkDimensions, checkSemanticDimension, openSemanticStager } from './semantic';

export function tiersInBackup(source: ArtifactSource): MemoryTier[] {
  return MEMORY_TIERS.filter((tier) => source.artifacts.some((a) => a.name === artifactName(tier)));
}

/** The tiers a restore writes, refused before anything is written when the backup or the target lacks one. */
export function restoreTiers(available: readonly MemoryTier[], target: MemoryTarget, options: { tiers?: unknown }): MemoryTier[] {
  const tiers = options.tiers === undefined ? [...available] : parseTiers(options.tiers);
  if (tiers.length === 0) throw new InvalidInputError('the backup holds no memory tier artifact.', { component: COMPONENT });
  for (const tier of tiers) {
    if (!available.includes(tier)) {
      throw new InvalidInputError(`options.tiers: the backup holds no ${tier} tier (it has ${available.join(', ') || 'none'}).`, {
        component: COMPONENT,
        hint: `Restore only tiers the backup has, or pick a backup taken with ${tier} in sources.memory.tiers.`,
      });
    }
    if (!target.tiers.includes(tier)) {
      throw new InvalidInputError(`options.tiers: ${tier} is not configured for the restore target (sources.memory.tiers is ${target.tiers.join(', ')}).`, {
        component: COMPONENT,
        hint: `Add ${tier} and its store to backup.yaml, or leave it out of options.tiers.`,
      });
    }
  }
  return tiers;
}

/** Backups this code reads, and the semantic dimension guard (only when the semantic tier is restored). */
export async function checkMemoryCompatibility(source: SourceInfo, target: MemoryTarget, tiers?: readonly MemoryTier[]): Promise<{ targetVersion: string }> {
  const version = Number(source.formatVersion ?? source.serverMajor);
  if (source.format !== undefined && source.format !== FORMAT) {
    throw new VersionMismatchError(`the backup's format is ${String(source.format)}, not ${FORMAT}.`, { component: COMPONENT });
  }
  if (!(version <= FORMAT_VERSION)) {
    throw new VersionMismatchError(`the backup is ${FORMAT} version ${version}; this nca-backup reads version ${FORMAT_VERSION} and older.`, {
      component: COMPONENT,
      hint: 'Restore with the nca-backup release that wrote the backup, or a newer one.',
    });
  }
  // A tier the backup or the target lacks is refused here, before the safety backup and any write.
  if (Array.isArray(source.tiers)) restoreTiers(source.tiers as MemoryTier[], target, { tiers });
  const semantic = source.semantic as { dimension?: number | null } | undefined;
  const restoresSemantic = (tiers ?? (source.tiers as MemoryTier[] | undefined) ?? []).includes('semantic');
  if (restoresSemantic && target.semantic) await checkSemanticDimension(target.semantic, semantic?.dimension ?? null);
  return { targetVersion: `${FORMAT} ${FORMAT_VERSION}` };
}

function openStager(target: MemoryTarget, tier: MemoryTier): Promise<TierStager> {
  if (tier === 'working') return openWorkingStager(target.working!);
  if (tier === 'episodic') return openEpisodicStager(target.episodic!);
  return openSemanticStager(target.semantic!);
}

/** The artifact's lines, items shape-checked and counted, stopping when another tier failed. */
async function* linesOf(reader: TierReader, stats: TierStats, stop: AbortSignal): AsyncGenerator<TierLine> {
  for await (const line of reader.lines()) {
    if (stop.aborted) throw stop.reason;
    if (line.item) stats.add(checkedItem(reader.tier, line.item));
    yield line;
  }
}

/** What a failed commit left in each tier: the operator must know which stores changed. */
function committedState(committed: readonly MemoryTier[], tiers: readonly MemoryTier[], failed: MemoryTier): string {
  const untouched = tiers.filter((t) => !committed.includes(t) && t !== failed);
  const replaced = committed.length > 0 ? `Tiers ${committed.join(', ')} already hold the backup's items; ` : 'No tier was replaced; ';
  return `${replaced}the ${failed} tier${untouched.length > 0 ? ` and ${untouched.join(', ')}` : ''} still hold what they held before this restore.`;
}

/**
 * What is safe after a failed commit. Never "restore the safety backup" over the stores: it holds what
 * they held before this restore, possibly the very damage the restore was meant to repair.
 */
function commitFailureHint(transient: boolean): string {
  const repeat = transient
    ? 'Repeating this restore once the store is reachable again is safe: it replaces each chosen tier whole.'
    : 'Repeating this restore fails the same way until the cause above is fixed; it replaces each chosen tier whole once it is.';
  return `${repeat} The safety backup taken before this restore keeps the earlier state for inspection; do not restore it over these stores.`;
}

/** The first failure to report: a damaged artifact explains the others (they were stopped because of it). */
function firstFailure(failures: unknown[]): unknown {
  return failures.find((f) => f instanceof NcaBackupError && f.name === 'IntegrityError') ?? failures.find((f) => f instanceof NcaBackupError) ?? failures[0];
}

export async function restoreMemory(source: ArtifactSource, target: MemoryTarget, options: { tiers?: unknown }, log: Logger): Promise<ComponentRestoreResult> {
  const tiers = restoreTiers(tiersInBackup(source), target, options);
  const opened = await Promise.allSettled(tiers.map((tier) => openStager(target, tier)));
  const stagers = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const openFailure = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (openFailure) {
    await Promise.all(stagers.map((s) => s.abort()));
    throw openFailure.reason;
  }

  const stop = new AbortController();
  const readers: TierReader[] = [];
  const stats = new Map<MemoryTier, TierStats>();
  const staged = await Promise.allSettled(
    stagers.map(async (stager): Promise<StageResult> => {
      const name = artifactName(stager.tier);
      const reader = new TierReader(() => source.open(name), stager.tier, name);
      readers.push(reader);
      const tierStats = new TierStats(stager.tier);
      stats.set(stager.tier, tierStats);
      try {
        const header = await reader.header();
        log.info('memory tier restore staging', { tier: stager.tier, exportedAt: header.exportedAt });
        return await stager.stage(header, linesOf(reader, tierStats, stop.signal));
      } catch (error) {
        const failure = tierFailure(target, stager.tier, error, `staging the ${stager.tier} tier`);
        stop.abort(failure);
        throw failure;
      }
    }),
  );
  const failures = staged.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  if (failures.length === 0 && stats.has('semantic')) {
    // The artifact's dimension is only known once read: refuse before committing anything.
    try {
      checkDimensions(target.semantic!, stats.get('semantic')!.dimension, stagers.find((s) => s.tier === 'semantic')!.targetDimension ?? null);
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) {
    readers.forEach((reader) => reader.close());
    await Promise.all(stagers.map((s) => s.abort()));
    log.warn('memory restore rolled back: no tier was changed', { tiers });
    throw firstFailure(failures);
  }

  // Commit order: the PostgreSQL transaction first (it can still refuse), then the rename, then EXEC.
  const committed: MemoryTier[] = [];
  const order = (['semantic', 'episodic', 'working'] as const).filter((t) => tiers.includes(t));
  for (const tier of order) {
    const stager = stagers.find((s) => s.tier === tier)!;
    try {
      await stager.commit();
      committed.push(tier);
    } catch (error) {
      await Promise.all(stagers.filter((s) => !committed.includes(s.tier)).map((s) => s.abort()));
      // The commit touches only the store: its driver's classifier decides whether a retry may pass.
      const cause = tierFailure(target, tier, error, `committing the ${tier} tier`, true) as Error;
      const Failure = cause.name === 'TransientError' ? TransientError : cause.name === 'InvalidInputError' ? InvalidInputError : ToolError;
      const reason = cause.message.replace(new RegExp(`^${COMPONENT}: `), '');
      throw new Failure(`committing the ${tier} tier failed: ${reason} ${committedState(committed, tiers, tier)}`, {
        component: COMPONENT,
        hint: commitFailureHint(Failure === TransientError),
      });
    }
  }
  const details: Record<string, unknown> = {};
  tiers.forEach((tier, i) => (details[tier] = (staged[i] as PromiseFulfilledResult<StageResult>).value));
  log.info('memory restore committed', { tiers });
  return {
    target: `memory tiers ${tiers.join(', ')}`,
    replacedExisting: stagers.some((s) => s.hadItems),
    details: { tiers: details },
  };
}

/** Live fingerprint of tiers (default all configured): what the stores hold, digested as a backup digests it. */
export async function fingerprintMemory(target: MemoryTarget, tiers: readonly MemoryTier[] = target.tiers): Promise<Fingerprint> {
  const sources = await openTierSources(target, tiers);
  try {
    const entries = await Promise.all(
      sources.map(async (s) => {
        const digest = new ItemDigest();
        try {
          for await (const entry of s.entries()) digestEntry(digest, s.tier, entry);
        } catch (error) {
          throw tierFailure(target, s.tier, error, `taking the ${s.tier} tier's fingerprint`);
        }
        return [s.tier, digest.entry()] as const;
      }),
    );
    return Object.fromEntries(entries);
  } finally {
    await Promise.all(sources.map((s) => s.close()));
  }
}

const same = (a?: FingerprintEntry, b?: FingerprintEntry) => a !== undefined && b !== undefined && a.count === b.count && a.digest === b.digest;

/** What the fingerprint added for a record line of an export, recomputed from the record alone. */
function storedOf(tier: MemoryTier, header: ExportHeader, record: JsonObject): string | Buffer {
  if (tier === 'episodic') return Buffer.from(String(record.bson), 'base64');
  return workingStored(record.type, record.digest, record.expireAt, header.source.exactExpiry);
}

/** A line's (or live entry's) deadline: a record's key or an item's hash key. */
const deadlineOf = (line: TierLine & { expireAt?: number }) => line.expireAt ?? (line.record ? (line.record.expireAt as number | undefined) : line.item.native?.expireAt);

/**
 * A tier's digest leaving out what has expired by `cutoff`; `legacy` digests items as version 1 exports
 * did (their manifests hold such fingerprints).
 */
async function aliveDigest(tier: MemoryTier, lines: AsyncIterable<TierLine & { stored?: string | Buffer; expireAt?: number }>, cutoff: number, legacy: boolean, header?: ExportHeader): Promise<FingerprintEntry> {
  const digest = new ItemDigest();
  for await (const line of lines) {
    const deadline = deadlineOf(line);
    if (deadline !== undefined && deadline <= cutoff) continue;
    if (legacy) {
      if (line.item) digest.add(line.item);
    } else if (line.record && line.stored === undefined) {
      digest.addStored(storedOf(tier, header!, line.record));
    } else digestEntry(digest, tier, line);
  }
  return digest.entry();
}

/**
 * Compares only the restored tiers (the others were not touched). Working memory expires by design: when
 * its fingerprint differs, keys and items whose deadline has passed by now are left out on both sides, the
 * backup's (from the artifact) and the store's, and the rest must match exactly. A version 1 export's
 * fingerprint covered items only: the store is then compared item by item with the artifact.
 */
export async function verifyMemoryRestore(expected: Fingerprint, source: ArtifactSource, target: MemoryTarget, options: { tiers?: unknown }): Promise<RestoreVerification> {
  const tiers = restoreTiers(tiersInBackup(source), target, options);
  const actual = await fingerprintMemory(target, tiers);
  const differences: { object: string; expected?: FingerprintEntry; actual?: FingerprintEntry; problem?: string }[] = [];
  const details: Record<string, unknown> = {};
  for (const tier of tiers) {
    if (same(expected[tier], actual[tier])) continue;
    const reader = new TierReader(() => source.open(artifactName(tier)), tier, artifactName(tier));
    const header = await reader.header();
    const legacy = header.version < 2;
    if (tier !== 'working' && !legacy) {
      reader.close();
      differences.push({ object: tier, expected: expected[tier], actual: actual[tier] });
      continue;
    }
    const cutoff = Date.now();
    const [store] = await openTierSources(target, [tier]);
    let live: FingerprintEntry;
    try {
      live = await aliveDigest(tier, store.entries(), cutoff, legacy);
    } finally {
      await store.close();
    }
    const backedUp = await aliveDigest(tier, reader.lines(), cutoff, legacy, header);
    if (same(backedUp, live)) {
      if (tier === 'working') details.working = { expiredSinceBackup: (expected.working?.count ?? 0) - backedUp.count };
      continue;
    }
    differences.push({ object: tier, expected: backedUp, actual: live, problem: tier === 'working' ? 'differs even leaving out keys expired since the backup' : 'differs from the version 1 export item by item' });
  }
  return { differences, objects: tiers.length, details };
}
