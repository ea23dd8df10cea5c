/**
 * JSON with object keys sorted at every level: the same value always prints the same bytes, whatever order
 * its keys were built or stored in. What a manifest's MAC covers, and what the memory export's items and
 * their fingerprint are written as. Integers beyond 2^53 (BigInt, from an exact parse) print their digits;
 * an undefined field is left out and an undefined array element prints null, as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  // Embeddings: hundreds of numbers, printed alike by both forms and far faster in one call.
  if (Array.isArray(value) && value.every((v) => typeof v === 'number')) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).filter((k) => record[k] !== undefined).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
