/**
 * The room a PostgreSQL restore needs. PostgreSQL reports no free disk space over SQL (no catalog view or
 * function tells it; RDS publishes FreeStorageSpace to CloudWatch only), so the verdict is `unknown` with the
 * size the restore needs: the source's size at backup time, recorded in the manifest, which is free space
 * needed beside what the target holds now (a postgres restore loads a staging database beside the target,
 * which stays until the swap and is kept aside after it; a vector restore drops the old table in the same
 * transaction that creates the new one, so the old files stay until it commits). Where the source names
 * its RDS instance (backup.sources.postgres.rds_instance_id), the instance's CloudWatch FreeStorageSpace
 * is the available figure (rds-storage.ts).
 */
import { judgeRoom, type Room } from '../room';

export const NO_FREE_SPACE_OVER_SQL = 'PostgreSQL reports no free disk space over SQL, so the room is not checked';

/** Free disk a room check got from elsewhere than PostgreSQL (an RDS instance's CloudWatch metric). */
export interface MeasuredFree {
  /** Undefined with `problem` when it could not be read. */
  readonly bytes?: number;
  readonly available: string;
  readonly problem?: string;
}

export function postgresRoom(source: Record<string, unknown>, field: 'databaseBytes' | 'tableBytes', where: string, beside: string, free?: MeasuredFree): Room {
  const recorded = source[field];
  return judgeRoom({
    neededBytes: typeof recorded === 'number' ? recorded : undefined,
    needed: `${field === 'databaseBytes' ? 'pg_database_size' : 'pg_total_relation_size'} of the source at backup time, free beside ${beside}`,
    availableBytes: free?.bytes,
    available: free?.available ?? '',
    where,
    unknownAvailable: free?.problem
      ? `${free.problem}; it must be free beside ${beside}`
      : `${NO_FREE_SPACE_OVER_SQL} (${where}; backup.sources.postgres.rds_instance_id reads an RDS instance's FreeStorageSpace); it must be free beside ${beside}`,
  });
}
