/**
 * One backup exports every configured tier at one recovery point: a single exportedAt, every store's
 * snapshot opened together before any item is read (PostgreSQL REPEATABLE READ, a MongoDB snapshot
 * session on a replica set; Redis has none), then the tiers stream concurrently, each into its own
 * artifact. The fingerprint is computed from exactly the records written (what the stores hold: key
 * values and deadlines, BSON bytes; semantic rows as items), the consistency report from the items. A
 * tier with no memory is reported as a warning (report.warnings and the log); a configured collection
 * or table that does not exist fails the backup, naming it.
 *
 * Consistency, honestly: each snapshot is consistent within its store, but three servers share no
 * snapshot, so `pointInTime` is true only for a backup of a single tier read at a snapshot. With several
 * tiers, a write that reaches two stores while the snapshots open can show in one tier and not the other
 * (the cross-tier report would list it as an orphan).
 */
import { MEMORY_TIERS, type MemoryTier } from './tiers';
import { InvalidInputError } from '../../core/errors';
import type { ArtifactRecord, ArtifactSink, ComponentBackupResult, FingerprintEntry, Logger, SourceInfo } from '../types';
import { crossTierReport, TierStats, type TierReport } from './consistency';
import { artifactName, COMPONENT, CONTENT_TYPE, FORMAT, FORMAT_VERSION, TierWriter } from './format';
import { canonicalJson } from '../../core/canonical-json';
import { ItemDigest, shapeProblem } from './item';
import { tierFailure, type MemoryTarget } from './connection';
import type { TierEntry, TierSource } from './tier';
import { openWorkingSource, WORKING_NORMALISES, WORKING_RECORDS } from './working';
import { EPISODIC_NORMALISES, EPISODIC_RECORDS, openEpisodicSource } from './episodic';
import { openSemanticSource, SEMANTIC_NORMALISES, tableLabel } from './semantic';
import { qualifiedName } from '../vector/names';

export const MEMORY_DATABASE = 'memory-tiers';

const STORE_NAME: Record<MemoryTier, string> = { working: 'redis', episodic: 'mongodb', semantic: 'postgresql' };

/** What each tier's records are and how its items normalise, for the export header (none: items only). */
const TIER_EXPORT: Record<MemoryTier, { records?: string; normalises: readonly string[] }> = {
  working: { records: WORKING_RECORDS, normalises: WORKING_NORMALISES },
  episodic: { records: EPISODIC_RECORDS, normalises: EPISODIC_NORMALISES },
  semantic: { normalises: SEMANTIC_NORMALISES },
};

/** A backup (`forBackup`) refuses a collection or table that does not exist; a fingerprint reads it as empty. */
export function openTierSource(target: MemoryTarget, tier: MemoryTier, forBackup = false): Promise<TierSource> {
  if (tier === 'working') return openWorkingSource(target.working!);
  if (tier === 'episodic') return openEpisodicSource(target.episodic!, forBackup);
  return openSemanticSource(target.semantic!, forBackup);
}

/** Opens every tier's source together (their snapshots start side by side); closes the opened ones if one fails. */
export async function openTierSources(target: MemoryTarget, tiers: readonly MemoryTier[], forBackup = false): Promise<TierSource[]> {
  const opened = await Promise.allSettled(tiers.map((tier) => openTierSource(target, tier, forBackup)));
  const failure = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all(opened.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
    const tier = tiers[opened.indexOf(failure)];
    throw tierFailure(target, tier, failure.reason, `opening the ${tier} tier`);
  }
  return opened.map((r) => (r as PromiseFulfilledResult<TierSource>).value);
}

/**
 * Adds a source's entry to a tier digest: records by what is stored, items counted (tiers with records),
 * or items by their canonical text (tiers without records: the item is the row).
 */
export function digestEntry(digest: ItemDigest, tier: MemoryTier, entry: TierEntry, text?: string): void {
  if (entry.record) digest.addStored(entry.stored!);
  else if (TIER_EXPORT[tier].records !== undefined) digest.countItem();
  else digest.addText(text ?? canonicalJson(entry.item));
}

/** The item the store gave us, checked: a shape error fails the backup naming tier and id. */
export function checkedItem<T extends { id: string }>(tier: MemoryTier, item: T): T {
  const problem = shapeProblem(item);
  if (problem) {
    throw new InvalidInputError(`${tier} item ${item.id} ${problem}: it cannot be exported faithfully.`, {
      component: COMPONENT,
      hint: `Fix or delete the item in ${STORE_NAME[tier]}; the store's own component backup keeps it as it is.`,
    });
  }
  return item;
}

interface TierExport {
  readonly tier: MemoryTier;
  readonly artifact: ArtifactRecord;
  readonly fingerprint: FingerprintEntry;
  readonly stats: TierStats;
  readonly source: TierSource;
}

async function exportTier(source: TierSource, sink: ArtifactSink, exportedAt: string, stop: AbortSignal, log: Logger): Promise<TierExport> {
  const { tier } = source;
  const writer = new TierWriter(tier);
  const written = sink.write(artifactName(tier), writer.body, { contentType: CONTENT_TYPE });
  writer.watch(written);
  const stats = new TierStats(tier, source.declaredDimension);
  const digest = new ItemDigest();
  try {
    await writer.header({ format: FORMAT, version: FORMAT_VERSION, tier, exportedAt, source: source.description, ...TIER_EXPORT[tier] });
    for await (const entry of source.entries()) {
      if (stop.aborted) throw stop.reason;
      if (entry.record) {
        await writer.record(entry.record);
        digestEntry(digest, tier, entry);
        continue;
      }
      checkedItem(tier, entry.item);
      stats.add(entry.item);
      digestEntry(digest, tier, entry, await writer.item(entry.item));
    }
    await writer.end();
  } catch (error) {
    // The artifact must not be completed: a failed body makes the sink discard the upload.
    writer.fail(error as Error);
    await written.catch(() => undefined);
    throw error;
  }
  const artifact = await written;
  log.info('memory tier exported', { tier, items: digest.count, bytes: artifact.bytes });
  return { tier, artifact, fingerprint: digest.entry(), stats, source };
}

/** Where a tier's items were read from, for the empty-tier warning. */
function tierPlace(target: MemoryTarget, tier: MemoryTier): string {
  if (tier === 'working') return `Redis keys memory:${target.working!.namespace}:* in database ${target.working!.redis.db}`;
  if (tier === 'episodic') return `MongoDB collection ${target.episodic!.database}.${target.episodic!.collection}`;
  return `table ${tableLabel(target.semantic!)}`;
}

export function serverVersion(versions: Partial<Record<MemoryTier, string>>): string {
  return MEMORY_TIERS.filter((tier) => versions[tier] !== undefined)
    .map((tier) => `${STORE_NAME[tier]} ${versions[tier]}`)
    .join(' / ');
}

/** SourceInfo's per-store facts, shared by describe() and backup(). */
export function sourceInfo(
  target: MemoryTarget,
  versions: Partial<Record<MemoryTier, string>>,
  dimensions: Partial<Record<MemoryTier, number | null>>,
  semanticExtra: Record<string, unknown> = {},
): SourceInfo {
  const info: Record<string, unknown> = {
    serverVersion: serverVersion(versions),
    serverMajor: FORMAT_VERSION,
    database: MEMORY_DATABASE,
    format: FORMAT,
    formatVersion: FORMAT_VERSION,
    tiers: [...target.tiers],
    embeddingDimension: dimensions.semantic ?? dimensions.episodic ?? dimensions.working ?? null,
  };
  if (target.working) {
    info.redisVersion = versions.working;
    info.working = { namespace: target.working.namespace, db: target.working.redis.db, dimension: dimensions.working ?? null };
  }
  if (target.episodic) {
    info.mongodbVersion = versions.episodic;
    info.episodic = { database: target.episodic.database, collection: target.episodic.collection, dimension: dimensions.episodic ?? null };
  }
  if (target.semantic) {
    info.postgresqlVersion = versions.semantic;
    info.semantic = {
      database: target.semantic.database,
      table: qualifiedName(target.semantic),
      dimension: dimensions.semantic ?? null,
      ...semanticExtra,
    };
  }
  return info as SourceInfo;
}

export async function backupMemory(target: MemoryTarget, sink: ArtifactSink, log: Logger): Promise<ComponentBackupResult> {
  const exportedAt = new Date().toISOString();
  const started = Date.now();
  const sources = await openTierSources(target, target.tiers, true);
  const openedWithinMs = Date.now() - started;
  log.info('memory export started', { tiers: target.tiers, exportedAt });
  const stop = new AbortController();
  let exports: TierExport[];
  try {
    const settled = await Promise.allSettled(
      sources.map((source) =>
        exportTier(source, sink, exportedAt, stop.signal, log).catch((error) => {
          const failure = tierFailure(target, source.tier, error, `exporting the ${source.tier} tier`);
          stop.abort(failure);
          throw failure;
        }),
      ),
    );
    const failure = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
    exports = settled.map((r) => (r as PromiseFulfilledResult<TierExport>).value);
  } finally {
    await Promise.all(sources.map((source) => source.close()));
  }

  const byTier = new Map(exports.map((e) => [e.tier, e]));
  const tiers: Record<string, TierReport> = {};
  const warnings: string[] = [];
  for (const e of exports) {
    const facts = e.source.facts();
    // A misnamed namespace matches nothing: a backup of 0 items must not look healthy.
    if (e.fingerprint.count === 0) {
      const warning = `the ${e.tier} tier is empty: no memory was found in ${tierPlace(target, e.tier)}. Check the configuration if memories were expected there.`;
      warnings.push(warning);
      facts.warning = warning;
      log.warn('memory tier is empty', { tier: e.tier, where: tierPlace(target, e.tier) });
    }
    tiers[e.tier] = e.stats.report(e.source.read, facts);
  }
  const episodic = byTier.get('episodic');
  const semantic = byTier.get('semantic');
  const crossTier =
    episodic && semantic
      ? crossTierReport(episodic.stats.ids, semantic.stats.ids)
      : { skipped: 'the orphan check needs both the episodic and the semantic tier' };

  const snapshots = exports.every((e) => e.source.read.snapshot);
  const methods = exports.map((e) => `${e.tier}: ${e.source.read.method}`).join('; ');
  const consistency = {
    pointInTime: exports.length === 1 && snapshots,
    method:
      exports.length === 1
        ? methods
        : `one exportedAt (${exportedAt}), the stores' reads opened within ${openedWithinMs} ms of each other; ${methods}. ` +
          'The stores share no snapshot: a write reaching several tiers while the reads open can appear in one tier only.',
  };

  const versions: Partial<Record<MemoryTier, string>> = {};
  const dimensions: Partial<Record<MemoryTier, number | null>> = {};
  for (const e of exports) {
    versions[e.tier] = e.source.version;
    dimensions[e.tier] = e.stats.dimension;
  }
  const semanticFacts = semantic ? { embeddingType: semantic.source.description.embeddingType, idType: semantic.source.description.idType } : {};
  return {
    artifacts: MEMORY_TIERS.filter((t) => byTier.has(t)).map((t) => byTier.get(t)!.artifact),
    fingerprint: Object.fromEntries(MEMORY_TIERS.filter((t) => byTier.has(t)).map((t) => [t, byTier.get(t)!.fingerprint])),
    source: sourceInfo(target, versions, dimensions, semanticFacts),
    consistency,
    report: {
      format: FORMAT,
      version: FORMAT_VERSION,
      exportedAt,
      ...(warnings.length > 0 ? { warnings } : {}),
      tiers,
      crossTier,
      limits:
        'Orphans are found with the episodic and semantic ids held in memory (about 100-150 bytes per id); examples are the smallest ids, at most 20 per finding.',
    },
  };
}
