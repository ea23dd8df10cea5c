/**
 * A local stand-in for AWS Secrets Manager, speaking its JSON 1.1 protocol over HTTP (POST /, header
 * X-Amz-Target: secretsmanager.<Operation>, errors as {"__type", "Message"}), for
 * `@aws-sdk/client-secrets-manager` pointed at it with `endpoint`. Shapes and error names follow the
 * Secrets Manager API reference:
 *
 * - CreateSecret (Name, Description, KmsKeyId, Tags, SecretString or SecretBinary; a name in use is
 *   ResourceExistsException), ARNs as the service makes them: `arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 random>`.
 * - PutSecretValue and UpdateSecret with a value: a new version whose id is the ClientRequestToken (the SDK
 *   fills it in); the same token again with the same value is a no-op, with another value
 *   ResourceExistsException. VersionStages default to AWSCURRENT; a stage moves off the version that had it,
 *   and the version AWSCURRENT leaves gets AWSPREVIOUS. UpdateSecret also changes Description and KmsKeyId.
 * - GetSecretValue by name, full ARN or partial ARN (no random suffix), VersionId and/or VersionStage
 *   (default AWSCURRENT); an unknown secret, version or stage is ResourceNotFoundException.
 * - DescribeSecret (VersionIdsToStages of the versions that still have a stage, Tags, KmsKeyId, which is
 *   left out for the default `aws/secretsmanager` key as the service does, LastChangedDate, LastAccessedDate
 *   as a day), ListSecrets (MaxResults ≤ 100, NextToken, Filters name / tag-key / tag-value as case-sensitive
 *   prefixes with `!` negation, SortBy created-date or name, SortOrder; by creation, oldest first, by
 *   default), TagResource (merges by key, at most 50), DeleteSecret (RecoveryWindowInDays 7-30, default 30:
 *   the secret is kept, unlisted, and every operation but DescribeSecret answers InvalidRequestException;
 *   ForceDeleteWithoutRecovery removes it).
 * - Timestamps are epoch seconds (with milliseconds), as the service sends them.
 *
 * Limits of the substitute: signatures are not verified (any SigV4 credentials pass; `calls` records
 * whether a request was SigV4-signed for secretsmanager), no IAM or resource policies, KmsKeyId is not
 * checked against KMS and nothing is encrypted, no rotation, replication, restoring a deleted secret
 * (RestoreSecret) or version clean-up (versions without a stage are kept), secrets live in memory and are lost when it stops, only the
 * operations listed exist. Faults: `failNext(n, status, type)` answers the next n calls with that error
 * (default 400 ThrottlingException, which the SDK's standard retry retries). Seeding: `create` makes a
 * secret without a request (not recorded in `calls`, not subject to faults).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ACCOUNT, AwsJsonError, REGION, epochSeconds, maxResults, page, requiredString, startJsonService, tagList, type JsonService } from './aws-json-service';

export interface SecretSeedOptions {
  /** @default the account's aws/secretsmanager key (left out of DescribeSecret) */
  kmsKeyId?: string;
  tags?: Record<string, string>;
  description?: string;
}

export interface SecretsManagerServer extends JsonService {
  /** Creates a secret whose AWSCURRENT version holds `value`; returns its ARN. */
  create(name: string, value: string | Uint8Array, options?: SecretSeedOptions): string;
}

interface SecretVersion {
  id: string;
  string?: string;
  binary?: Buffer;
  stages: string[];
  created: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  kmsKeyId?: string;
  tags: Map<string, string>;
  versions: SecretVersion[];
  created: number;
  /** Creation order, the default listing order (timestamps can tie). */
  sequence: number;
  lastChanged: number;
  lastAccessed?: number;
  /** Scheduled for deletion (DeleteSecret with a recovery window) at this time: unreadable, unlisted. */
  deletedDate?: number;
}

const err = (type: string, message: string) => new AwsJsonError(type, message);
const SUFFIX_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const ARN_PREFIX = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:`;

const suffix = () => [...randomBytes(6)].map((b) => SUFFIX_CHARS[b % SUFFIX_CHARS.length]).join('');
const day = (ms: number) => Math.floor(ms / 86_400_000) * 86_400_000;
const same = (a: { string?: string; binary?: Buffer }, b: { string?: string; binary?: Buffer }) =>
  a.string === b.string && (a.binary === undefined ? b.binary === undefined : b.binary !== undefined && a.binary.equals(b.binary));

/** SecretString or SecretBinary (base64 on the wire), exactly one when `required`. */
function valueOf(input: Record<string, unknown>, required: boolean): { string?: string; binary?: Buffer } | undefined {
  const hasString = input.SecretString !== undefined;
  const hasBinary = input.SecretBinary !== undefined;
  if (hasString && hasBinary) throw err('InvalidParameterException', "You can't specify both a binary secret value and a string secret value in the same secret.");
  if (!hasString && !hasBinary) {
    if (required) throw err('InvalidRequestException', 'You must provide either SecretString or SecretBinary.');
    return undefined;
  }
  if (hasString) {
    if (typeof input.SecretString !== 'string') throw err('InvalidParameterException', 'SecretString must be a string');
    return { string: input.SecretString };
  }
  if (typeof input.SecretBinary !== 'string') throw err('InvalidParameterException', 'SecretBinary must be base64');
  return { binary: Buffer.from(input.SecretBinary, 'base64') };
}

export async function startSecretsManagerServer(): Promise<SecretsManagerServer> {
  const secrets = new Map<string, Secret>();
  let sequence = 0;

  const find = (secretId: string): Secret => {
    const byName = secrets.get(secretId);
    if (byName) return byName;
    for (const secret of secrets.values()) {
      // A partial ARN is the full one without its random suffix.
      if (secret.arn === secretId || `${ARN_PREFIX}${secret.name}` === secretId) return secret;
    }
    throw err('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
  };

  /** A secret scheduled for deletion answers every operation but DescribeSecret this way, as the service does. */
  const live = (secretId: string): Secret => {
    const secret = find(secretId);
    if (secret.deletedDate !== undefined) throw err('InvalidRequestException', "You can't perform this operation on the secret because it was marked for deletion.");
    return secret;
  };

  const stage = (secret: Secret, version: SecretVersion, stages: string[]) => {
    const current = secret.versions.find((v) => v.stages.includes('AWSCURRENT'));
    for (const label of stages) {
      for (const other of secret.versions) if (other !== version) other.stages = other.stages.filter((s) => s !== label);
      if (!version.stages.includes(label)) version.stages.push(label);
    }
    if (stages.includes('AWSCURRENT') && current && current !== version) {
      for (const other of secret.versions) other.stages = other.stages.filter((s) => s !== 'AWSPREVIOUS');
      current.stages.push('AWSPREVIOUS');
    }
  };

  /** Adds a version (or finds the one this token already made); the secret changed when it is new. */
  const addVersion = (secret: Secret, token: unknown, value: { string?: string; binary?: Buffer }, stages: unknown): SecretVersion => {
    if (token !== undefined && (typeof token !== 'string' || token.length < 32 || token.length > 64)) {
      throw err('InvalidParameterException', 'ClientRequestToken must be 32 to 64 characters');
    }
    const id = (token as string | undefined) ?? randomUUID();
    const labels = stages === undefined ? ['AWSCURRENT'] : stages;
    if (!Array.isArray(labels) || labels.length < 1 || labels.length > 20 || labels.some((s) => typeof s !== 'string' || s === '')) {
      throw err('InvalidParameterException', 'VersionStages must hold 1 to 20 staging labels');
    }
    const existing = secret.versions.find((v) => v.id === id);
    if (existing) {
      if (!same(existing, value)) throw err('ResourceExistsException', `A version with the ID ${id} already exists with a different value: you can't modify a secret version.`);
      return existing;
    }
    const version: SecretVersion = { id, ...value, stages: [], created: Date.now() };
    secret.versions.push(version);
    stage(secret, version, labels as string[]);
    secret.lastChanged = Date.now();
    return version;
  };

  const create = (input: Record<string, unknown>) => {
    const name = requiredString(input, 'Name', 'InvalidParameterException');
    if (name.length > 512 || !/^[a-zA-Z0-9/_+=.@-]+$/.test(name)) {
      throw err('ValidationException', `Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!`);
    }
    if (secrets.get(name)?.deletedDate !== undefined) throw err('InvalidRequestException', `You can't create this secret because a secret with this name is already scheduled for deletion.`);
    if (secrets.has(name)) throw err('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
    for (const field of ['AddReplicaRegions', 'Type'] as const) {
      if (input[field] !== undefined) throw err('InvalidParameterException', `${field} is not supported by this substitute`);
    }
    const value = valueOf(input, false);
    const now = Date.now();
    const secret: Secret = {
      arn: `${ARN_PREFIX}${name}-${suffix()}`,
      name,
      description: typeof input.Description === 'string' ? input.Description : undefined,
      kmsKeyId: typeof input.KmsKeyId === 'string' && input.KmsKeyId !== '' ? input.KmsKeyId : undefined,
      tags: new Map(tagList(input.Tags, 'InvalidParameterException').map((t) => [t.Key, t.Value])),
      versions: [],
      created: now,
      sequence: sequence++,
      lastChanged: now,
    };
    const version = value ? addVersion(secret, input.ClientRequestToken, value, undefined) : undefined;
    secrets.set(name, secret);
    return { secret, version };
  };

  const tagsOut = (secret: Secret) => (secret.tags.size > 0 ? { Tags: [...secret.tags].map(([Key, Value]) => ({ Key, Value })) } : {});
  const stagesOf = (secret: Secret) => Object.fromEntries(secret.versions.filter((v) => v.stages.length > 0).map((v) => [v.id, [...v.stages]]));
  const described = (secret: Secret) => ({
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description !== undefined ? { Description: secret.description } : {}),
    ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
    LastChangedDate: epochSeconds(secret.lastChanged),
    ...(secret.lastAccessed !== undefined ? { LastAccessedDate: epochSeconds(secret.lastAccessed) } : {}),
    ...tagsOut(secret),
    CreatedDate: epochSeconds(secret.created),
    ...(secret.deletedDate !== undefined ? { DeletedDate: epochSeconds(secret.deletedDate) } : {}),
  });

  const listFilters = (value: unknown) => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw err('InvalidParameterException', 'Filters must be a list');
    return value.map((f: { Key?: unknown; Values?: unknown }) => {
      if (f?.Key !== 'name' && f?.Key !== 'tag-key' && f?.Key !== 'tag-value') {
        throw err('InvalidParameterException', `Filter key ${String(f?.Key)} is not supported by this substitute (name, tag-key, tag-value)`);
      }
      if (!Array.isArray(f.Values) || f.Values.length < 1 || f.Values.some((v) => typeof v !== 'string' || v === '' || v === '!')) {
        throw err('InvalidParameterException', `Filter ${f.Key} needs one or more non-empty Values`);
      }
      return { key: f.Key, values: f.Values as string[] };
    });
  };
  const filterKeeps = (secret: Secret, filter: { key: string; values: string[] }) => {
    const fields = filter.key === 'name' ? [secret.name] : filter.key === 'tag-key' ? [...secret.tags.keys()] : [...secret.tags.values()];
    const positive = filter.values.filter((v) => !v.startsWith('!'));
    const negative = filter.values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
    const prefixed = (wanted: string) => fields.some((field) => field.startsWith(wanted));
    return (positive.length === 0 || positive.some(prefixed)) && !negative.some(prefixed);
  };

  const operations = {
    CreateSecret(input: Record<string, unknown>) {
      const { secret, version } = create(input);
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
    },
    PutSecretValue(input: Record<string, unknown>) {
      const secret = live(requiredString(input, 'SecretId', 'InvalidParameterException'));
      if (input.RotationToken !== undefined) throw err('InvalidParameterException', 'RotationToken is not supported by this substitute');
      const version = addVersion(secret, input.ClientRequestToken, valueOf(input, true)!, input.VersionStages);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
    },
    UpdateSecret(input: Record<string, unknown>) {
      const secret = live(requiredString(input, 'SecretId', 'InvalidParameterException'));
      if (input.Type !== undefined) throw err('InvalidParameterException', 'Type is not supported by this substitute');
      const value = valueOf(input, false);
      if (typeof input.Description === 'string') secret.description = input.Description;
      if (typeof input.KmsKeyId === 'string' && input.KmsKeyId !== '') secret.kmsKeyId = input.KmsKeyId;
      const version = value ? addVersion(secret, input.ClientRequestToken, value, undefined) : undefined;
      secret.lastChanged = Date.now();
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.id } : {}) };
    },
    GetSecretValue(input: Record<string, unknown>) {
      const secret = live(requiredString(input, 'SecretId', 'InvalidParameterException'));
      const versionId = input.VersionId as string | undefined;
      const versionStage = input.VersionStage as string | undefined;
      const wantedStage = versionId === undefined && versionStage === undefined ? 'AWSCURRENT' : versionStage;
      const version = secret.versions.find((v) => (versionId === undefined || v.id === versionId) && (wantedStage === undefined || v.stages.includes(wantedStage)));
      if (!version) {
        const asked = [versionId !== undefined ? `VersionId: ${versionId}` : '', wantedStage !== undefined ? `staging label: ${wantedStage}` : ''].filter(Boolean).join(' and ');
        throw err('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for ${asked}`);
      }
      secret.lastAccessed = day(Date.now());
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        ...(version.string !== undefined ? { SecretString: version.string } : { SecretBinary: version.binary!.toString('base64') }),
        VersionStages: [...version.stages],
        CreatedDate: epochSeconds(version.created),
      };
    },
    DescribeSecret(input: Record<string, unknown>) {
      const secret = find(requiredString(input, 'SecretId', 'InvalidParameterException'));
      return { ...described(secret), VersionIdsToStages: stagesOf(secret) };
    },
    ListSecrets(input: Record<string, unknown>) {
      const sortBy = input.SortBy ?? 'created-date';
      if (sortBy !== 'created-date' && sortBy !== 'name') throw err('InvalidParameterException', `SortBy ${String(sortBy)} is not supported by this substitute (created-date, name)`);
      if (input.SortOrder !== undefined && input.SortOrder !== 'asc' && input.SortOrder !== 'desc') throw err('ValidationException', `SortOrder must be asc or desc`);
      const descending = input.SortOrder === 'desc';
      const chosen = listFilters(input.Filters);
      const keyOf = (s: Secret): string | number => (sortBy === 'name' ? s.name : s.sequence);
      const selected = [...secrets.values()]
        .filter((s) => (s.deletedDate === undefined || input.IncludePlannedDeletion === true) && chosen.every((f) => filterKeeps(s, f)))
        .sort((a, b) => {
          const [x, y] = [keyOf(a), keyOf(b)];
          return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
        });
      const result = page(selected, keyOf, { maxResults: maxResults(input.MaxResults, 100, 100), nextToken: input.NextToken, descending }, 'InvalidNextTokenException');
      return {
        SecretList: result.items.map((s) => ({ ...described(s), SecretVersionsToStages: stagesOf(s) })),
        ...(result.nextToken ? { NextToken: result.nextToken } : {}),
      };
    },
    DeleteSecret(input: Record<string, unknown>) {
      const secret = live(requiredString(input, 'SecretId', 'InvalidParameterException'));
      const force = input.ForceDeleteWithoutRecovery === true;
      if (force && input.RecoveryWindowInDays !== undefined) {
        throw err('InvalidParameterException', "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      }
      const days = input.RecoveryWindowInDays ?? 30;
      if (!force && (typeof days !== 'number' || !Number.isInteger(days) || days < 7 || days > 30)) {
        throw err('InvalidParameterException', 'RecoveryWindowInDays must be a whole number from 7 to 30.');
      }
      const at = force ? Date.now() : Date.now() + (days as number) * 86_400_000;
      if (force) secrets.delete(secret.name);
      else secret.deletedDate = at;
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(at) };
    },
    TagResource(input: Record<string, unknown>) {
      const secret = live(requiredString(input, 'SecretId', 'InvalidParameterException'));
      const tags = tagList(input.Tags, 'InvalidParameterException');
      const merged = new Map(secret.tags);
      for (const tag of tags) merged.set(tag.Key, tag.Value);
      if (merged.size > 50) throw err('LimitExceededException', 'A secret can have at most 50 tags.');
      secret.tags = merged;
      secret.lastChanged = Date.now();
      return {};
    },
  };

  const service = await startJsonService({
    targetPrefix: 'secretsmanager',
    signingName: 'secretsmanager',
    messageMember: 'Message',
    operations,
    nameOf: (input) => [input.SecretId, input.Name].find((v): v is string => typeof v === 'string'),
  });
  return {
    ...service,
    create(name, value, options = {}) {
      const tags = Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
      const secretValue = typeof value === 'string' ? { SecretString: value } : { SecretBinary: Buffer.from(value).toString('base64') };
      return create({ Name: name, ...secretValue, KmsKeyId: options.kmsKeyId, Tags: tags, Description: options.description }).secret.arn;
    },
  };
}
