/**
 * Whether a restore target has room for what the restore writes (the runbook's pre-restore "ensure
 * sufficient disk space"), as each component's compatibility check reports it, before anything is written.
 *
 * The figures are estimates on both sides (a database restored fresh is usually smaller than its source
 * with its bloat; free space moves while the restore runs), so a restore is refused only when it clearly
 * does not fit: when it needs more than the target has by more than ROOM_MARGIN. Between the two, and
 * wherever a figure is missing, the verdict is `unknown` with the reason, and the restore proceeds.
 */
import { InsufficientSpaceError } from '../core/errors';

export type RoomVerdict = 'ok' | 'insufficient' | 'unknown';

/** What the compatibility check found about the target's room; in the CheckCompatibility step's output. */
export interface Room {
  readonly verdict: RoomVerdict;
  /** Why, with the numbers: "needs 12.4 GiB, 3.1 GiB free on ...", "PostgreSQL reports no free disk space over SQL". */
  readonly reason: string;
  /** Bytes the restore will occupy on the target, when the backup records them. */
  readonly neededBytes?: number;
  /** What neededBytes measures, e.g. "pg_database_size of the source at backup time". */
  readonly needed?: string;
  /** Bytes the target can take, when its server tells. */
  readonly availableBytes?: number;
  /** What availableBytes measures, e.g. "maxmemory - used_memory + memory of the keys the restore replaces". */
  readonly available?: string;
  /** A composite's parts (the memory tiers), each judged on its own. */
  readonly parts?: Readonly<Record<string, Room>>;
}

/** A restore is refused only when it needs more than this share beyond what the target has. */
export const ROOM_MARGIN = 0.1;

/** 13314398618 → "12.4 GiB". */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${Math.round(value)} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}

export interface RoomFigures {
  /** The restore's size; undefined when the backup does not record it. */
  readonly neededBytes?: number;
  readonly needed: string;
  /** The target's room; undefined when its server does not tell. */
  readonly availableBytes?: number;
  readonly available: string;
  /** Where, for the message: "redis 10.0.0.5:6379 db0". */
  readonly where: string;
  /** Why neededBytes is absent. @default "the backup does not record the size of its source (taken before nca-backup recorded it)" */
  readonly unknownNeeded?: string;
  /** Why availableBytes is absent, e.g. "PostgreSQL reports no free disk space over SQL". */
  readonly unknownAvailable?: string;
}

const UNRECORDED = 'the backup does not record the size of its source (taken before nca-backup recorded it)';

const known = (bytes: number | undefined): bytes is number => typeof bytes === 'number' && Number.isFinite(bytes) && bytes >= 0;

/** The verdict from the two figures: the one rule every component's check applies. */
export function judgeRoom(figures: RoomFigures): Room {
  const { neededBytes, availableBytes, where } = figures;
  const described = {
    ...(known(neededBytes) ? { neededBytes, needed: figures.needed } : {}),
    ...(known(availableBytes) ? { availableBytes, available: figures.available } : {}),
  };
  if (!known(neededBytes)) return { verdict: 'unknown', reason: figures.unknownNeeded ?? UNRECORDED, ...described };
  if (!known(availableBytes)) {
    return { verdict: 'unknown', reason: `needs ${formatBytes(neededBytes)}; ${figures.unknownAvailable ?? `${where} does not report its free space`}`, ...described };
  }
  const numbers = `needs ${formatBytes(neededBytes)} (${figures.needed}), ${formatBytes(availableBytes)} available on ${where} (${figures.available})`;
  if (neededBytes <= availableBytes) return { verdict: 'ok', reason: numbers, ...described };
  if (neededBytes > availableBytes * (1 + ROOM_MARGIN)) return { verdict: 'insufficient', reason: numbers, ...described };
  return { verdict: 'unknown', reason: `${numbers}: over by less than the ${ROOM_MARGIN * 100}% margin of these estimates, so not refused`, ...described };
}

/** Stores without a capacity a restore could exceed (S3, Parameter Store, Secrets Manager, CloudWatch Logs). */
export function noCapacityLimit(store: string): Room {
  return { verdict: 'ok', reason: `no capacity limit applies: ${store}` };
}

/** Throws InsufficientSpaceError, with the numbers, when the target clearly has no room; nothing is written before. */
export function requireRoom(room: Room, context: { component: string; backupId?: string }, hint: string): Room {
  if (room.verdict !== 'insufficient') return room;
  throw new InsufficientSpaceError(`the restore target has no room: ${room.reason}. Nothing was written.`, { ...context, hint });
}
