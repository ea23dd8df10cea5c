/**
 * The vector table's name, apart from the driver: the restore options (checked by the control plane, which
 * bundles no driver), the vector connection and the memory component's semantic tier all read a table name
 * with this one parser.
 */
import { InvalidInputError } from '../../core/errors';

export const COMPONENT = 'vector';
export const DEFAULT_SCHEMA = 'public';

export interface TableName {
  readonly schema: string;
  readonly table: string;
}

const IDENTIFIER = /^[^\s."]{1,63}$/u;

/**
 * "schema.table" or "table" (schema public). Names are taken as written, case and all, and quoted in SQL;
 * dots and double quotes inside a name are not supported, so the split is never ambiguous. `component`
 * names the component in the error (the memory component reads the same table for its semantic tier).
 */
export function parseTableName(value: unknown, field: string, component: string = COMPONENT): TableName {
  const parts = typeof value === 'string' ? value.split('.') : [];
  if (parts.length < 1 || parts.length > 2 || !parts.every((p) => IDENTIFIER.test(p) && Buffer.byteLength(p) <= 63)) {
    throw new InvalidInputError(`${field} must be a table name, "table" or "schema.table" (at most 63 bytes each, no spaces, dots or quotes).`, {
      component,
      hint: 'Example: semantic_memory or memory.semantic_memory.',
    });
  }
  return parts.length === 2 ? { schema: parts[0], table: parts[1] } : { schema: DEFAULT_SCHEMA, table: parts[0] };
}

export function qualifiedName(name: TableName): string {
  return `${name.schema}.${name.table}`;
}
