/**
 * The memory component (memory_tiers group): the NCA's three memory tiers exported together into the
 * nca-memory-export format (format.ts), with a cross-tier consistency report. Each tier's file carries
 * the store's native records (what Redis and MongoDB hold, byte for byte, with absolute TTL deadlines)
 * beside portable items any tool can read: a restore into the stores the tier came from writes the
 * records, so it puts back exactly what was there; into another store it writes the items, normalised as
 * the file's header says. Fingerprints are taken over what is stored.
 */
import { MEMORY_TIERS, type MemoryTier } from './tiers';
import { InvalidInputError } from '../../core/errors';
import type { Component, SourceInfo } from '../types';
import type { ComponentEntry } from '../types';
import { backupMemory, MEMORY_DATABASE, sourceInfo } from './backup';
import { connectMemory, type MemoryTarget } from './connection';
import { COMPONENT } from './format';
import { checkMemoryCompatibility, fingerprintMemory, restoreMemory, verifyMemoryRestore } from './restore';
import { parseTiers, type MemoryRestoreOptions } from './options';
import { dropMemorySandbox, prepareMemorySandbox, semanticHoldsItems } from './drill';
import { workingEstimate, workingExists, workingVersion } from './working';
import { episodicEstimate, episodicExists, episodicVersion } from './episodic';
import { semanticDescription, semanticEstimate } from './semantic';
import { memoryRoom } from './room';

export { connectMemory, type MemoryTarget } from './connection';
export { parseMemoryRestoreOptions, type MemoryRestoreOptions } from './options';
export { artifactName, FORMAT, FORMAT_VERSION, CONTENT_TYPE } from './format';
export type { MemoryItem } from './item';

async function describeMemory(target: MemoryTarget): Promise<SourceInfo> {
  const versions: Partial<Record<MemoryTier, string>> = {};
  const dimensions: Partial<Record<MemoryTier, number | null>> = {};
  let semanticExtra: Record<string, unknown> = {};
  await Promise.all([
    target.working && workingVersion(target.working).then((v) => (versions.working = v)),
    target.episodic && episodicVersion(target.episodic).then((v) => (versions.episodic = v)),
    target.semantic &&
      semanticDescription(target.semantic).then((d) => {
        versions.semantic = d.version;
        dimensions.semantic = d.dimension;
        semanticExtra = { embeddingType: d.embeddingType };
      }),
  ]);
  return sourceInfo(target, versions, dimensions, semanticExtra);
}

const perTier = <T>(target: MemoryTarget, working: (w: NonNullable<MemoryTarget['working']>) => Promise<T>, episodic: (e: NonNullable<MemoryTarget['episodic']>) => Promise<T>, semantic: (s: NonNullable<MemoryTarget['semantic']>) => Promise<T>): Promise<T>[] =>
  MEMORY_TIERS.filter((tier) => target.tiers.includes(tier)).map((tier) =>
    tier === 'working' ? working(target.working!) : tier === 'episodic' ? episodic(target.episodic!) : semantic(target.semantic!),
  );

export const memory: Component<MemoryTarget, MemoryRestoreOptions> = {
  name: 'memory',
  group: 'memory_tiers',
  describe: describeMemory,
  estimate: async (target) => (await Promise.all(perTier(target, workingEstimate, episodicEstimate, semanticEstimate))).reduce((a, b) => a + b, 0),
  backup: backupMemory,
  fingerprint: (target) => fingerprintMemory(target),
  async checkCompatibility(source, target, options) {
    const tiers = options?.tiers === undefined ? undefined : parseTiers(options.tiers);
    const { targetVersion } = await checkMemoryCompatibility(source, target, tiers);
    const restored = (tiers ?? (Array.isArray(source.tiers) ? (source.tiers as MemoryTier[]) : target.tiers)).filter((tier) => target.tiers.includes(tier));
    return { targetVersion, room: await memoryRoom(target, restored) };
  },
  targetExists: async (target) => (await Promise.all(perTier(target, workingExists, episodicExists, semanticHoldsItems))).some(Boolean),
  restore: (source, target, options, log) => restoreMemory(source, target, options, log),
  verifyRestore: (expected, source, target, options) => verifyMemoryRestore(expected, source, target, options),
  /** A drill's sandbox: the working namespace's keys in the sandbox index, the episodic and semantic scratch databases. */
  dropTarget: dropMemorySandbox,
  prepareTarget: prepareMemorySandbox,
};

export const memoryEntry: ComponentEntry<MemoryTarget, MemoryRestoreOptions, 'memory'> = {
  component: memory,
  connect: (source, env) => connectMemory(source, env),
  // The tiers live in three stores: there is no one database to redirect a restore to.
  retarget: (target, options) => {
    if (options.targetDatabase === undefined || options.targetDatabase === MEMORY_DATABASE) return target;
    throw new InvalidInputError(`targetDatabase '${options.targetDatabase}' cannot apply to the memory tiers, which live in three stores.`, {
      component: COMPONENT,
      hint: 'Leave targetDatabase out; to restore elsewhere, point sources.redis, sources.mongodb and sources.vector at the other stores.',
    });
  },
};
