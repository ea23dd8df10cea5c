/**
 * Backup ids: the UTC time to the second and a suffix that keeps concurrent runs apart, sortable by time.
 * Their own module: the catalog, the workflow input and the janitor all need them, and none of those may
 * import another for it (catalog → manifest → workflow-input would close a circle).
 */

const BACKUP_ID = /^\d{8}T\d{6}Z-[0-9a-z]{4,12}(-safety)?$/;

export function isBackupId(value: string): boolean {
  return BACKUP_ID.test(value);
}

export function isSafetyBackupId(value: string): boolean {
  return value.endsWith('-safety');
}

/** "20261123T020000Z-7f3a": UTC time to the second plus a suffix that keeps concurrent runs apart. */
export function newBackupId(at: Date, suffix: string, options: { safety?: boolean } = {}): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  const clean = suffix.toLowerCase().replace(/[^0-9a-z]/g, '').slice(0, 12).padEnd(4, '0');
  return `${stamp}-${clean}${options.safety ? '-safety' : ''}`;
}
