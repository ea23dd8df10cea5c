/** What drills leave on the test servers, asked of the servers themselves (not of our code). */
import Redis from 'ioredis';
import { sql } from './postgres-db';

/** Databases named like a drill's sandbox, as PostgreSQL lists them. */
export async function drillDatabases(): Promise<string[]> {
  return (await sql('postgres', `SELECT datname FROM pg_database WHERE datname LIKE 'nca\\_drill\\_%' ORDER BY 1`)).map((r) => r.datname);
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
