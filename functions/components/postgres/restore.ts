/**
 * The restore: the verified artifact stream goes straight into pg_restore's stdin, which replays it in
 * one transaction (--single-transaction --exit-on-error). A damaged stream, a failed statement or a
 * killed process therefore leaves the target exactly as it was. A missing target database is created.
 */
import { BackupNotFoundError } from '../../core/errors';
import type { ArtifactSource, ComponentRestoreResult, Logger } from '../types';
import { describeTarget, quoteIdent, withClient, type PostgresTarget } from './connection';
import { DUMP_CONTENT_TYPE } from './backup';
import { runTool } from './tools';

/** The maintenance database used to look up and create target databases. */
const MAINTENANCE_DATABASE = 'postgres';

export async function databaseExists(target: PostgresTarget): Promise<boolean> {
  return withClient(
    target,
    async (client) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [target.database])).rowCount === 1,
    MAINTENANCE_DATABASE,
  );
}

export const PG_RESTORE_ARGS = ['--clean', '--if-exists', '--no-owner', '--no-privileges', '--single-transaction', '--exit-on-error', '--no-password'];

export async function restorePostgres(source: ArtifactSource, target: PostgresTarget, log: Logger): Promise<ComponentRestoreResult> {
  const artifact = source.artifacts.find((a) => a.contentType === DUMP_CONTENT_TYPE) ?? source.artifacts.find((a) => a.name.endsWith('.dump'));
  if (!artifact) throw new BackupNotFoundError('the backup holds no PostgreSQL dump artifact.', { component: 'postgres' });

  const replacedExisting = await databaseExists(target);
  if (!replacedExisting) {
    log.info('creating target database', { target: describeTarget(target) });
    await withClient(target, (client) => client.query(`CREATE DATABASE ${quoteIdent(target.database)}`), MAINTENANCE_DATABASE);
  }

  log.info('pg_restore started', { target: describeTarget(target), artifact: artifact.name, bytes: artifact.bytes });
  const restore = runTool(target, 'pg_restore', [...PG_RESTORE_ARGS, '--dbname', target.database]);
  const input = source.open(artifact.name);
  const streamed = new Promise<void>((resolve, reject) => {
    input.on('error', reject);
    restore.child.stdin!.on('error', (error: NodeJS.ErrnoException) => {
      // EPIPE: pg_restore stopped reading (it failed); its own exit status explains why.
      if (error.code !== 'EPIPE') reject(error);
    });
    restore.child.stdin!.on('finish', resolve);
    input.pipe(restore.child.stdin!);
  });
  try {
    await Promise.all([
      // A broken input must stop pg_restore before it commits: kill it, the transaction rolls back.
      streamed.catch((error) => {
        restore.child.kill('SIGKILL');
        throw error;
      }),
      restore.done,
    ]);
  } catch (error) {
    input.destroy();
    restore.child.kill('SIGKILL');
    // The stream's error (e.g. IntegrityError) says more than "pg_restore was stopped by SIGKILL".
    const streamError = await streamed.then(() => undefined, (e: unknown) => e);
    throw streamError ?? error;
  }
  return { target: target.database, replacedExisting };
}
