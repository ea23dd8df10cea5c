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

/** The network code of an error or of any error in its cause chain. */
function networkCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e && depth < 5; e = (e as SdkLikeError).cause, depth++) {
    const code = (e as SdkLikeError).code;
    if (code && NETWORK_CODES.has(code)) return code;
    if (/socket hang up|other side closed/i.test(String((e as SdkLikeError).message ?? ''))) return 'ECONNRESET';
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
      return new StorageError(`S3 failed while ${doing}: ${detail}.`, context);
  }
}
