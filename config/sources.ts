/**
 * What each configured component needs at run time from `backup.sources`: its own settings, plus what
 * its descriptor adds (the memory-tier export: the settings of the stores it reads). Shared by the
 * deployed runtime config and local runs.
 */
import { runtimeSourceOf, secretArnsOfComponent } from './components';
import type { BackupConfig, ComponentName, RuntimeSources } from './types';

export function runtimeSource<N extends ComponentName>(config: BackupConfig, name: N, options: { keepUrls: boolean }): RuntimeSources[N] | undefined {
  return runtimeSourceOf(config.sources, name, options) as RuntimeSources[N] | undefined;
}

/** The Secrets Manager secrets a component's worker reads: its own, or for memory those of the stores of its tiers. */
export function secretArnsOf(config: BackupConfig, name: ComponentName): string[] {
  return secretArnsOfComponent(config.sources, name);
}
