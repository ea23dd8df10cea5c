/**
 * The models component's settings as parsed (the runbook's model weights: fine-tuned weights, checkpoint
 * states, training artifacts). Pure types and the one parser of a location, shared by the descriptor (the
 * configuration and the control plane) and the engine.
 */

/** Where models live: an S3 prefix (its bytes are copied server-side) or a directory (local runs, EFS on Fargate). */
export type ModelsLocation =
  | { readonly kind: 's3'; readonly bucket: string; /** "" or ending in "/". */ readonly prefix: string }
  | { readonly kind: 'directory'; /** Absolute, without a trailing slash (except "/"). */ readonly path: string };

/** backup.sources.models. */
export interface ModelsSourceConfig {
  /** The locations backed up, each as written in backup.yaml (`s3://bucket/prefix/` or `/abs/dir`), parsed. */
  readonly paths: readonly ModelsLocation[];
  /** Globs over a file's path relative to its location (`*` within a segment, `**` across). @default ["**"] */
  readonly include: readonly string[];
  /** Globs of files left out, e.g. `*.tmp`, `runs/** /events.out.*`. @default [] */
  readonly exclude: readonly string[];
}

/** Restore options of the models component, checked (options.ts). */
export interface ModelsRestoreOptions {
  /** Globs over the backed-up paths (relative to their location) restored. @default every file */
  readonly paths?: readonly string[];
  /** Restore into this location instead of the original ones; each file at `<target>/<relative path>`. @default the original locations */
  readonly target?: ModelsLocation;
}

/** A location as written: `s3://bucket/prefix/` or `/abs/dir`. */
export function locationUrl(location: ModelsLocation): string {
  return location.kind === 's3' ? `s3://${location.bucket}/${location.prefix}` : location.path;
}
