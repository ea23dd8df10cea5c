/**
 * The names of the databases a restore works with beside its target: the staging database it restores
 * into, and the previous database it keeps aside after the swap, whose name records until when it is
 * kept. Both fit PostgreSQL's 63-byte identifiers whatever the target's name (spaces, quotes, unicode).
 */
import { createHash } from 'node:crypto';

export const MAX_IDENTIFIER_BYTES = 63;

/** The longest prefix of `name` that fits in `bytes` UTF-8 bytes without splitting a character. */
export function truncateUtf8(name: string, bytes: number): string {
  let out = '';
  for (const char of name) {
    if (Buffer.byteLength(out + char) > bytes) break;
    out += char;
  }
  return out;
}

const STAGING_MARK = '_nca_staging_';

/**
 * `<target prefix>_nca_staging_<12 hex of sha256(target, backup id)>`: the same restore always stages
 * under the same name (a retried step finds and drops its predecessor's leftover), two different
 * targets or backups never share one.
 */
export function stagingDatabaseName(target: string, backupId: string): string {
  const hash = createHash('sha256').update(`${target}\0${backupId}`).digest('hex').slice(0, 12);
  return `${truncateUtf8(target, MAX_IDENTIFIER_BYTES - STAGING_MARK.length - hash.length)}${STAGING_MARK}${hash}`;
}

const KEPT_MARK = '_nca_kept_until_';
/** Matches a kept-aside database's name and captures its expiry, e.g. "neuroca_db_nca_kept_until_20261201T091630Z". */
export const KEPT_ASIDE_PATTERN = /_nca_kept_until_(\d{8}T\d{6}Z)$/;
/** The same, as a PostgreSQL regular expression, for a catalog query. */
export const KEPT_ASIDE_SQL_PATTERN = '_nca_kept_until_[0-9]{8}T[0-9]{6}Z$';

const stamp = (at: Date) => at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

export function keptAsideName(target: string, until: Date): string {
  const suffix = `${KEPT_MARK}${stamp(until)}`;
  return `${truncateUtf8(target, MAX_IDENTIFIER_BYTES - suffix.length)}${suffix}`;
}

/** When a kept-aside database may be dropped; undefined for any other name. */
export function keptUntil(name: string): Date | undefined {
  const match = KEPT_ASIDE_PATTERN.exec(name);
  if (!match) return undefined;
  const s = match[1];
  const at = new Date(`${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}T${s.slice(9, 11)}:${s.slice(11, 13)}:${s.slice(13, 15)}Z`);
  return Number.isNaN(at.getTime()) ? undefined : at;
}
