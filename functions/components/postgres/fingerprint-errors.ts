/**
 * A fingerprint failure in the component's words, through the component's one classifier (errors.ts):
 * what the fingerprint was reading, that it changed nothing, and for a refused read what the role lacks.
 */
import { classifyPgError, pgErrorCode } from './errors';

/** 42501: permission denied for a table, or row-level security refusing to hide rows (row_security = off). */
const INSUFFICIENT_PRIVILEGE = '42501';

/**
 * 42883: a function that does not resolve. Reading a table plans it, and planning inlines the SQL
 * functions of its index expressions under the fingerprint's search_path (pg_catalog), as pg_restore's
 * empty search_path would when it rebuilds the index.
 */
const UNDEFINED_FUNCTION = '42883';

/** `reading`: the table or part of the catalog being read, when known. */
export function fingerprintError(error: unknown, reading?: string): unknown {
  const code = pgErrorCode(error);
  const hint =
    code === INSUFFICIENT_PRIVILEGE
      ? 'The fingerprint reads every row, as pg_dump does: the role needs SELECT on every table, and BYPASSRLS or ownership of tables with row-level security. Nothing was changed.'
      : code === UNDEFINED_FUNCTION && reading?.startsWith('table ')
        ? 'An index or expression on this table calls a function by a name that resolves only through the search_path; pg_restore rebuilds indexes with an empty search_path and would fail on it the same way, so a backup of it could not be restored. Qualify the call with its schema (e.g. public.fn(x)) or give the function its own search_path (ALTER FUNCTION … SET search_path = public). Nothing was changed.'
        : 'The fingerprint only reads: nothing was changed.';
  return classifyPgError(error, reading ? `the fingerprint reading ${reading}` : 'the fingerprint', { component: 'postgres', hint });
}
