/**
 * What a component tells the rest of the system about itself, apart from its drivers: its name and
 * group, how its `backup.sources` section is read, what its worker receives at run time, and how a
 * restore of it is asked for (options, flags, targets it refuses). Each component's folder exports one
 * (`functions/components/<name>/descriptor.ts`) and config/components.ts lists them; the loader's keys,
 * the CLI's flags and usage and the restore-option checks are derived from that list. A descriptor is
 * pure: the control plane and the CDK app load it, and neither may bundle a database driver.
 */
import type { GroupName } from './groups';
import type { Issues, Mapping } from './fields';

/** The restore options every component takes. */
export interface RestoreTargetOptions {
  /** Restore into this database (or Redis database index) instead of the one backed up. */
  readonly targetDatabase?: string;
}

/** Checks the raw `options` object; throws InvalidInputError naming `options.<field>` and what is allowed. */
export type RestoreOptionsParser = (raw: Record<string, unknown>) => Record<string, unknown>;

/**
 * Which restore targets a component refuses on its own: the server's system databases, each with why, and
 * how the server compares names (a configured protected target matches the way the server would).
 */
export interface RestoreTargetRules {
  readonly systemDatabases: Readonly<Record<string, string>>;
  /** The form in which two target names are the same database; absent: as written. */
  readonly targetKey?: (name: string) => string;
}

/** A command-line flag of `nca-backup restore` that sets one key of the component's options. */
export interface RestoreFlag {
  /** The options key it sets, e.g. "keyPattern" for --key-pattern. */
  readonly key: string;
  /** Comma-separated on the command line, a list in the options. @default false */
  readonly list?: boolean;
  /** What the usage shows as its value, e.g. "replace|merge". */
  readonly value: string;
}

/** Where a component's `backup.sources` section is read, and the rest of the file around it. */
export interface SourceContext {
  /** The section's path, e.g. "backup.sources.redis": every problem is recorded under it. */
  readonly path: string;
  readonly issues: Issues;
  /** The whole `backup.sources` mapping as written (the memory export reads which stores are configured). */
  readonly sources: Mapping;
}

/** An ARN a `backup.sources` section names, and its field under the section. */
export interface SourceArn {
  readonly field: string;
  readonly arn: string;
}

/** Where a worker's grants apply: the primary region and the deploying account and partition (CDK tokens in a stack). */
export interface GrantScope {
  readonly partition: string;
  readonly account: string;
  readonly region: string;
}

/**
 * One IAM statement a component's worker needs on its sources, beyond the vault and the secrets it connects
 * with, as data: the CDK app turns it into a policy statement on both of the worker's roles.
 */
export interface WorkerGrant {
  /** The statement id: letters and digits. */
  readonly sid: string;
  readonly actions: readonly string[];
  readonly resources: readonly string[];
  readonly conditions?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /**
   * Why a wildcard in `resources` is as narrow as IAM allows; recorded for cdk-nag. Required when a resource
   * holds `*`.
   */
  readonly wildcardReason?: string;
}

/** The parsed `backup.sources`, by component name, as a descriptor sees the others' sections. */
export type ParsedSources = Readonly<Record<string, unknown>>;

export interface ComponentDescriptor<Name extends string = string, Source = unknown, Runtime = Source> {
  /** Its name: the `backup.sources` key, the CLI's component argument, its folder in the vault. */
  readonly name: Name;
  /** The runbook group whose schedule and retention it follows. */
  readonly group: GroupName;
  /**
   * It keeps content-addressed blobs shared by its backups under `<vault prefix>blobs/<name>/`
   * (config/vault-layout.ts blobPrefix), outside its group's prefix: its worker may read and write there, the
   * group's lifecycle expiry does not reach them, and the janitor prunes the unreferenced ones under the
   * component's operation lock. @default false
   */
  readonly storesBlobs?: boolean;
  readonly source: {
    /** Reads `backup.sources.<name>`; records every problem in `context.issues`; undefined when any. */
    parse(value: unknown, context: SourceContext): Source | undefined;
    /** Its settings when backup.yaml has no `backup.sources` at all. @default not configured */
    readonly whenNoSources?: Source;
    /**
     * What its worker receives at run time, from every parsed section (each without `url` in a deployed
     * worker). @default its own section
     */
    runtime?(sources: ParsedSources): Runtime | undefined;
    /** The Secrets Manager secrets its worker reads. @default its own section's secretArn */
    secretArns?(sources: ParsedSources): string[];
    /**
     * Every ARN its section names, each with its field under the section (e.g. "secret_arn",
     * "secrets[1]"): the loader checks that each is in the primary region and not a documentation example.
     * @default its secretArn, as the field secret_arn
     */
    arns?(source: Source): readonly SourceArn[];
    /**
     * What its worker must be allowed on the systems it backs up and restores besides reading its secrets
     * (the configuration component: its Parameter Store paths, secrets and files). @default none
     */
    grants?(source: Source, scope: GrantScope): readonly WorkerGrant[];
    /**
     * What its drill worker must be allowed on a restore drill's sandbox, and nothing of production: a
     * component with `grants` is drilled by a worker without them (infra/constructs/workers.ts), whose drill
     * writes only under the `nca-drill` names its drill.ts chooses. @default none
     */
    drillGrants?(source: Source, scope: GrantScope): readonly WorkerGrant[];
  };
  readonly restore: {
    readonly parseOptions: RestoreOptionsParser;
    /** Targets it refuses besides the configured protected ones. @default none (it takes no target of its own) */
    readonly targets?: RestoreTargetRules;
    /** Flags of `nca-backup restore`, by flag name without the dashes. @default none */
    readonly flags?: Readonly<Record<string, RestoreFlag>>;
  };
}

/** Declares a descriptor with its types inferred (`as const` would make its fields readonly literals). */
export function describeComponent<const Name extends string, Source, Runtime = Source>(
  descriptor: ComponentDescriptor<Name, Source, Runtime>,
): ComponentDescriptor<Name, Source, Runtime> {
  return descriptor;
}
