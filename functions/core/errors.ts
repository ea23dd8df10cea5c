/**
 * Typed errors. Each carries what an operator needs to act: the component, the backup id and what to
 * do next. `name` becomes the Step Functions error name (Lambda's errorType), the message its cause.
 */
export interface ErrorContext {
  readonly component?: string;
  readonly backupId?: string;
  /** What to do next, in one sentence. */
  readonly hint?: string;
}

export class NcaBackupError extends Error {
  readonly component?: string;
  readonly backupId?: string;
  readonly hint?: string;

  constructor(message: string, context: ErrorContext = {}) {
    const where = [context.component, context.backupId].filter(Boolean).join(' ');
    super(`${where ? `${where}: ` : ''}${message}${context.hint ? ` ${context.hint}` : ''}`);
    this.name = new.target.name;
    this.component = context.component;
    this.backupId = context.backupId;
    this.hint = context.hint;
  }
}

/** The input names something that does not exist or is not allowed: an unknown component, a bad option. */
export class InvalidInputError extends NcaBackupError {}

/** No backup with a manifest matches the requested id (or there is none at all for `latest`). */
export class BackupNotFoundError extends NcaBackupError {}

/** An artifact's bytes do not match the SHA-256 or size in its manifest. */
export class IntegrityError extends NcaBackupError {}

/** Source and target (or tool and server) versions cannot work together. */
export class VersionMismatchError extends NcaBackupError {}

/** The restored target's fingerprint differs from the one recorded at backup time. */
export class VerificationError extends NcaBackupError {}

/** A failure worth retrying: connection reset, throttling, a server starting up. */
export class TransientError extends NcaBackupError {}

/** An external tool (pg_dump, pg_restore) exited non-zero; the message carries its stderr tail. */
export class ToolError extends NcaBackupError {}
