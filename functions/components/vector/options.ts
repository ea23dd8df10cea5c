/**
 * The vector component's restore options, as the restore input's `options` object or CLI flags give them;
 * apart from the driver: the control plane checks a restore input with this before anything runs.
 */
import { InvalidInputError } from '../../core/errors';
import type { RestoreTargetOptions } from '../../../config/component';
import { COMPONENT, parseTableName } from './names';

export interface VectorRestoreOptions extends RestoreTargetOptions {
  /** Restore into this table ("table" or "schema.table") instead of the one backed up. */
  readonly targetTable?: string;
  /** Replace a table whose embeddings have another dimension. Default false. */
  readonly allowDimensionChange?: boolean;
  /** Replace a table whose rows name another embedding_model. Default false. */
  readonly allowModelChange?: boolean;
}

/** PostgreSQL's own schemas (pg_catalog, pg_toast, information_schema; "pg_" is reserved for them). */
function isSystemSchema(schema: string): boolean {
  return schema.startsWith('pg_') || schema === 'information_schema';
}

const BOOLEAN_OPTIONS = ['allowDimensionChange', 'allowModelChange'] as const;
/** targetDatabase is common to every component and handled by retarget(); accepted here, not returned. */
const KNOWN = new Set<string>(['targetTable', ...BOOLEAN_OPTIONS, 'targetDatabase']);

export function parseVectorRestoreOptions(raw: Record<string, unknown>): Omit<VectorRestoreOptions, keyof RestoreTargetOptions> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidInputError('options must be an object.', { component: COMPONENT, hint: 'Example: {"targetTable": "semantic_memory_restored"}.' });
  }
  for (const key of Object.keys(raw)) {
    if (!KNOWN.has(key)) {
      throw new InvalidInputError(`options.${key} is not a vector restore option.`, {
        component: COMPONENT,
        hint: 'Allowed: targetTable (string), allowDimensionChange (boolean), allowModelChange (boolean), targetDatabase (string).',
      });
    }
  }
  const options: { targetTable?: string; allowDimensionChange?: boolean; allowModelChange?: boolean } = {};
  if (raw.targetTable !== undefined) {
    const { schema } = parseTableName(raw.targetTable, 'options.targetTable');
    if (isSystemSchema(schema)) {
      throw new InvalidInputError(`options.targetTable '${String(raw.targetTable)}' is in the system schema ${schema}; a restore never writes there. Nothing was touched.`, {
        component: COMPONENT,
        hint: 'Name a table in an application schema, e.g. {"targetTable": "public.semantic_memory_restored"}.',
      });
    }
    options.targetTable = raw.targetTable as string;
  }
  for (const key of BOOLEAN_OPTIONS) {
    const value = raw[key];
    if (value === undefined) continue;
    if (typeof value !== 'boolean') {
      throw new InvalidInputError(`options.${key} must be true or false, not ${JSON.stringify(value)}.`, { component: COMPONENT });
    }
    options[key] = value;
  }
  return options;
}
