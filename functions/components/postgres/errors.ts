/**
 * The one retry classification for PostgreSQL failures, used by every component that talks to a
 * PostgreSQL server (postgres, vector). A failure is transient when trying again later, unchanged, may
 * succeed: the connection broke, the server is shutting down or starting, it has no free slot, or the
 * transaction lost a serialization race. Everything else (permissions, missing objects, bad data) fails
 * the same way on a retry and must reach the operator at once.
 */
import { InvalidInputError, NcaBackupError, TransientError } from '../../core/errors';

/** SQLSTATE classes whose every code is a connection failure (class 08: connection exception). */
const TRANSIENT_CLASSES = ['08'];

const TRANSIENT_SQLSTATES = new Set([
  '57P01', // admin_shutdown: the server (or pg_terminate_backend) ended the session
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now: the server is starting or in recovery
  '57P05', // idle_session_timeout
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '25P03', // idle_in_transaction_session_timeout
  '55P03', // lock_not_available (lock_timeout): the blocking transaction may end
]);

/** Socket failures of node-postgres and of Node itself: the network or the server went away. */
const TRANSIENT_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND']);

/** node-postgres reports a connection closed under it with these messages and no code. */
const TRANSIENT_MESSAGES = [/Connection terminated/i, /connection timeout/i, /Client was closed and is not queryable/i];

export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function isTransientPgError(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  if (error instanceof NcaBackupError) return false;
  const code = pgErrorCode(error);
  if (code !== undefined) {
    return TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET_CODES.has(code) || TRANSIENT_CLASSES.includes(code.slice(0, 2));
  }
  const message = (error as { message?: unknown } | undefined)?.message;
  return typeof message === 'string' && TRANSIENT_MESSAGES.some((pattern) => pattern.test(message));
}

export interface PgErrorContext {
  readonly component: string;
  readonly backupId?: string;
  readonly hint?: string;
}

/**
 * A server or socket failure in the component's words: our own typed errors pass unchanged; anything
 * the server or the network said (an SQLSTATE or socket code, a closed connection) names what was being
 * done and becomes TransientError (retried by the workflows) or, when a retry cannot help, InvalidInputError.
 */
export function classifyPgError(error: unknown, action: string, context: PgErrorContext): unknown {
  if (error instanceof NcaBackupError) return error;
  // Only what the server or the network said is classified; a programming or stream error (TypeError,
  // ERR_STREAM_*) keeps its own name: it is neither the server's nor the input's fault.
  const code = pgErrorCode(error);
  const fromServer = code !== undefined && /^[0-9A-Z]{5}$/.test(code);
  if (!fromServer && !isTransientPgError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const text = `${action} failed: ${message}${code ? ` (${code})` : ''}.`;
  return isTransientPgError(error) ? new TransientError(text, context) : new InvalidInputError(text, context);
}
