/**
 * The one place S3 failures are judged. Every vault operation passes its failure through here, so the
 * workflows' `TransientError` retry applies to what a retry can fix (lost connections, 5xx, throttling,
 * aborted requests) and nothing else, and every error names the component whose key space was touched.
 */
import { AccessDeniedError, NcaBackupError, StorageError, TransientError, type ErrorContext } from './errors';

/** Socket-level failures: the request may not have reached S3, or its answer was lost. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET']);
/** Error codes S3 documents as worth retrying (besides any 5xx). */
const RETRYABLE_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeTooSkewed',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestAbortedError',
  'AbortError',
]);
const DENIED_CODES = new Set(['AccessDenied', 'AllAccessDisabled', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'KMS.AccessDeniedException', 'AccessDeniedException']);

interface SdkLikeError {
  readonly name?: string;
  readonly code?: string;
  readonly message?: string;
  readonly Code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $retryable?: unknown;
  readonly cause?: unknown;
}

/** The network code of an error, of its cause chain, or of the attempts an AggregateError gathers (happy eyeballs). */
function networkCode(error: unknown, depth = 0): string | undefined {
  if (!error || typeof error !== 'object' || depth > 5) return undefined;
  const e = error as SdkLikeError & { errors?: unknown[] };
  if (e.code && NETWORK_CODES.has(e.code)) return e.code;
  const message = String(e.message ?? '');
  if (/socket hang up|other side closed/i.test(message)) return 'ECONNRESET';
  // The SDK wraps a thrown value that is not an Error of its realm ("AWS SDK error wrapper for …") and keeps only the text.
  const named = /\b(E[A-Z_]{4,})\b/.exec(message)?.[1];
  if (named && NETWORK_CODES.has(named)) return named;
  for (const inner of [e.cause, ...(Array.isArray(e.errors) ? e.errors : [])]) {
    const code = networkCode(inner, depth + 1);
    if (code) return code;
  }
  return undefined;
}

export type S3FailureKind = 'transient' | 'denied' | 'other';

export function s3FailureKind(error: unknown): S3FailureKind {
  const e = (error ?? {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  const code = e.Code ?? e.name ?? '';
  if (DENIED_CODES.has(code) || status === 403) return 'denied';
  if (networkCode(error) || RETRYABLE_CODES.has(code) || e.$retryable || (status !== undefined && (status >= 500 || status === 429))) return 'transient';
  return 'other';
}

/**
 * The typed error for a failed S3 request about `doing` (e.g. "writing backups/database/postgres/…").
 * Errors that are already typed (an IntegrityError from a verifier, a tool's error feeding an upload)
 * pass through unchanged: they explain the failure better than the request that noticed it.
 */
/** The object is not there: a HeadObject answers a bare 404 (the SDK names it NotFound), a GetObject NoSuchKey. */
export function isMissingObject(error: unknown): boolean {
  const e = (error ?? {}) as SdkLikeError;
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
}

export function classifyS3Error(error: unknown, doing: string, context: ErrorContext = {}): Error {
  if (error instanceof NcaBackupError) return error;
  const e = (error ?? {}) as SdkLikeError;
  const what = [e.Code ?? e.name, networkCode(error), e.$metadata?.httpStatusCode].filter(Boolean).join(', ');
  const detail = `${String(e.message ?? error).slice(0, 300)}${what ? ` (${what})` : ''}`;
  switch (s3FailureKind(error)) {
    case 'transient':
      return new TransientError(`S3 failed while ${doing}: ${detail}.`, { ...context, hint: context.hint ?? 'A retry may succeed.' });
    case 'denied':
      return new AccessDeniedError(`S3 refused ${doing}: ${detail}.`, {
        ...context,
        hint: context.hint ?? 'Check the role\'s S3 and KMS permissions for this key.',
      });
    default:
      return Object.assign(new StorageError(`S3 failed while ${doing}: ${detail}.`, context), { cause: error });
  }
}
