/**
 * The mongodb component (episodic memory) as the configuration, the CLI and the control plane see it
 * (config/component.ts). Pure: no driver.
 */
import { describeComponent } from '../../../config/component';
import { list, mapping, matching, parseLocalUrl, parseSecretArn, uniqueStrings } from '../../../config/fields';
import { MONGO_SYSTEM_DATABASES, mongoTargetKey, parseMongoRestoreOptions } from './options';

/** The database backed up when backup.yaml names none: the NCA's episodic memory. */
export const DEFAULT_MONGODB_DATABASE = 'neuroca_episodic';

/** MongoDB (episodic memory). Secret JSON: {"uri"} or {"host", "port", "username", "password", "ssl"?} (DocumentDB style). */
export interface MongoSourceConfig {
  readonly secretArn?: string;
  /** Local runs only: mongodb:// URL without a password (the password comes from NCA_MONGODB_URL). */
  readonly url?: string;
  /** Database backed up. @default "neuroca_episodic" */
  readonly database: string;
  /** Collections backed up. @default every collection of the database */
  readonly collections?: readonly string[];
}

const MONGO_NAME = /^[^/\\. "$*<>:|?\0]{1,63}$/;
/** A collection name MongoDB accepts and a backup may read (never a system collection). */
export const COLLECTION_NAME = /^(?!system\.)[^$\0]{1,120}$/;

export const mongodbDescriptor = describeComponent({
  name: 'mongodb',
  group: 'database',
  source: {
    parse(value, { path, issues }): MongoSourceConfig | undefined {
      const map = mapping(value, path, ['secret_arn', 'url', 'database', 'collections'], issues);
      if (!map) return undefined;
      const secret = parseSecretArn(map, path, issues);
      const url =
        'url' in map ? parseLocalUrl(map.url, `${path}.url`, issues, ['mongodb:', 'mongodb+srv:'], 'mongodb://host:27017', 'NCA_MONGODB_URL') : undefined;
      const database =
        'database' in map ? matching(map.database, `${path}.database`, issues, MONGO_NAME, 'a MongoDB database name (1-63 characters, none of /\\. "$*<>:|?)') : DEFAULT_MONGODB_DATABASE;
      let collections: string[] | undefined;
      if ('collections' in map) {
        const values = list(map.collections, `${path}.collections`, issues, 'collection names');
        collections = values && uniqueStrings(values, `${path}.collections`, issues, COLLECTION_NAME, 'a collection name (no $, not system.*)');
        if (collections === undefined) return undefined;
      }
      if (!secret.ok || ('url' in map && url === undefined) || database === undefined) return undefined;
      return { database, ...(collections ? { collections } : {}), ...(secret.secretArn ? { secretArn: secret.secretArn } : {}), ...(url ? { url } : {}) };
    },
  },
  restore: {
    parseOptions: parseMongoRestoreOptions,
    targets: { systemDatabases: MONGO_SYSTEM_DATABASES, targetKey: mongoTargetKey },
    flags: { collections: { key: 'collections', list: true, value: 'A,B' } },
  },
});
