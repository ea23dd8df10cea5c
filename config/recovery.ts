/**
 * backup.recovery: what the recovery stack's restore plane (infra/stacks/recovery-stack.ts) restores into when
 * the primary region is gone. Per component, the connection of its target in the recovery region
 * (`sources.<component>`: only connection fields, e.g. the secret of a database restored or running there),
 * and the network its workers run in (`network`, the shape of backup.network). Nothing in that path may depend
 * on a resource of the primary region: a secret or host of another region than the recovery region is refused.
 *
 * A component without an entry gets no worker there and cannot be restored from the recovery region. There is
 * no default: the component's primary-region secret names a server in the region that is down, and whether a
 * replica of that secret exists, and what server it names, is not something synth can know.
 */
import type { Components } from './components';
import { isMapping, mapping, regionOfArn, show, type Issues, type Mapping } from './fields';
import type { BackupConfig, ComponentName, CreatedNetworkConfig, NetworkConfig, RecoveryConfig, SourcesConfig, StorageLocation } from './types';

export type { RecoveryConfig };

/**
 * The fields of a component's section that say where its server is and how to log in: all that
 * backup.recovery.sources may set. The rest (database, key patterns, collections) is what was backed up and
 * comes from backup.sources. Components not listed have no server to connect to: their targets are AWS
 * resources of the primary region (parameters, buckets, log groups) or, for memory, the other stores' servers.
 */
export const RECOVERY_CONNECTION_FIELDS: Readonly<Partial<Record<ComponentName, readonly string[]>>> = {
  postgres: ['secret_arn', 'host', 'port', 'url'],
  redis: ['secret_arn', 'url'],
  mongodb: ['secret_arn', 'url'],
  vector: ['secret_arn', 'host', 'port', 'url'],
};

type NetworkParser<T> = (value: unknown, issues: Issues, path: string) => T | undefined;

export interface RecoveryContext {
  readonly issues: Issues;
  /** backup.sources as written (each override replaces the connection fields of its section). */
  readonly sources: Mapping;
  /** Whether backup.sources parsed without a problem: otherwise its own issues say what is wrong, not repeated here. */
  readonly sourcesValid: boolean;
  readonly primary?: StorageLocation;
  readonly secondary?: StorageLocation;
  readonly components: Components;
  /** load.ts's readers of backup.network, for the same shape under backup.recovery.network. */
  readonly parseNetwork: NetworkParser<NetworkConfig>;
  readonly parseCreatedNetwork: NetworkParser<CreatedNetworkConfig>;
}

const PATH = 'backup.recovery';

export function parseRecovery(value: unknown, context: RecoveryContext): RecoveryConfig | undefined {
  const { issues, primary, secondary } = context;
  const map = mapping(value, PATH, ['sources', 'network'], issues);
  if (!map) return undefined;
  const before = issues.list.length;
  const restorable = Object.keys(RECOVERY_CONNECTION_FIELDS);
  const overrides = mapping(map.sources, `${PATH}.sources`, context.components.map((d) => d.name), issues) ?? {};
  if (Object.keys(overrides).length === 0) {
    issues.add(`${PATH}.sources`, `is required: the connection of at least one component's target in the recovery region (${restorable.join(', ')}), e.g. postgres: {secret_arn: …}`);
  }
  const sources: Record<string, unknown> = {};
  for (const [name, override] of Object.entries(overrides)) {
    const path = `${PATH}.sources.${name}`;
    const fields = RECOVERY_CONNECTION_FIELDS[name as ComponentName];
    if (!fields) {
      issues.add(
        path,
        `${name} cannot be restored from the recovery region: its targets are AWS resources of the primary region (backup.sources.${name}), not a server to connect to; allowed: ${restorable.join(', ')}`,
      );
      continue;
    }
    if (!(name in context.sources)) {
      issues.add(path, `${name} is not configured under backup.sources; only a configured component's backups can be restored`);
      continue;
    }
    const connection = mapping(override, path, fields, issues);
    if (!connection || !context.sourcesValid) continue;
    if (!('secret_arn' in connection) && !('url' in connection)) {
      issues.add(`${path}.secret_arn`, `is required: the Secrets Manager secret (in ${secondary?.region ?? 'the recovery region'}) of the ${name} server the recovery workers restore into`);
      continue;
    }
    const written = context.sources[name];
    const kept = isMapping(written) ? Object.fromEntries(Object.entries(written).filter(([key]) => !fields.includes(key))) : {};
    const merged = { ...kept, ...connection };
    const descriptor = context.components.find((d) => d.name === name)!;
    const parsed = descriptor.source.parse(merged, { path, issues, sources: { ...context.sources, [name]: merged } });
    if (parsed === undefined) continue;
    if (secondary && primary) refusePrimaryRegion(connection, path, primary.region, secondary.region, issues);
    sources[name] = parsed;
  }
  const network = 'network' in map ? context.parseNetwork(map.network, issues, `${PATH}.network`) : undefined;
  const createdNetwork = context.parseCreatedNetwork(map.network, issues, `${PATH}.network`);
  const zones = network?.availabilityZones ?? [];
  const region = secondary?.region;
  const foreign = region ? zones.filter((z) => !z.startsWith(region) || !/^[a-z]$/.test(z.slice(region.length))) : [];
  if (foreign.length > 0) issues.add(`${PATH}.network.availability_zones`, `${foreign.join(', ')} not in ${region}; the recovery workers run in the recovery region`);
  if (issues.list.length > before) return undefined;
  return { sources: sources as SourcesConfig, ...(network ? { network } : {}), ...(createdNetwork ? { createdNetwork } : {}) };
}

/** Nothing in the recovery path may depend on the primary region: its secret and its host must be of the recovery region. */
function refusePrimaryRegion(connection: Mapping, path: string, primaryRegion: string, recoveryRegion: string, issues: Issues): void {
  const arn = connection.secret_arn;
  if (typeof arn === 'string' && regionOfArn(arn.trim()) !== recoveryRegion) {
    const where = regionOfArn(arn.trim()) === primaryRegion ? `the primary region ${primaryRegion}` : regionOfArn(arn.trim());
    issues.add(
      `${path}.secret_arn`,
      `is in ${where}; the recovery workers read secrets of ${recoveryRegion} only (nothing in the recovery path may depend on a resource of the primary region): name a secret in ${recoveryRegion}, e.g. the replica of the primary's (same name)`,
    );
  }
  const host = connection.host;
  if (typeof host === 'string' && host.includes(`.${primaryRegion}.`)) {
    issues.add(`${path}.host`, `${show(host)} is in the primary region ${primaryRegion}; name the server the recovery workers restore into, in ${recoveryRegion}`);
  }
}

/**
 * backup.yaml as the restore plane of the recovery stack sees it: the recovery vault in the place of the
 * primary (storage.secondary's bucket and region, with the primary's prefix, which replicas keep), the
 * components of backup.recovery.sources with their recovery-region connections, the recovery network, and no
 * data key (the replica key encrypts the recovery vault). Everything the stacks derive from
 * `storage.primary` (bucket ARNs, key prefixes, the region of grants and of the runtime config) then names
 * the recovery vault and region. Undefined without backup.recovery.
 */
export function restorePlaneConfig(config: BackupConfig): BackupConfig | undefined {
  const { recovery } = config;
  if (!recovery) return undefined;
  const { primary, secondary } = config.storage;
  const vault: StorageLocation = { ...secondary, prefix: primary.prefix };
  const { network: _network, createdNetwork: _created, recovery: _recovery, ...rest } = config;
  return {
    ...rest,
    storage: { ...config.storage, primary: vault, secondary: vault },
    encryption: { enabled: true, keyManagement: 'kms' },
    sources: recovery.sources,
    ...(recovery.network ? { network: recovery.network } : {}),
    ...(recovery.createdNetwork ? { createdNetwork: recovery.createdNetwork } : {}),
  };
}
