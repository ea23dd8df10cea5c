/**
 * One PostgreSQL, one Redis and one s3rver for the whole run; tests isolate themselves by creating
 * their own databases and buckets. Endpoints reach the test workers through environment variables.
 */
import { startPostgres, startRedis, startS3, type RunningServer } from '../../scripts/local-servers';

declare global {
  // eslint-disable-next-line no-var
  var __ncaServers: RunningServer[] | undefined;
}

export default async function globalSetup(): Promise<void> {
  const [postgres, redis, s3] = await Promise.all([startPostgres(), startRedis(), startS3()]);
  globalThis.__ncaServers = [postgres, redis, s3];
  process.env.NCA_TEST_POSTGRES_URL = postgres.url;
  process.env.NCA_TEST_PG_BIN_DIR = postgres.binDir;
  process.env.NCA_TEST_REDIS_URL = redis.url;
  process.env.NCA_TEST_S3_ENDPOINT = s3.endpoint;
}
