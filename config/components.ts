/**
 * Every component, as the descriptor its folder exports (config/component.ts): adding a component is
 * its folder, one line here and its entry in functions/components/index.ts (the compiler refuses one
 * without the other). Everything else that lists components is derived from this list: the keys of
 * `backup.sources`, the groups, what each worker receives and reads, the CLI's restore flags and usage,
 * the restore-option checks of the control plane.
 */
import type { ComponentDescriptor, GrantScope, ParsedSources, RestoreFlag, WorkerGrant } from './component';
import type { GroupName } from './groups';
import { configDescriptor } from '../functions/components/config/descriptor';
import { logsDescriptor } from '../functions/components/logs/descriptor';
import { memoryDescriptor } from '../functions/components/memory/descriptor';
import { modelsDescriptor } from '../functions/components/models/descriptor';
import { mongodbDescriptor } from '../functions/components/mongodb/descriptor';
import { postgresDescriptor } from '../functions/components/postgres/descriptor';
import { redisDescriptor } from '../functions/components/redis/descriptor';
import { vectorDescriptor } from '../functions/components/vector/descriptor';

export const COMPONENTS = [postgresDescriptor, redisDescriptor, mongodbDescriptor, vectorDescriptor, memoryDescriptor, configDescriptor, modelsDescriptor, logsDescriptor] as const;

type Descriptor = (typeof COMPONENTS)[number];
export type ComponentName = Descriptor['name'];
type DescriptorOf<N extends ComponentName> = Extract<Descriptor, { name: N }>;

/** A component's `backup.sources` section, parsed. */
export type SourceConfigOf<N extends ComponentName> = DescriptorOf<N> extends ComponentDescriptor<N, infer S, unknown> ? S : never;
/** What a component's worker receives at run time (names and ARNs, never a secret). */
export type RuntimeSourceOf<N extends ComponentName> = DescriptorOf<N> extends ComponentDescriptor<N, unknown, infer R> ? R : never;

export type SourcesConfig = { readonly [N in ComponentName]?: SourceConfigOf<N> };
export type RuntimeSources = { readonly [N in ComponentName]: RuntimeSourceOf<N> };

/** Components the engine knows, with the group whose schedule and retention they follow. */
export const COMPONENT_GROUP = Object.fromEntries(COMPONENTS.map((d) => [d.name, d.group])) as Readonly<Record<ComponentName, GroupName>>;

/** Any list of descriptors: COMPONENTS, or in a test COMPONENTS plus one more. */
export type Components = readonly ComponentDescriptor<string, any, any>[];

export function isComponentName(value: unknown, components: Components = COMPONENTS): value is ComponentName {
  return typeof value === 'string' && components.some((d) => d.name === value);
}

export function descriptorOf(name: string, components: Components = COMPONENTS): ComponentDescriptor<string, any, any> | undefined {
  return components.find((d) => d.name === name);
}

/** Whether component `name` keeps content-addressed blobs in the vault (descriptor `storesBlobs`). */
export function storesBlobs(name: string, components: Components = COMPONENTS): boolean {
  return descriptorOf(name, components)?.storesBlobs === true;
}

/** `url` is for local runs only: a deployed worker connects through the secret. */
function withoutUrls(sources: ParsedSources): ParsedSources {
  return Object.fromEntries(
    Object.entries(sources).map(([name, section]) => {
      if (typeof section !== 'object' || section === null || !('url' in section)) return [name, section];
      const { url: _url, ...rest } = section as Record<string, unknown>;
      return [name, rest];
    }),
  );
}

/** What component `name`'s worker receives at run time; undefined when backup.yaml does not configure it. */
export function runtimeSourceOf(sources: ParsedSources, name: string, options: { keepUrls: boolean }, components: Components = COMPONENTS): unknown {
  const descriptor = descriptorOf(name, components);
  if (!descriptor || sources[name] === undefined) return undefined;
  const seen = options.keepUrls ? sources : withoutUrls(sources);
  return descriptor.source.runtime ? descriptor.source.runtime(seen) : seen[name];
}

/** The Secrets Manager secrets component `name`'s worker reads. */
export function secretArnsOfComponent(sources: ParsedSources, name: string, components: Components = COMPONENTS): string[] {
  const descriptor = descriptorOf(name, components);
  if (!descriptor) return [];
  if (descriptor.source.secretArns) return descriptor.source.secretArns(sources);
  const arn = (sources[name] as { secretArn?: string } | undefined)?.secretArn;
  return arn ? [arn] : [];
}

/** What component `name`'s worker must be allowed on its sources (descriptor `grants`); none when not configured. */
export function workerGrantsOfComponent(sources: ParsedSources, name: string, scope: GrantScope, components: Components = COMPONENTS): readonly WorkerGrant[] {
  const descriptor = descriptorOf(name, components);
  const section = sources[name];
  if (!descriptor?.source.grants || section === undefined) return [];
  return descriptor.source.grants(section, scope);
}

/** What component `name`'s drill worker must be allowed on its drills' sandboxes (descriptor `drillGrants`); none when not configured. */
export function drillGrantsOfComponent(sources: ParsedSources, name: string, scope: GrantScope, components: Components = COMPONENTS): readonly WorkerGrant[] {
  const descriptor = descriptorOf(name, components);
  const section = sources[name];
  if (!descriptor?.source.drillGrants || section === undefined) return [];
  return descriptor.source.drillGrants(section, scope);
}

/** Every ARN the configured `backup.sources` sections name, each with its full field path. */
export function sourceArns(sources: ParsedSources, components: Components = COMPONENTS): { path: string; arn: string }[] {
  return components.flatMap((descriptor) => {
    const section = sources[descriptor.name];
    if (section === undefined) return [];
    const own = (section as { secretArn?: string }).secretArn;
    const arns = descriptor.source.arns ? descriptor.source.arns(section) : own ? [{ field: 'secret_arn', arn: own }] : [];
    return arns.map(({ field, arn }) => ({ path: `backup.sources.${descriptor.name}.${field}`, arn }));
  });
}

/** A restore flag with the components that take it. */
export interface RestoreFlagUse extends RestoreFlag {
  readonly components: readonly string[];
}

/**
 * Every component's restore flags, by flag name. A flag two components share must set the same key the
 * same way: one command line cannot mean two things.
 */
export function restoreFlags(components: Components = COMPONENTS): ReadonlyMap<string, RestoreFlagUse> {
  const flags = new Map<string, RestoreFlagUse>();
  for (const descriptor of components) {
    for (const [flag, use] of Object.entries(descriptor.restore.flags ?? {})) {
      const known = flags.get(flag);
      if (known && (known.key !== use.key || !!known.list !== !!use.list)) {
        throw new Error(`restore flag --${flag}: ${descriptor.name} sets ${use.key}, ${known.components.join(', ')} set ${known.key}`);
      }
      flags.set(flag, { ...use, components: [...(known?.components ?? []), descriptor.name] });
    }
  }
  return flags;
}
