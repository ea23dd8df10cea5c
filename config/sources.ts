/**
 * What each configured component needs at run time from `backup.sources`: its own settings, plus, for the
 * memory-tier export, the settings of the stores it reads. Shared by the deployed runtime config and local runs.
 */
import { TIER_SOURCE, type BackupConfig, type ComponentName, type MemoryRuntimeSource, type RuntimeSources } from './types';

/** `url` is for local runs only: a deployed worker connects through the secret. */
function withoutUrl<T extends { url?: string }>(source: T): Omit<T, 'url'> {
  const { url: _url, ...rest } = source;
  return rest;
}

export function runtimeSource<N extends ComponentName>(config: BackupConfig, name: N, options: { keepUrls: boolean }): RuntimeSources[N] | undefined {
  const sources = config.sources;
  const strip = <T extends { url?: string }>(s: T | undefined) => (s === undefined ? undefined : options.keepUrls ? s : withoutUrl(s));
  if (name === 'memory') {
    if (!sources.memory) return undefined;
    const memory: MemoryRuntimeSource = {
      ...sources.memory,
      ...(sources.redis ? { redis: strip(sources.redis) } : {}),
      ...(sources.mongodb ? { mongodb: strip(sources.mongodb) } : {}),
      ...(sources.vector ? { vector: strip(sources.vector) } : {}),
    } as MemoryRuntimeSource;
    return memory as RuntimeSources[N];
  }
  return strip(sources[name as Exclude<ComponentName, 'memory'>]) as RuntimeSources[N] | undefined;
}

/** The Secrets Manager secrets a component's worker reads: its own, or for memory those of the stores of its tiers. */
export function secretArnsOf(config: BackupConfig, name: ComponentName): string[] {
  const sources = config.sources;
  if (name === 'memory') {
    const tiers = sources.memory?.tiers ?? [];
    return [...new Set(tiers.map((tier) => sources[TIER_SOURCE[tier]]?.secretArn).filter((arn): arn is string => !!arn))];
  }
  const arn = sources[name]?.secretArn;
  return arn ? [arn] : [];
}
