/** What drills leave on the test servers, asked of the servers themselves (not of our code). */
import Redis from 'ioredis';
import { sql } from './postgres-db';

/**
 * The databases of drill `drillId`'s sandboxes (`nca_drill_<id>`), as PostgreSQL lists them: only this
 * drill's, since other test files drill on the same server at the same time.
 */
export async function drillDatabases(drillId: string): Promise<string[]> {
  const name = `nca_drill_${drillId.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
  return (await sql('postgres', `SELECT datname FROM pg_database WHERE datname = $1 ORDER BY 1`, [name])).map((r) => r.datname);
}

/** A connection to one database index of the Redis on `port`, closed after `use`. */
export async function withRedisDb<T>(port: number, db: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ host: '127.0.0.1', port, db });
  try {
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}
