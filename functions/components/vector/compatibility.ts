/**
 * What may be restored where. The server must be new enough for the component (the same minimum as the
 * postgres component); and vectors must not silently replace vectors of another embedding space: a table
 * whose embeddings have another dimension, or were made by another embedding model, is only replaced
 * when the operator says so (options.allowDimensionChange / options.allowModelChange). Both checks run
 * before anything is written.
 */
import { VersionMismatchError } from '../../core/errors';
import { MIN_SERVER_MAJOR } from '../postgres/compatibility';
import { COMPONENT } from './connection';

import type { ServerVersion } from '../postgres/server';

export { serverVersion, type ServerVersion } from '../postgres/server';

export function checkServerVersion(server: ServerVersion, role: 'source' | 'target', context: { backupId?: string } = {}): void {
  if (server.serverMajor < MIN_SERVER_MAJOR) {
    throw new VersionMismatchError(
      `the ${role} server runs PostgreSQL ${server.serverVersion}; the vector component needs PostgreSQL ${MIN_SERVER_MAJOR} or newer.`,
      { component: COMPONENT, ...context, hint: `Use a PostgreSQL ${MIN_SERVER_MAJOR} or newer server (13 reached end of life in November 2025).` },
    );
  }
}

/** The embedding space of the backup or of a table: dimension and models, null / empty when unknown. */
export interface EmbeddingSpace {
  readonly dimension: number | null;
  readonly models: readonly string[];
}

export interface EmbeddingOverrides {
  readonly allowDimensionChange?: boolean;
  readonly allowModelChange?: boolean;
}

const list = (models: readonly string[]) => models.map((m) => JSON.stringify(m)).join(', ');

/**
 * Refuses to replace a table of another embedding space. Unknown on either side (an empty array table,
 * rows without embedding_model) cannot differ and passes. Models differ when the two sets of distinct
 * values are not the same set.
 */
export function checkEmbeddingSpace(
  backup: EmbeddingSpace,
  existing: EmbeddingSpace & { readonly table: string },
  overrides: EmbeddingOverrides,
  context: { backupId?: string } = {},
): void {
  if (!overrides.allowDimensionChange && backup.dimension !== null && existing.dimension !== null && backup.dimension !== existing.dimension) {
    throw new VersionMismatchError(
      `the backup holds embeddings of dimension ${backup.dimension}; the existing table ${existing.table} holds embeddings of dimension ${existing.dimension}. Nothing was written.`,
      {
        component: COMPONENT,
        ...context,
        hint: 'Restore into another table (options.targetTable) or database, or set options.allowDimensionChange to true to replace the table anyway.',
      },
    );
  }
  const backupModels = new Set(backup.models);
  const sameModels = existing.models.length === backupModels.size && existing.models.every((m) => backupModels.has(m));
  if (!overrides.allowModelChange && backup.models.length > 0 && existing.models.length > 0 && !sameModels) {
    throw new VersionMismatchError(
      `the backup's embeddings were made by embedding_model ${list(backup.models)}; the existing table ${existing.table} holds embeddings of ${list(existing.models)}. Nothing was written.`,
      {
        component: COMPONENT,
        ...context,
        hint: 'Restore into another table (options.targetTable) or database, or set options.allowModelChange to true to replace the table anyway.',
      },
    );
  }
}
