/**
 * A local stand-in for SSM Parameter Store, speaking its JSON 1.1 protocol over HTTP (POST /, header
 * X-Amz-Target: AmazonSSM.<Operation>, errors as {"__type", "message"}), for `@aws-sdk/client-ssm`
 * pointed at it with `endpoint`. Shapes and error names follow the SSM API reference:
 *
 * - PutParameter: String, StringList, SecureString (KeyId, default `alias/aws/ssm`, per version as SSM
 *   keeps it); Description; Tier Standard (4 KB) or Advanced (8 KB); Tags on create only (with Overwrite
 *   it is SSM's ValidationException); an existing name without Overwrite is ParameterAlreadyExists; a
 *   different Type on overwrite is HierarchyTypeMismatchException (Type may be left out to keep it);
 *   every write adds a version, at most 100 (the oldest unlabelled one is dropped, as SSM does).
 * - GetParameter / GetParameters (names, `name:version`, `name:label`, this account's ARNs), GetParametersByPath
 *   (Recursive; MaxResults ≤ 10; ParameterFilters Type, KeyId (Equals, BeginsWith) and Label (Equals)),
 *   GetParameterHistory (MaxResults ≤ 50): without WithDecryption a SecureString's Value is a random
 *   ciphertext-like base64 blob drawn when the version was written, never derived from the plaintext.
 * - LabelParameterVersion (labels move between versions; invalid labels are answered in InvalidLabels;
 *   10 per version), DeleteParameter, DescribeParameters (MaxResults ≤ 50; ParameterFilters Name, Type,
 *   KeyId, Path, tag:<key>), AddTagsToResource / ListTagsForResource (ResourceType Parameter only).
 * - Listings are sorted by name; NextToken is opaque and names the last item returned.
 * - Timestamps are epoch seconds (with milliseconds), as the service sends them.
 *
 * Limits of the substitute: signatures are not verified (any SigV4 credentials pass; `calls` records
 * whether a request was SigV4-signed for ssm), no IAM or parameter policies, KeyId is not checked against
 * KMS and nothing is really encrypted, AllowedPattern, Policies and data types other than `text` are
 * refused, parameters live in memory and are lost when it stops, only the operations listed exist.
 * Faults: `failNext(n, status, type)` answers the next n calls with that error (default 400
 * ThrottlingException, which the SDK's standard retry retries). Seeding: `put` writes a parameter
 * without a request (not recorded in `calls`, not subject to faults).
 */
import { randomBytes } from 'node:crypto';
import { ACCOUNT, AwsJsonError, REGION, epochSeconds, maxResults, page, requiredString, startJsonService, tagList, type JsonService } from './aws-json-service';

export type ParameterType = 'String' | 'StringList' | 'SecureString';

export interface SeedOptions {
  /** @default the parameter's current type, 'String' for a new one */
  type?: ParameterType;
  /** For a SecureString. @default 'alias/aws/ssm' */
  keyId?: string;
  /** Applied when the parameter is created. */
  tags?: Record<string, string>;
  description?: string;
}

export interface SsmServer extends JsonService {
  /** Writes a parameter as PutParameter with Overwrite would (tags only when it is new); returns its version. */
  put(name: string, value: string, options?: SeedOptions): number;
}

const DEFAULT_KEY = 'alias/aws/ssm';
const MAX_VERSIONS = 100;
const TYPES: readonly string[] = ['String', 'StringList', 'SecureString'];
const LAST_MODIFIED_USER = `arn:aws:iam::${ACCOUNT}:user/nca-backup-test`;

interface Version {
  version: number;
  type: ParameterType;
  value: string;
  /** What a SecureString's Value reads as without WithDecryption. */
  ciphertext?: string;
  keyId?: string;
  description?: string;
  tier: 'Standard' | 'Advanced';
  modified: number;
  labels: string[];
}

interface Parameter {
  name: string;
  versions: Version[];
  tags: Map<string, string>;
}

const err = (type: string, message: string) => new AwsJsonError(type, message);
const notFound = (name: string) => err('ParameterNotFound', `Parameter ${name} not found.`);

function checkName(name: string): void {
  if (name.length > 2048 || !/^[a-zA-Z0-9_.\-/]+$/.test(name) || (name.startsWith('/') && (name.endsWith('/') || name.includes('//')))) {
    throw err('ValidationException', `Parameter name: ${name} is not valid: use letters, numbers and _ . - /, and a hierarchy without empty levels`);
  }
  if (/^\/?(aws|ssm)/i.test(name)) throw err('ValidationException', `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive).`);
  if (name.startsWith('/') && name.split('/').length - 1 > 15) throw err('HierarchyLevelLimitExceededException', 'A hierarchy can have a maximum of 15 levels.');
}

function labelIsValid(label: string): boolean {
  return label.length <= 100 && /^[a-zA-Z0-9_.-]+$/.test(label) && !/^[0-9]/.test(label) && !/^(aws|ssm)/i.test(label);
}

const arnOf = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter${name.startsWith('/') ? name : `/${name}`}`;

export async function startSsmServer(): Promise<SsmServer> {
  const parameters = new Map<string, Parameter>();

  const sorted = () => [...parameters.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const latest = (p: Parameter) => p.versions[p.versions.length - 1];

  /** `name`, `name:3`, `name:label` or this account's ARN of one of those. */
  const resolve = (reference: string): { parameter: Parameter; version: Version; selector?: string } => {
    let rest = reference;
    const arnPrefix = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/`;
    if (rest.startsWith(arnPrefix)) rest = rest.slice(arnPrefix.length);
    const colon = rest.lastIndexOf(':');
    const selector = colon >= 0 ? rest.slice(colon + 1) : undefined;
    let name = colon >= 0 ? rest.slice(0, colon) : rest;
    if (reference.startsWith(arnPrefix) && !parameters.has(name)) name = `/${name}`;
    const parameter = parameters.get(name);
    if (!parameter) throw notFound(reference);
    if (selector === undefined) return { parameter, version: latest(parameter) };
    if (/^[0-9]+$/.test(selector)) {
      const version = parameter.versions.find((v) => v.version === Number(selector));
      if (!version) throw err('ParameterVersionNotFound', `Systems Manager could not find version ${selector} of ${name}. Verify the version and try again.`);
      return { parameter, version, selector: `:${selector}` };
    }
    const version = parameter.versions.find((v) => v.labels.includes(selector));
    if (!version) throw notFound(reference);
    return { parameter, version, selector: `:${selector}` };
  };

  const shown = (v: Version, decrypt: boolean) => (v.type === 'SecureString' && !decrypt ? v.ciphertext! : v.value);
  const parameterOut = (p: Parameter, v: Version, decrypt: boolean, selector?: string) => ({
    Name: p.name,
    Type: v.type,
    Value: shown(v, decrypt),
    Version: v.version,
    ...(selector ? { Selector: selector } : {}),
    LastModifiedDate: epochSeconds(v.modified),
    ARN: arnOf(p.name),
    DataType: 'text',
  });

  const write = (input: {
    name: string;
    value: unknown;
    type: unknown;
    keyId: unknown;
    description: unknown;
    tier: unknown;
    overwrite: boolean;
    tags: { Key: string; Value: string }[];
  }): { version: number; tier: string } => {
    checkName(input.name);
    if (typeof input.value !== 'string' || input.value === '') throw err('ValidationException', 'Value is required and may not be empty');
    if (input.type !== undefined && !TYPES.includes(String(input.type))) {
      throw err('ValidationException', `1 validation error detected: Value '${String(input.type)}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]`);
    }
    const existing = parameters.get(input.name);
    if (existing && !input.overwrite) throw err('ParameterAlreadyExists', 'The parameter already exists. To overwrite this value, set the overwrite option in the request to true.');
    if (!existing && input.type === undefined) throw err('ValidationException', 'A parameter type is required when you create a parameter.');
    const type = (input.type ?? latest(existing!).type) as ParameterType;
    if (existing && type !== latest(existing).type) {
      throw err('HierarchyTypeMismatchException', `Parameter Store doesn't support changing a parameter type in a hierarchy. For example, you can't change a parameter from a String type to a SecureString type. You must create a new, unique parameter.`);
    }
    if (input.keyId !== undefined && (type !== 'SecureString' || typeof input.keyId !== 'string' || input.keyId === '')) {
      throw err('ValidationException', 'KeyId can only be given, as a non-empty string, for a SecureString parameter.');
    }
    const tier = input.tier ?? (existing ? latest(existing).tier : 'Standard');
    if (tier !== 'Standard' && tier !== 'Advanced') throw err('ValidationException', `Tier ${String(tier)} is not supported by this substitute (Standard, Advanced)`);
    const limit = tier === 'Advanced' ? 8192 : 4096;
    if (Buffer.byteLength(input.value) > limit) throw err('ValidationException', `Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.`);
    if (input.description !== undefined && typeof input.description !== 'string') throw err('ValidationException', 'Description must be a string');

    const parameter = existing ?? { name: input.name, versions: [], tags: new Map(input.tags.map((t) => [t.Key, t.Value])) };
    if (parameter.versions.length >= MAX_VERSIONS) {
      const oldest = parameter.versions[0];
      if (oldest.labels.length > 0) {
        throw err('ParameterMaxVersionLimitExceeded', `You attempted to create a new version of ${input.name} by calling the PutParameter API with the overwrite flag. Version ${oldest.version}, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.`);
      }
      parameter.versions.shift();
    }
    const previous = existing ? latest(existing) : undefined;
    const version: Version = {
      version: (previous?.version ?? 0) + 1,
      type,
      value: input.value,
      ciphertext: type === 'SecureString' ? Buffer.concat([Buffer.from([1, 2, 2, 0]), randomBytes(96)]).toString('base64') : undefined,
      keyId: type === 'SecureString' ? ((input.keyId as string | undefined) ?? DEFAULT_KEY) : undefined,
      description: (input.description as string | undefined) ?? previous?.description,
      tier,
      modified: Date.now(),
      labels: [],
    };
    parameter.versions.push(version);
    parameters.set(input.name, parameter);
    return { version: version.version, tier };
  };

  const pathMatch = (name: string, path: string, recursive: boolean) => {
    const base = path === '/' ? '/' : `${path.replace(/\/$/, '')}/`;
    if (!name.startsWith(base)) return false;
    return recursive || !name.slice(base.length).includes('/');
  };

  const filters = (value: unknown, allowed: Record<string, readonly string[]>, defaults: Record<string, string>) => {
    if (value === undefined) return [];
    if (!Array.isArray(value)) throw err('ValidationException', 'ParameterFilters must be a list');
    return value.map((f: { Key?: unknown; Option?: unknown; Values?: unknown }) => {
      const key = String(f?.Key);
      const kind = key.startsWith('tag:') ? 'tag:' : key;
      const options = Object.hasOwn(allowed, kind) ? allowed[kind] : undefined;
      if (!options) throw err('InvalidFilterKey', `The filter key ${key} is not valid for this operation (this substitute supports ${Object.keys(allowed).join(', ')}).`);
      const option = f.Option === undefined ? defaults[kind] ?? 'Equals' : String(f.Option);
      if (!options.includes(option)) throw err('InvalidFilterOption', `The filter option ${option} is not valid for key ${key}. Valid options: ${options.join(', ')}.`);
      const values = f.Values === undefined ? [] : f.Values;
      if (!Array.isArray(values) || values.some((v) => typeof v !== 'string') || (values.length === 0 && kind !== 'tag:')) {
        throw err('InvalidFilterValue', `The filter ${key} needs one or more string Values.`);
      }
      return { key, kind, option, values: values as string[] };
    });
  };
  const matches = (option: string, actual: string | undefined, wanted: string[]) =>
    actual !== undefined && wanted.some((w) => (option === 'BeginsWith' ? actual.startsWith(w) : option === 'Contains' ? actual.includes(w) : actual === w));

  const operations = {
    PutParameter(input: Record<string, unknown>) {
      for (const unsupported of ['AllowedPattern', 'Policies']) {
        if (input[unsupported] !== undefined) throw err('ValidationException', `${unsupported} is not supported by this substitute`);
      }
      if (input.DataType !== undefined && input.DataType !== 'text') throw err('ValidationException', `DataType ${String(input.DataType)} is not supported by this substitute (text only)`);
      const tags = tagList(input.Tags);
      const overwrite = input.Overwrite === true;
      if (overwrite && tags.length > 0) {
        throw err('ValidationException', `Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.`);
      }
      const written = write({ name: requiredString(input, 'Name'), value: input.Value, type: input.Type, keyId: input.KeyId, description: input.Description, tier: input.Tier, overwrite, tags });
      return { Version: written.version, Tier: written.tier };
    },
    GetParameter(input: Record<string, unknown>) {
      const { parameter, version, selector } = resolve(requiredString(input, 'Name'));
      return { Parameter: parameterOut(parameter, version, input.WithDecryption === true, selector) };
    },
    GetParameters(input: Record<string, unknown>) {
      const names = input.Names;
      if (!Array.isArray(names) || names.length < 1 || names.length > 10 || names.some((n) => typeof n !== 'string')) {
        throw err('ValidationException', '1 validation error detected: Names must hold 1 to 10 parameter names');
      }
      const found: unknown[] = [];
      const invalid: string[] = [];
      for (const name of names as string[]) {
        try {
          const { parameter, version, selector } = resolve(name);
          found.push(parameterOut(parameter, version, input.WithDecryption === true, selector));
        } catch (error) {
          if (!(error instanceof AwsJsonError) || !/^ParameterNotFound$|^ParameterVersionNotFound$/.test(error.type)) throw error;
          invalid.push(name);
        }
      }
      return { Parameters: found, InvalidParameters: invalid };
    },
    GetParametersByPath(input: Record<string, unknown>) {
      const path = requiredString(input, 'Path');
      if (!path.startsWith('/') || path.includes('//')) throw err('ValidationException', `The parameter path ${path} is not valid: a path begins with / and has no empty levels.`);
      // A Label filter chooses the version the other filters then look at.
      const chosen = filters(input.ParameterFilters, { Type: ['Equals', 'BeginsWith'], KeyId: ['Equals', 'BeginsWith'], Label: ['Equals'] }, {}).sort(
        (a, b) => Number(b.kind === 'Label') - Number(a.kind === 'Label'),
      );
      const selected: { parameter: Parameter; version: Version; selector?: string }[] = [];
      for (const parameter of sorted()) {
        if (!pathMatch(parameter.name, path, input.Recursive === true)) continue;
        let version = latest(parameter);
        let selector: string | undefined;
        const keep = chosen.every((f) => {
          if (f.kind === 'Label') {
            const labelled = parameter.versions.find((v) => v.labels.some((l) => f.values.includes(l)));
            if (labelled) [version, selector] = [labelled, `:${labelled.labels.find((l) => f.values.includes(l))}`];
            return labelled !== undefined;
          }
          return matches(f.option, f.kind === 'Type' ? version.type : version.keyId, f.values);
        });
        if (keep) selected.push({ parameter, version, selector });
      }
      const result = page(selected, (s) => s.parameter.name, { maxResults: maxResults(input.MaxResults, 10, 10), nextToken: input.NextToken }, 'InvalidNextToken');
      return {
        Parameters: result.items.map((s) => parameterOut(s.parameter, s.version, input.WithDecryption === true, s.selector)),
        ...(result.nextToken ? { NextToken: result.nextToken } : {}),
      };
    },
    GetParameterHistory(input: Record<string, unknown>) {
      const name = requiredString(input, 'Name');
      const parameter = parameters.get(name);
      if (!parameter) throw notFound(name);
      const result = page(parameter.versions, (v) => v.version, { maxResults: maxResults(input.MaxResults, 50, 50), nextToken: input.NextToken }, 'InvalidNextToken');
      return {
        Parameters: result.items.map((v) => ({
          Name: parameter.name,
          Type: v.type,
          ...(v.keyId ? { KeyId: v.keyId } : {}),
          LastModifiedDate: epochSeconds(v.modified),
          LastModifiedUser: LAST_MODIFIED_USER,
          ...(v.description !== undefined ? { Description: v.description } : {}),
          Value: shown(v, input.WithDecryption === true),
          Version: v.version,
          Labels: [...v.labels],
          Tier: v.tier,
          Policies: [],
          DataType: 'text',
        })),
        ...(result.nextToken ? { NextToken: result.nextToken } : {}),
      };
    },
    LabelParameterVersion(input: Record<string, unknown>) {
      const name = requiredString(input, 'Name');
      const parameter = parameters.get(name);
      if (!parameter) throw notFound(name);
      const labels = input.Labels;
      if (!Array.isArray(labels) || labels.length < 1 || labels.length > 10 || labels.some((l) => typeof l !== 'string')) {
        throw err('ValidationException', '1 validation error detected: Labels must hold 1 to 10 labels');
      }
      const wanted = input.ParameterVersion === undefined ? latest(parameter).version : input.ParameterVersion;
      const version = parameter.versions.find((v) => v.version === wanted);
      if (!version) throw err('ParameterVersionNotFound', `Systems Manager could not find version ${String(wanted)} of ${name}. Verify the version and try again.`);
      const valid = (labels as string[]).filter(labelIsValid);
      const invalid = (labels as string[]).filter((l) => !labelIsValid(l));
      const after = new Set([...version.labels, ...valid]);
      if (after.size > 10) throw err('ParameterVersionLabelLimitExceeded', 'A parameter version can have a maximum of ten labels.');
      for (const other of parameter.versions) other.labels = other.labels.filter((l) => other === version || !valid.includes(l));
      version.labels = [...after];
      return { InvalidLabels: invalid, ParameterVersion: version.version };
    },
    DeleteParameter(input: Record<string, unknown>) {
      const name = requiredString(input, 'Name');
      if (!parameters.delete(name)) throw notFound(name);
      return {};
    },
    DescribeParameters(input: Record<string, unknown>) {
      if (input.Filters !== undefined) throw err('ValidationException', 'Filters is deprecated and not supported by this substitute: use ParameterFilters');
      if (input.Shared === true) throw err('ValidationException', 'Shared parameters are not supported by this substitute');
      const chosen = filters(
        input.ParameterFilters,
        { Name: ['Equals', 'BeginsWith', 'Contains'], Type: ['Equals', 'BeginsWith'], KeyId: ['Equals', 'BeginsWith'], Path: ['Recursive', 'OneLevel'], 'tag:': ['Equals'] },
        { Path: 'OneLevel' },
      );
      const selected = sorted().filter((p) => {
        const v = latest(p);
        return chosen.every((f) => {
          if (f.kind === 'Path') return f.values.some((path) => pathMatch(p.name, path, f.option === 'Recursive'));
          if (f.kind === 'tag:') {
            const value = p.tags.get(f.key.slice('tag:'.length));
            return value !== undefined && (f.values.length === 0 || f.values.includes(value));
          }
          return matches(f.option, f.kind === 'Name' ? p.name : f.kind === 'Type' ? v.type : v.keyId, f.values);
        });
      });
      const result = page(selected, (p) => p.name, { maxResults: maxResults(input.MaxResults, 50, 10), nextToken: input.NextToken }, 'InvalidNextToken');
      return {
        Parameters: result.items.map((p) => {
          const v = latest(p);
          return {
            Name: p.name,
            ARN: arnOf(p.name),
            Type: v.type,
            ...(v.keyId ? { KeyId: v.keyId } : {}),
            LastModifiedDate: epochSeconds(v.modified),
            LastModifiedUser: LAST_MODIFIED_USER,
            ...(v.description !== undefined ? { Description: v.description } : {}),
            Version: v.version,
            Tier: v.tier,
            Policies: [],
            DataType: 'text',
          };
        }),
        ...(result.nextToken ? { NextToken: result.nextToken } : {}),
      };
    },
    AddTagsToResource(input: Record<string, unknown>) {
      const parameter = tagged(input);
      const tags = tagList(input.Tags);
      if (tags.length === 0) throw err('ValidationException', 'Tags must hold at least one tag');
      const merged = new Map(parameter.tags);
      for (const tag of tags) merged.set(tag.Key, tag.Value);
      if (merged.size > 50) throw err('TooManyTagsError', 'The Targets parameter includes too many tags. Remove one or more tags and try the command again.');
      parameter.tags = merged;
      return {};
    },
    ListTagsForResource(input: Record<string, unknown>) {
      return { TagList: [...tagged(input).tags].map(([Key, Value]) => ({ Key, Value })) };
    },
  };

  function tagged(input: Record<string, unknown>): Parameter {
    if (input.ResourceType !== 'Parameter') throw err('InvalidResourceType', `The resource type ${String(input.ResourceType)} is not supported by this substitute (Parameter only).`);
    const id = requiredString(input, 'ResourceId');
    const parameter = parameters.get(id);
    if (!parameter) throw err('InvalidResourceId', `The resource ID "${id}" is not valid. Verify the ID and try again.`);
    return parameter;
  }

  const service = await startJsonService({
    targetPrefix: 'AmazonSSM',
    signingName: 'ssm',
    messageMember: 'message',
    operations,
    nameOf: (input) => [input.Name, input.Path, input.ResourceId].find((v): v is string => typeof v === 'string'),
  });
  return {
    ...service,
    put(name, value, options = {}) {
      const existing = parameters.has(name);
      const tags = Object.entries(options.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
      const written = write({ name, value, type: options.type ?? (existing ? undefined : 'String'), keyId: options.keyId, description: options.description, tier: undefined, overwrite: true, tags: existing ? [] : tags });
      return written.version;
    },
  };
}
