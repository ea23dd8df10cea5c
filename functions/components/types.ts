import type { RestoreTargetOptions } from '../../config/component';
import type { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ComponentName, GroupName, RuntimeSources } from '../../config/types';
import type { Room } from './room';

/** One stored file of a backup, as recorded in its manifest. */
export interface ArtifactRecord {
  /** File name inside the backup, e.g. "neuroca_db.dump". */
  readonly name: string;
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the stored bytes. */
  readonly sha256: string;
  readonly contentType: string;
}

/**
 * Content-addressed blobs a component shares across its backups (the models component), in the vault under
 * `blobs/<component>/` (config/vault-layout.ts). Written once per content and never deleted by a worker:
 * the janitor prunes the ones no manifest references. The component copies into and out of them itself
 * (server-side copies between a source bucket and the vault), with the vault's client and encryption.
 */
export interface BlobStore {
  /** The vault's S3 client (the worker's credentials reach the source buckets as well). */
  readonly client: S3Client;
  readonly bucket: string;
  /** The vault prefix ("" or "backups/"): a restore refuses destinations inside it. */
  readonly prefix: string;
  /** SSE-KMS with the vault's key: every write into the vault carries it. */
  readonly encryption: { readonly ServerSideEncryption: 'aws:kms'; readonly SSEKMSKeyId: string; readonly BucketKeyEnabled: boolean };
  /** The full key of a blob. */
  key(algorithm: string, digest: string): string;
  /** A scratch key of this backup (`_staging/<backup id>/<name>` under the component's prefix), deletable by the worker. */
  stagingKey(name: string): string;
}

/** Multipart part size and parts in flight of one upload (core/storage.ts). */
export interface UploadBudget {
  readonly partSizeBytes?: number;
  readonly queueSize?: number;
}

/** Where a component's backup writes its artifacts. Each write streams; nothing is held whole in memory. */
export interface ArtifactSink {
  /** The backup being written (a component that binds its artifacts to it, e.g. an encryption context, needs it). */
  readonly backupId?: string;
  /**
   * `upload`: a smaller multipart budget for one artifact, where a component writes several at once and
   * their parts in flight would otherwise add up (the vault's defaults apply to what is left out).
   */
  write(name: string, body: Readable, options?: { contentType?: string; upload?: UploadBudget }): Promise<ArtifactRecord>;
  /** The component's blobs (components that deduplicate across backups). */
  readonly blobs?: BlobStore;
  /**
   * The latest trusted backup of this component, read like a restore reads it, or undefined when none: what a
   * deduplicating backup compares with. Its `chain()` is every trusted backup of the component (the latest
   * is the highest id), what an incremental backup finds its start in.
   */
  previous?(): Promise<ArtifactSource | undefined>;
}

/** What the manifest says about the backup being restored, for checks a restore makes before it changes the target. */
export interface BackupFacts {
  readonly backupId: string;
  /** The fingerprint recorded at backup time: a staged restore is compared with it before it replaces the target. */
  readonly fingerprint: Fingerprint;
  readonly source: SourceInfo;
}

/** Where a restore reads artifacts from. Streams fail with IntegrityError when bytes do not match the manifest. */
export interface ArtifactSource {
  readonly artifacts: readonly ArtifactRecord[];
  open(name: string): Readable;
  /** The manifest's facts; absent only where a test hands a component bare artifacts. */
  readonly backup?: BackupFacts;
  /** The component's blobs (components that deduplicate across backups). */
  readonly blobs?: BlobStore;
  /**
   * The component's trusted backups up to and including this one, oldest first, each read like this one
   * (safety backups left out): what a restore that spans backups reads (the logs component's chain of
   * incremental windows). Absent where a test hands a component bare artifacts.
   */
  chain?(): Promise<readonly ArtifactSource[]>;
}

/** Counts and content digests per object (table, collection, key space), equal after a faithful restore. */
export interface FingerprintEntry {
  readonly count: number;
  readonly digest: string;
}
export type Fingerprint = Record<string, FingerprintEntry>;

/** What was backed up from, recorded in the manifest and checked before a restore. */
export interface SourceInfo {
  /** Server version string, e.g. "15.18". */
  readonly serverVersion: string;
  readonly serverMajor: number;
  /** Version of the dump tool or format that produced the artifacts, when one is involved. */
  readonly toolVersion?: string;
  readonly toolMajor?: number;
  /** The database (or equivalent) that was backed up. */
  readonly database: string;
  readonly [extra: string]: unknown;
}

export interface Consistency {
  /** True when every artifact and the fingerprint come from one snapshot of the source. */
  readonly pointInTime: boolean;
  /** How that was achieved, e.g. "exported snapshot shared by pg_dump and the fingerprint". */
  readonly method: string;
}

export interface ComponentBackupResult {
  readonly artifacts: readonly ArtifactRecord[];
  readonly fingerprint: Fingerprint;
  readonly source: SourceInfo;
  readonly consistency: Consistency;
  /** Component-specific facts for the manifest's `report` (skipped keys, cross-tier consistency, ...). */
  readonly report?: Record<string, unknown>;
}

export interface ComponentRestoreResult {
  /** The database (or equivalent) written to. */
  readonly target: string;
  /** False when the target did not exist and was created by the restore. */
  readonly replacedExisting: boolean;
  /** Component-specific counts for the execution output (keys skipped as expired, documents inserted, ...). */
  readonly details?: Record<string, unknown>;
}

/** What a compatibility check found: the target's version, and whether it has room for the backup. */
export interface CompatibilityResult {
  readonly targetVersion: string;
  readonly room: Room;
}

/** Progress lines go to a logger, never to stdout (stdout carries the CLI's JSON result). */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The component contract (DESIGN.md). `Target` is a resolved connection to a live store;
 * how one is made from backup.yaml and the environment is the component's `connect`.
 */
export interface Component<Target, RestoreOptions = Record<string, unknown>> {
  readonly name: ComponentName;
  readonly group: GroupName;
  /** Versions and the database name of a live target, as recorded in manifests. */
  describe(target: Target): Promise<SourceInfo>;
  /** Bytes a backup will read; cheap (catalog queries). */
  estimate(target: Target): Promise<number>;
  /** Streams the target into artifacts through the sink; fingerprint taken at the same point in time. */
  backup(target: Target, sink: ArtifactSink, log: Logger): Promise<ComponentBackupResult>;
  fingerprint(target: Target): Promise<Fingerprint>;
  /**
   * Throws VersionMismatchError when artifacts recorded with `source` cannot be restored into `target`, and
   * InsufficientSpaceError when the target clearly has no room for them (room.ts); otherwise returns the
   * target's version and what it found about the room. Works before the target database exists; writes nothing.
   */
  checkCompatibility(source: SourceInfo, target: Target, options?: RestoreOptions): Promise<CompatibilityResult>;
  /** True when the restore target already holds data that a restore would replace (decides the safety backup). */
  targetExists(target: Target): Promise<boolean>;
  restore(source: ArtifactSource, target: Target, options: RestoreOptions, log: Logger): Promise<ComponentRestoreResult>;
  /**
   * Post-restore verification when comparing `fingerprint(target)` with the manifest's cannot apply as it is
   * (a merge restore leaves other keys in place; keys that expired since the backup are rightly absent) or
   * is not enough (vectors compared bit for bit). Absent: the engine compares the two fingerprints.
   */
  verifyRestore?(expected: Fingerprint, source: ArtifactSource, target: Target, options: RestoreOptions, log: Logger): Promise<RestoreVerification>;
  /**
   * The structure check of a stored backup without a target (the scheduled integrity check): parses what it
   * can of the artifacts (an archive's table of contents, every line of a JSON Lines file) and throws
   * IntegrityError naming the artifact when they are not what the manifest says. Absent: only sizes and
   * SHA-256 are checked.
   */
  inspect?(source: ArtifactSource): Promise<void>;
  /**
   * Removes the target and everything in it: a restore drill's sandbox when the drill ends. Only ever called
   * on a sandbox the drill checked is not the production target (core/drill.ts). Absent: not drillable yet.
   */
  dropTarget?(target: Target): Promise<void>;
  /**
   * Creates an empty target where the restore needs one to exist before it writes (a drill's scratch
   * database for memory's semantic tier); called only on a sandbox, before its restore. Absent: the restore
   * creates what it needs.
   */
  prepareTarget?(target: Target): Promise<void>;
}

/** What a component's own post-restore verification found; any difference fails the restore. */
export interface RestoreVerification {
  /** Objects (tables, key types, collections, tiers) that differ, each with what was expected and found. */
  readonly differences: readonly { readonly object: string; readonly expected?: FingerprintEntry; readonly actual?: FingerprintEntry; readonly problem?: string }[];
  /** How many objects were compared. */
  readonly objects: number;
  readonly details?: Record<string, unknown>;
}

/** Restore options an operator can pass, the same for every component that supports them. */
export type { RestoreTargetOptions } from '../../config/component';

/**
 * What each component's folder hands the registry (components/index.ts): the component, how to connect to
 * it, and how a restore request redirects it to another target.
 */
export interface ComponentEntry<Target, Options extends RestoreTargetOptions = RestoreTargetOptions, N extends ComponentName = ComponentName> {
  readonly component: Component<Target, Options>;
  connect(source: RuntimeSources[N], env: NodeJS.ProcessEnv): Promise<Target>;
  /** The target a restore with these options writes to; InvalidInputError when the options cannot name one. */
  retarget(target: Target, options: RestoreTargetOptions): Target;
}

/**
 * A restore drill's sandbox as a component's drill module describes it (core/drill.ts runs it): how the
 * result names it, the runtime source it is reached with, and the restore input that writes there.
 */
export interface DrillSandbox {
  readonly name: string;
  /** Production's runtime source, with what makes it the sandbox changed. */
  readonly source: unknown;
  /** The restore input's targetDatabase. @default the backed-up one */
  readonly targetDatabase?: string;
  /** The restore input's options. @default none */
  readonly options?: Record<string, unknown>;
  /** The environment the sandbox is connected with. @default the drill's */
  readonly env?: NodeJS.ProcessEnv;
}

/** What a drill's sample read found: what it read, or why nothing could be read. */
export type DrillSampleResult = { readonly read: string } | { readonly problem: string };
