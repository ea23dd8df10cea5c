/**
 * The redis component (working memory) as the configuration, the CLI and the control plane see it
 * (config/component.ts). Pure: no driver.
 */
import { describeComponent } from '../../../config/component';
import { integer, list, mapping, parseLocalUrl, parseSecretArn, uniqueStrings } from '../../../config/fields';
import { parseRedisRestoreOptions, redisTargetKey } from './options';

/** Redis (working memory). Secret JSON: {"host", "port", "username"?, "password"?, "tls"?} (ElastiCache/MemoryDB style). */
export interface RedisSourceConfig {
  readonly secretArn?: string;
  /** Local runs only: redis:// URL without a password (the password comes from NCA_REDIS_URL or REDISCLI_AUTH). */
  readonly url?: string;
  /** Logical database index backed up (SELECT n). @default 0 */
  readonly db: number;
  /** Glob patterns (Redis MATCH syntax) of the keys backed up. @default ["*"]: every key */
  readonly keyPatterns: readonly string[];
}

const REDIS_GLOB = /^[^\s]{1,256}$/;

export const redisDescriptor = describeComponent({
  name: 'redis',
  group: 'database',
  source: {
    parse(value, { path, issues }): RedisSourceConfig | undefined {
      const map = mapping(value, path, ['secret_arn', 'url', 'db', 'key_patterns'], issues);
      if (!map) return undefined;
      const secret = parseSecretArn(map, path, issues);
      const url = 'url' in map ? parseLocalUrl(map.url, `${path}.url`, issues, ['redis:', 'rediss:'], 'redis://host:6379', 'NCA_REDIS_URL or REDISCLI_AUTH') : undefined;
      const db = 'db' in map ? integer(map.db, `${path}.db`, issues, 0, 1023) : 0;
      let keyPatterns: string[] | undefined = ['*'];
      if ('key_patterns' in map) {
        const values = list(map.key_patterns, `${path}.key_patterns`, issues, 'key patterns like "memory:*"');
        keyPatterns = values && uniqueStrings(values, `${path}.key_patterns`, issues, REDIS_GLOB, 'a Redis key pattern like "memory:*" (no spaces)');
      }
      if (!secret.ok || ('url' in map && url === undefined) || db === undefined || keyPatterns === undefined) return undefined;
      return { db, keyPatterns, ...(secret.secretArn ? { secretArn: secret.secretArn } : {}), ...(url ? { url } : {}) };
    },
  },
  restore: {
    parseOptions: parseRedisRestoreOptions,
    // Redis has no system database; an index in backup.restore.protected_targets matches "3", "db3" and " 3 ".
    targets: { systemDatabases: {}, targetKey: redisTargetKey },
    flags: {
      mode: { key: 'mode', value: 'replace|merge' },
      'key-pattern': { key: 'keyPattern', value: 'GLOB' },
    },
  },
});
