import type { Fingerprint } from '../components/types';

export interface FingerprintDifference {
  readonly object: string;
  readonly expected?: { count: number; digest: string };
  readonly actual?: { count: number; digest: string };
  /** A component's own finding (e.g. "vector 42 differs in bits"), shown as it is. */
  readonly problem?: string;
}

/** Objects whose count or digest differ, or that exist on one side only; empty when the two are equal. */
export function compareFingerprints(expected: Fingerprint, actual: Fingerprint): FingerprintDifference[] {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return names
    .filter((name) => expected[name]?.count !== actual[name]?.count || expected[name]?.digest !== actual[name]?.digest)
    .map((name) => ({ object: name, expected: expected[name], actual: actual[name] }));
}

/** One line an operator can read: "public.users: 1000 rows expected, 990 found; public.audit_log: missing". */
export function describeDifferences(differences: readonly FingerprintDifference[], limit = 5): string {
  const shown = differences.slice(0, limit).map((d) => {
    if (d.problem) return `${d.object}: ${d.problem}`;
    if (!d.actual) return `${d.object}: missing after restore`;
    if (!d.expected) return `${d.object}: not in the backup`;
    if (d.expected.count !== d.actual.count) return `${d.object}: ${d.expected.count} expected, ${d.actual.count} found`;
    return `${d.object}: same count (${d.actual.count}), different content`;
  });
  const more = differences.length > limit ? `; and ${differences.length - limit} more` : '';
  return shown.join('; ') + more;
}
