/**
 * The runbook's "stop affected services", as a step: the sessions on a database are listed, and ended
 * only when the restore input allows it, after a grace period in which they may end on their own.
 * Also: who holds the locks a statement of ours timed out on.
 */
import type { Client } from 'pg';
import { InvalidInputError, TransientError } from '../../core/errors';
import type { Logger } from '../types';

export interface Session {
  readonly pid: number;
  readonly user: string | null;
  readonly application: string | null;
  readonly clientAddress: string | null;
  readonly state: string | null;
  /** When the session entered its current state (or started, when its state is hidden). */
  readonly since: string | null;
}

const SESSION_COLUMNS = `a.pid, a.usename AS "user", a.application_name AS application, host(a.client_addr) AS "clientAddress", a.state,
  to_char(COALESCE(a.state_change, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS since`;

/** Client sessions connected to `database`, other than the caller's own. */
export async function listSessions(client: Client, database: string): Promise<Session[]> {
  const { rows } = await client.query<Session>(
    `SELECT ${SESSION_COLUMNS} FROM pg_stat_activity a
     WHERE a.datname = $1 AND a.pid <> pg_backend_pid() AND a.backend_type = 'client backend' ORDER BY a.pid`,
    [database],
  );
  return rows;
}

export function describeSessions(sessions: readonly Session[]): string {
  return sessions
    .map((s) => `pid ${s.pid} (user ${s.user ?? '?'}, application "${s.application ?? ''}", from ${s.clientAddress ?? 'local socket'}, ${s.state ?? 'state hidden'} since ${s.since ?? '?'})`)
    .join('; ');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface EndSessionsOptions {
  readonly graceSeconds: number;
  readonly component: string;
  readonly backupId?: string;
  /** What the error says about the target when the sessions cannot be ended. */
  readonly targetState: string;
}

/**
 * Waits up to the grace period for the sessions on `database` to end, then ends the rest
 * (pg_terminate_backend) and waits for them to be gone. New connections must already be blocked.
 */
export async function endSessions(client: Client, database: string, options: EndSessionsOptions, log: Logger): Promise<Session[]> {
  const first = await listSessions(client, database);
  if (first.length === 0) return [];
  log.warn('sessions on the restore target', { database, sessions: first, graceSeconds: options.graceSeconds });
  const graceEnds = Date.now() + options.graceSeconds * 1000;
  let remaining = first;
  while (remaining.length > 0 && Date.now() < graceEnds) {
    await sleep(Math.min(500, Math.max(0, graceEnds - Date.now())));
    remaining = await listSessions(client, database);
  }
  if (remaining.length > 0) {
    log.warn('ending sessions on the restore target', { database, sessions: remaining });
    const { rows } = await client.query<{ pid: number; ended: boolean }>('SELECT pid, pg_terminate_backend(pid) AS ended FROM unnest($1::int[]) AS pid', [remaining.map((s) => s.pid)]).catch((error: { code?: string; message: string }) => {
      if (error.code !== '42501') throw error;
      throw new InvalidInputError(`cannot end the sessions on database "${database}" (${error.message}): ${describeSessions(remaining)}. ${options.targetState}`, {
        component: options.component,
        backupId: options.backupId,
        hint: 'Grant the restore role pg_signal_backend (on RDS too), or stop the services using the database and repeat the restore.',
      });
    });
    const refused = rows.filter((r) => !r.ended).map((r) => r.pid);
    const stillThere = remaining.filter((s) => refused.includes(s.pid));
    if (stillThere.length > 0) {
      throw new InvalidInputError(`PostgreSQL refused to end sessions on database "${database}": ${describeSessions(stillThere)}. ${options.targetState}`, {
        component: options.component,
        backupId: options.backupId,
        hint: 'Superuser sessions can only be ended by a superuser: stop those services and repeat the restore.',
      });
    }
  }
  for (let waited = 0; waited < 20; waited++) {
    remaining = await listSessions(client, database);
    if (remaining.length === 0) return first;
    await sleep(250);
  }
  throw new TransientError(`sessions on database "${database}" did not end after pg_terminate_backend: ${describeSessions(remaining)}. ${options.targetState}`, {
    component: options.component,
    backupId: options.backupId,
  });
}

/** Sessions holding a lock on the database object itself (ALTER DATABASE, COMMENT ON DATABASE in an open transaction). */
export async function databaseLockHolders(client: Client, database: string): Promise<Session[]> {
  const { rows } = await client.query<Session>(
    `SELECT DISTINCT ${SESSION_COLUMNS} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.granted AND l.locktype = 'object' AND l.classid = 'pg_database'::regclass
       AND l.objid = (SELECT oid FROM pg_database WHERE datname = $1) AND l.pid <> pg_backend_pid()`,
    [database],
  );
  return rows;
}

/** Sessions holding locks on tables of the current database that an ACCESS SHARE lock (pg_dump) waits for. */
export async function exclusiveLockHolders(client: Client): Promise<Session[]> {
  const { rows } = await client.query<Session>(
    `SELECT DISTINCT ${SESSION_COLUMNS} FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.granted AND l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.pid <> pg_backend_pid()`,
  );
  return rows;
}
