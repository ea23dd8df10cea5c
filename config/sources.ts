/**
 * What each configured component needs at run time from `backup.sources`: its own settings, plus what
 * its descriptor adds (the memory-tier export: the settings of the stores it reads). Shared by the
 * deployed runtime config and local runs.
 */
import type { GrantScope, WorkerGrant } from './component';
import { drillGrantsOfComponent, runtimeSourceOf, secretArnsOfComponent, workerGrantsOfComponent } from './components';
import type { BackupConfig, ComponentName, RuntimeSources } from './types';

export function runtimeSource<N extends ComponentName>(config: BackupConfig, name: N, options: { keepUrls: boolean }): RuntimeSources[N] | undefined {
  return runtimeSourceOf(config.sources, name, options) as RuntimeSources[N] | undefined;
}

/** The Secrets Manager secrets a component's worker reads: its own, or for memory those of the stores of its tiers. */
export function secretArnsOf(config: BackupConfig, name: ComponentName): string[] {
  return secretArnsOfComponent(config.sources, name);
}

/** What a component's worker must be allowed on the systems it backs up (its descriptor's grants). */
export function workerGrantsOf(config: BackupConfig, name: ComponentName, scope: GrantScope): readonly WorkerGrant[] {
  return workerGrantsOfComponent(config.sources, name, scope);
}

/** What a component's drill worker must be allowed on its drills' sandboxes (its descriptor's drillGrants). */
export function drillGrantsOf(config: BackupConfig, name: ComponentName, scope: GrantScope): readonly WorkerGrant[] {
  return drillGrantsOfComponent(config.sources, name, scope);
}
