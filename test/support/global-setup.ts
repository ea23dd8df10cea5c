/**
 * One PostgreSQL, one Redis, one s3rver and one KMS substitute for the whole run; tests isolate themselves
 * by creating their own databases, buckets and keys. Endpoints reach the test workers through environment
 * variables. The local manifest key lives in a temporary file (NCA_MANIFEST_KEY_FILE), never in the
 * developer's home.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres, startRedis, startS3, type RunningServer } from '../../scripts/local-servers';
import { startKmsServer } from './kms-server';

declare global {
  // eslint-disable-next-line no-var
  var __ncaServers: RunningServer[] | undefined;
  // eslint-disable-next-line no-var
  var __ncaTempDirs: string[] | undefined;
}

export default async function globalSetup(): Promise<void> {
  const [postgres, redis, s3, kms] = await Promise.all([startPostgres(), startRedis(), startS3(), startKmsServer()]);
  globalThis.__ncaServers = [postgres, redis, s3, kms];
  process.env.NCA_TEST_POSTGRES_URL = postgres.url;
  process.env.NCA_TEST_PG_BIN_DIR = postgres.binDir;
  process.env.NCA_TEST_REDIS_URL = redis.url;
  process.env.NCA_TEST_S3_ENDPOINT = s3.endpoint;
  process.env.NCA_TEST_KMS_ENDPOINT = kms.endpoint;
  // Created on first use, mode 0600, by the code under test itself.
  const keyDir = mkdtempSync(join(tmpdir(), 'nca-manifest-key-'));
  globalThis.__ncaTempDirs = [keyDir];
  process.env.NCA_MANIFEST_KEY_FILE = join(keyDir, 'manifest.key');
}
