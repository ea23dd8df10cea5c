/**
 * Typed errors. Each carries what an operator needs to act: the component, the backup id and what to
 * do next. `name` becomes the Step Functions error name (Lambda's errorType), the message its cause.
 *
 * Every class sets its name as a string literal, never from the constructor: bundlers minify class
 * names, and a renamed class would reach the execution as "t" and match no ErrorEquals.
 */
export interface ErrorContext {
  readonly component?: string;
  readonly backupId?: string;
  /** What to do next, in one sentence. */
  readonly hint?: string;
}

export class NcaBackupError extends Error {
  override name = 'NcaBackupError';
  readonly component?: string;
  readonly backupId?: string;
  readonly hint?: string;

  constructor(message: string, context: ErrorContext = {}) {
    const where = [context.component, context.backupId].filter(Boolean).join(' ');
    super(`${where ? `${where}: ` : ''}${message}${context.hint ? ` ${context.hint}` : ''}`);
    this.component = context.component;
    this.backupId = context.backupId;
    this.hint = context.hint;
  }
}

/** The input names something that does not exist or is not allowed: an unknown component, a bad option. */
export class InvalidInputError extends NcaBackupError {
  override name = 'InvalidInputError';
}

/** No backup with a manifest matches the requested id (or there is none at all for `latest`). */
export class BackupNotFoundError extends NcaBackupError {
  override name = 'BackupNotFoundError';
}

/** An artifact's bytes do not match the SHA-256 or size in its manifest. */
export class IntegrityError extends NcaBackupError {
  override name = 'IntegrityError';
}

/** Source and target (or tool and server) versions cannot work together. */
export class VersionMismatchError extends NcaBackupError {
  override name = 'VersionMismatchError';
}

/**
 * The restore target clearly has no room for the backup (disk, or Redis maxmemory), checked before anything
 * is written; the message carries both figures.
 */
export class InsufficientSpaceError extends NcaBackupError {
  override name = 'InsufficientSpaceError';
}

/** The restored target's fingerprint differs from the one recorded at backup time. */
export class VerificationError extends NcaBackupError {
  override name = 'VerificationError';
}

/** A failure worth retrying: connection reset, throttling, a server starting up. */
export class TransientError extends NcaBackupError {
  override name = 'TransientError';
}

/** An external tool (pg_dump, pg_restore) exited non-zero; the message carries its stderr tail. */
export class ToolError extends NcaBackupError {
  override name = 'ToolError';
}

/** The vault refused a request for lack of permission (IAM, bucket policy, KMS key policy). */
export class AccessDeniedError extends NcaBackupError {
  override name = 'AccessDeniedError';
}

/** The vault failed a request in a way a retry will not fix (no such bucket, bad request). */
export class StorageError extends NcaBackupError {
  override name = 'StorageError';
}

/** Another backup or restore of the same component holds its operation lock. */
export class OperationInProgressError extends NcaBackupError {
  override name = 'OperationInProgressError';
}

/** A Fargate task stopped without storing a result (killed, out of memory, failed to start). */
export class TaskStoppedError extends NcaBackupError {
  override name = 'TaskStoppedError';
}

/** A command line process ran out of work without its command having produced a result. */
export class NoResultError extends NcaBackupError {
  override name = 'NoResultError';
}

/**
 * A system recovery point (backup group all) lacks a component that failed to back up: not restorable as a
 * whole unless forced, which restores the components it holds and lists the missing ones.
 */
export class IncompleteRecoveryPointError extends NcaBackupError {
  override name = 'IncompleteRecoveryPointError';
}

/**
 * A backup on Lambda reached its deadline (the invocation's remaining time minus the safety margin) and was
 * stopped: its own objects are deleted and no manifest was written. The backup state machine catches this name
 * and reruns the component on Fargate under the same backup id.
 */
export class LambdaTimeLimitError extends NcaBackupError {
  override name = 'LambdaTimeLimitError';
}
