/**
 * Reads the configuration backup.sources.config names, from the stores themselves, into ConfigItems:
 * every parameter under each Parameter Store path (SecureStrings decrypted), each secret named by ARN or
 * by name prefix (its AWSCURRENT value), each object under each S3 location. What a backup exports, and
 * what a restore compares the backup with.
 *
 * Logs name paths, prefixes, locations and counts, never an item's value (and not every item's name: a
 * deploy's hundreds of parameters would drown the log).
 */
import { DescribeSecretCommand, GetSecretValueCommand, ListSecretsCommand, type DescribeSecretResponse, type SecretListEntry } from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, GetParametersCommand, DescribeParametersCommand, ListTagsForResourceCommand, type Parameter, type ParameterMetadata } from '@aws-sdk/client-ssm';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { AccessDeniedError, InvalidInputError, NcaBackupError, StorageError, TransientError } from '../../core/errors';
import { mapLimit } from '../../core/parallel';
import { s3FailureKind } from '../../core/s3-errors';
import type { Logger } from '../types';
import type { ConfigClients } from './clients';
import { isSecretArn } from '../../../config/fields';
import type { ConfigFilesLocation, ConfigSourceConfig } from './descriptor';
import { itemKey, type ConfigItem, type ParameterType } from './item';
import { sortItems } from './format';

const COMPONENT = 'config';
/** Requests in flight for per-item calls (tags, secret values, objects): well under the stores' quotas. */
const CONCURRENCY = 4;
/** Parameter Store's page limits: 10 for GetParametersByPath, 50 for DescribeParameters; names per GetParameters. */
const PARAMETERS_PAGE = 10;
const DESCRIBE_PAGE = 50;
const NAMES_PER_CALL = 10;

/** The typed error for a failed store request: throttling and 5xx transient, a refusal denied, the rest StorageError. */
function storeFailure(error: unknown, store: string, doing: string): Error {
  if (error instanceof NcaBackupError) return error;
  const e = error as { name?: string; message?: string };
  const detail = `${e?.name ?? 'Error'}: ${String(e?.message ?? error).slice(0, 300)}`;
  const context = { component: COMPONENT };
  switch (s3FailureKind(error)) {
    case 'transient':
      return new TransientError(`${store} failed while ${doing}: ${detail}.`, { ...context, hint: 'A retry may succeed.' });
    case 'denied':
      return new AccessDeniedError(`${store} refused ${doing}: ${detail}.`, { ...context, hint: "Check the worker role's grants for this configuration source." });
    default:
      return new StorageError(`${store} failed while ${doing}: ${detail}.`, context);
  }
}

async function attempt<T>(store: string, doing: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw storeFailure(error, store, doing);
  }
}

const chunks = <T>(values: readonly T[], size: number): T[][] => Array.from({ length: Math.ceil(values.length / size) }, (_, i) => values.slice(i * size, i * size + size));
const iso = (date: Date | undefined) => (date ? date.toISOString() : undefined);
const tagMap = (tags: readonly { Key?: string; Value?: string }[] | undefined): Record<string, string> | undefined =>
  tags && tags.length > 0 ? Object.fromEntries(tags.map((t) => [t.Key ?? '', t.Value ?? ''])) : undefined;
const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

// ---------------------------------------------------------------- Parameter Store

/**
 * Every parameter under each path, recursively, with its KMS key id and description (DescribeParameters
 * over the same path, 50 a page) and its tags (one ListTagsForResource each: Parameter Store has no batch
 * for tags). A parameter named exactly like a path is included too: GetParametersByPath leaves it out, but
 * `parameter_paths: [/neuroca/db/url]` naming one parameter must not back up nothing.
 */
async function readParameters(paths: readonly string[], clients: ConfigClients, log: Logger): Promise<ConfigItem[]> {
  const ssm = clients.ssm;
  const store = 'Parameter Store';
  const found = new Map<string, Parameter>();
  const metadata = new Map<string, ParameterMetadata>();
  const counts = new Map<string, number>();

  for (const path of paths) {
    // Described before they are read: a parameter written in between is described again below, by name.
    let token: string | undefined;
    do {
      const page = await attempt(store, `describing the parameters under ${path}`, () =>
        ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Path', Option: 'Recursive', Values: [path] }], MaxResults: DESCRIBE_PAGE, NextToken: token })),
      );
      for (const p of page.Parameters ?? []) if (p.Name) metadata.set(p.Name, p);
      token = page.NextToken;
    } while (token);

    let count = 0;
    token = undefined;
    do {
      const page = await attempt(store, `reading the parameters under ${path}`, () =>
        ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: true, WithDecryption: true, MaxResults: PARAMETERS_PAGE, NextToken: token })),
      );
      for (const p of page.Parameters ?? []) {
        if (!p.Name) continue;
        count++;
        found.set(p.Name, p);
      }
      token = page.NextToken;
    } while (token);
    counts.set(path, count);
  }

  const named = paths.filter((p) => p !== '/' && !found.has(p));
  for (const names of chunks(named, NAMES_PER_CALL)) {
    const out = await attempt(store, `reading the parameters named ${names.join(', ')}`, () => ssm.send(new GetParametersCommand({ Names: names, WithDecryption: true })));
    for (const p of out.Parameters ?? []) if (p.Name) found.set(p.Name, p);
  }
  for (const path of paths) {
    const count = counts.get(path)! + (named.includes(path) && found.has(path) ? 1 : 0);
    if (count === 0) log.warn('configuration parameter path holds no parameters', { path });
    else log.info('configuration parameters read', { path, parameters: count });
  }

  const undescribed = [...found.values()].filter((p) => metadata.get(p.Name!)?.Version !== p.Version).map((p) => p.Name!);
  for (const names of chunks(undescribed, NAMES_PER_CALL)) {
    const out = await attempt(store, `describing the parameters ${names.join(', ')}`, () =>
      ssm.send(new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: names }], MaxResults: DESCRIBE_PAGE })),
    );
    for (const p of out.Parameters ?? []) if (p.Name) metadata.set(p.Name, p);
  }

  const parameters = [...found.values()].sort((a, b) => byName({ name: a.Name! }, { name: b.Name! }));
  const items = await mapLimit(parameters, CONCURRENCY, async (p): Promise<ConfigItem | undefined> => {
    const name = p.Name!;
    let tags;
    try {
      tags = await ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: name }));
    } catch (error) {
      if ((error as { name?: string })?.name !== 'InvalidResourceId') throw storeFailure(error, store, `listing the tags of ${name}`);
      log.warn('configuration parameter deleted while it was read: skipped', { parameter: name });
      return undefined;
    }
    const described = metadata.get(name);
    return {
      kind: 'parameter',
      name,
      type: p.Type as ParameterType,
      value: p.Value ?? '',
      version: String(p.Version),
      lastModified: iso(p.LastModifiedDate),
      tags: tagMap(tags.TagList),
      kmsKeyId: p.Type === 'SecureString' ? described?.KeyId : undefined,
      description: described?.Description,
    };
  });
  return items.filter((i): i is ConfigItem => i !== undefined);
}

// ---------------------------------------------------------------- Secrets Manager

/** What a secret's item takes from its description: DescribeSecret's answer and ListSecrets' entries agree on these. */
type SecretFacts = Pick<DescribeSecretResponse & SecretListEntry, 'ARN' | 'Name' | 'Description' | 'KmsKeyId' | 'Tags' | 'LastChangedDate'>;

const isNotFound = (error: unknown) => (error as { name?: string })?.name === 'ResourceNotFoundException';

/**
 * Each secret named by ARN (DescribeSecret: one that does not exist is an InvalidInputError naming it)
 * and each whose name begins with a prefix (ListSecrets with the name filter, a case-sensitive prefix
 * match, checked again here), then the AWSCURRENT value of each. A secret without a current value (created
 * empty) has nothing to back up: it is skipped and named in a warning.
 */
async function readSecrets(references: readonly string[], clients: ConfigClients, log: Logger): Promise<ConfigItem[]> {
  const sm = clients.secretsManager;
  const store = 'Secrets Manager';
  const secrets = new Map<string, SecretFacts>();

  for (const reference of references) {
    if (isSecretArn(reference)) {
      const described = await sm.send(new DescribeSecretCommand({ SecretId: reference })).catch((error: unknown) => {
        if (isNotFound(error)) {
          throw new InvalidInputError(`backup.sources.config.secrets names ${reference}, which does not exist: nothing was backed up.`, {
            component: COMPONENT,
            hint: 'Correct the ARN in backup.yaml (a recreated secret has a new ARN suffix), or name the secret by prefix.',
          });
        }
        throw storeFailure(error, store, `describing ${reference}`);
      });
      // A secret scheduled for deletion has no value to read (GetSecretValue refuses it) and is going away.
      if (described.DeletedDate) log.warn('configuration secret is scheduled for deletion: skipped', { secret: reference });
      else secrets.set(described.ARN!, described);
      continue;
    }
    let count = 0;
    let token: string | undefined;
    do {
      const page = await attempt(store, `listing the secrets named ${reference}*`, () =>
        sm.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [reference] }], MaxResults: 100, NextToken: token })),
      );
      for (const s of page.SecretList ?? []) {
        if (!s.ARN || !s.Name?.startsWith(reference)) continue;
        count++;
        secrets.set(s.ARN, s);
      }
      token = page.NextToken;
    } while (token);
    if (count === 0) log.warn('configuration secret prefix names no secrets', { prefix: reference });
    else log.info('configuration secrets listed', { prefix: reference, secrets: count });
  }

  const read = await mapLimit([...secrets.values()], CONCURRENCY, async (facts): Promise<ConfigItem | undefined> => {
    const name = facts.Name!;
    let value;
    try {
      value = await sm.send(new GetSecretValueCommand({ SecretId: facts.ARN, VersionStage: 'AWSCURRENT' }));
    } catch (error) {
      if (!isNotFound(error)) throw storeFailure(error, store, `reading the current value of ${name}`);
      // Created without a value, or deleted since it was listed.
      log.warn('configuration secret has no current value: skipped', { secret: name });
      return undefined;
    }
    const binary = value.SecretString === undefined && value.SecretBinary !== undefined;
    return {
      kind: 'secret',
      name,
      value: binary ? Buffer.from(value.SecretBinary!).toString('base64') : (value.SecretString ?? ''),
      ...(binary ? { encoding: 'base64' as const } : {}),
      version: value.VersionId ?? '',
      lastModified: iso(facts.LastChangedDate),
      tags: tagMap(facts.Tags),
      kmsKeyId: facts.KmsKeyId,
      stages: value.VersionStages ? [...value.VersionStages].sort() : undefined,
      description: facts.Description,
    };
  });
  const items = read.filter((i): i is ConfigItem => i !== undefined);
  log.info('configuration secrets read', { secrets: items.length });
  return items;
}

// ---------------------------------------------------------------- S3 files

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes as text when they are valid UTF-8 (a YAML or .env file stays readable), base64 otherwise. */
function fileValue(bytes: Uint8Array): Pick<ConfigItem, 'value' | 'encoding'> {
  try {
    return { value: utf8.decode(bytes) };
  } catch {
    return { value: Buffer.from(bytes).toString('base64'), encoding: 'base64' };
  }
}

/**
 * Each object under each location, as `s3://bucket/key`. The version is the S3 VersionId GetObject answers
 * with (a versioned bucket), else the ETag: both come with the bytes read, so they describe those bytes.
 * Keys ending in "/" with no bytes are the console's folder markers, not files.
 */
async function readFiles(locations: readonly ConfigFilesLocation[], clients: ConfigClients, log: Logger): Promise<ConfigItem[]> {
  const s3 = clients.s3;
  const items: ConfigItem[] = [];
  for (const { bucket, prefix } of locations) {
    const where = `s3://${bucket}/${prefix}`;
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token })).catch((error: unknown) => {
        if ((error as { name?: string })?.name === 'NoSuchBucket') {
          throw new InvalidInputError(`backup.sources.config.files names bucket ${bucket}, which does not exist: nothing was backed up.`, { component: COMPONENT, hint: 'Correct the bucket in backup.yaml.' });
        }
        throw storeFailure(error, 'S3', `listing ${where}`);
      });
      for (const object of page.Contents ?? []) if (object.Key && !(object.Key.endsWith('/') && !object.Size)) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const read = await mapLimit(keys, CONCURRENCY, async (key): Promise<ConfigItem | undefined> => {
      const name = `s3://${bucket}/${key}`;
      try {
        const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = await out.Body!.transformToByteArray();
        const versioned = out.VersionId !== undefined && out.VersionId !== 'null';
        return { kind: 'file', name, ...fileValue(bytes), version: versioned ? out.VersionId! : (out.ETag ?? '').replace(/"/g, ''), lastModified: iso(out.LastModified) };
      } catch (error) {
        if ((error as { name?: string })?.name !== 'NoSuchKey') throw storeFailure(error, 'S3', `reading ${name}`);
        log.warn('configuration file deleted while it was read: skipped', { file: name });
        return undefined;
      }
    });
    const files = read.filter((i): i is ConfigItem => i !== undefined);
    if (files.length === 0) log.warn('configuration file location holds no files', { location: where });
    else log.info('configuration files read', { location: where, files: files.length });
    items.push(...files);
  }
  return items;
}

// ---------------------------------------------------------------- all of it

/** Everything `source` names, read now; a location named twice (two overlapping paths) gives its items once. */
export async function readConfiguration(source: ConfigSourceConfig, clients: ConfigClients, log: Logger): Promise<ConfigItem[]> {
  const parameters = source.parameterPaths.length > 0 ? await readParameters(source.parameterPaths, clients, log) : [];
  const secrets = source.secrets.length > 0 ? await readSecrets(source.secrets, clients, log) : [];
  const files = source.files.length > 0 ? await readFiles(source.files, clients, log) : [];
  const unique = new Map([...parameters, ...secrets, ...files].map((item) => [itemKey(item), item]));
  const items = sortItems([...unique.values()]);
  log.info('configuration read', { parameters: parameters.length, secrets: secrets.length, files: files.length });
  return items;
}
