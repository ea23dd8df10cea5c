/**
 * A fingerprint failure in the component's words, through the component's one classifier (errors.ts):
 * what the fingerprint was reading, that it changed nothing, and for a refused read what the role lacks.
 */
import { classifyPgError, pgErrorCode } from './errors';

/** 42501: permission denied for a table, or row-level security refusing to hide rows (row_security = off). */
const INSUFFICIENT_PRIVILEGE = '42501';

/** `reading`: the table or part of the catalog being read, when known. */
export function fingerprintError(error: unknown, reading?: string): unknown {
  const refused = pgErrorCode(error) === INSUFFICIENT_PRIVILEGE;
  const hint = refused
    ? 'The fingerprint reads every row, as pg_dump does: the role needs SELECT on every table, and BYPASSRLS or ownership of tables with row-level security. Nothing was changed.'
    : 'The fingerprint only reads: nothing was changed.';
  return classifyPgError(error, reading ? `the fingerprint reading ${reading}` : 'the fingerprint', { component: 'postgres', hint });
}
