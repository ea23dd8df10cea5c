/**
 * The config component (the runbook's configuration: environment configurations, system parameters,
 * integration and security settings) as the configuration, the CLI and the control plane see it
 * (config/component.ts). Pure: no client.
 */
import { describeComponent } from '../../../config/component';
import { bucketProblem, isSecretArn, Issues, list, mapping, normalisePrefix, SECRET_ARN, show, string, uniqueStrings, type Mapping } from '../../../config/fields';
import { configDrillGrants, configGrants } from './grants';
import { parseConfigRestoreOptions } from './options';

/** One place configuration files live in S3: a bucket and a key prefix ("" for the whole bucket). */
export interface ConfigFilesLocation {
  readonly bucket: string;
  /** Normalised: "" or "config/" (no leading slash, one trailing slash). */
  readonly prefix: string;
}

/** backup.sources.config: where the NCA's configuration lives. At least one of the three kinds. */
export interface ConfigSourceConfig {
  /** Parameter Store paths read recursively, every parameter type, e.g. "/neuroca". @default none */
  readonly parameterPaths: readonly string[];
  /** Secrets Manager secrets, each named by its ARN or by a name prefix (e.g. "neuroca/"), as written. @default none */
  readonly secrets: readonly string[];
  /** Configuration files in S3 (the NCA's config/*.yaml, .env files). @default none */
  readonly files: readonly ConfigFilesLocation[];
  /** The KMS key the export is sealed with: set by the stacks (not in backup.yaml). @default NCA_CONFIG_ENVELOPE_KEY (local runs) */
  readonly envelopeKeyId?: string;
}

/** Parameter Store's hierarchy: a leading slash, segments of letters, digits and . _ - (at most 15 levels). */
const PARAMETER_PATH = /^\/([A-Za-z0-9_.-]+\/?){0,15}$/;
/** A prefix of secret names (Secrets Manager's name characters). */
const SECRET = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

function parseFiles(value: unknown, path: string, issues: Issues): ConfigFilesLocation[] | undefined {
  const values = list(value, path, issues, 'locations like {bucket: neuroca-config, prefix: config/}');
  if (!values) return undefined;
  const before = issues.list.length;
  const locations = values.map((item, i) => {
    const map = mapping(item, `${path}[${i}]`, ['bucket', 'prefix'], issues) as Mapping | undefined;
    if (!map) return undefined;
    const bucket = string(map.bucket, `${path}[${i}].bucket`, issues, 'an S3 bucket name');
    const problem = bucket === undefined ? undefined : bucketProblem(bucket);
    if (problem) issues.add(`${path}[${i}].bucket`, `${show(bucket)} ${problem}`);
    const text = 'prefix' in map ? string(map.prefix, `${path}[${i}].prefix`, issues, 'a key prefix like config/') : '';
    const prefix = text === undefined ? undefined : normalisePrefix(text);
    if (text !== undefined && prefix === undefined) issues.add(`${path}[${i}].prefix`, `${show(text)} is not a key prefix like config/ (letters, digits and !_.*'()- between slashes)`);
    return bucket === undefined || problem || prefix === undefined ? undefined : { bucket, prefix };
  });
  if (issues.list.length > before) return undefined;
  const seen = new Set<string>();
  for (const location of locations as ConfigFilesLocation[]) {
    const key = `${location.bucket}/${location.prefix}`;
    if (seen.has(key)) return issues.add(path, `s3://${key} is listed twice`);
    seen.add(key);
  }
  return locations as ConfigFilesLocation[];
}

/** Each secret as its ARN or a name prefix; an ARN of another service is named as such. */
function parseSecrets(map: Mapping, path: string, issues: Issues): string[] | undefined {
  if (!('secrets' in map)) return [];
  const what = 'a secret ARN or a secret name prefix like neuroca/';
  const values = list(map.secrets, `${path}.secrets`, issues, what);
  if (!values) return undefined;
  const secrets = values.map((value, i) => {
    const field = `${path}.secrets[${i}]`;
    const secret = string(value, field, issues, what);
    if (secret === undefined) return undefined;
    if (isSecretArn(secret) ? SECRET_ARN.test(secret) : SECRET.test(secret)) return secret;
    return issues.add(field, isSecretArn(secret) ? `${show(secret)} is not a Secrets Manager secret ARN like arn:aws:secretsmanager:us-west-2:210987654321:secret:neuroca/api-AbC123` : `${show(secret)} is not ${what}`);
  });
  if (secrets.some((s) => s === undefined)) return undefined;
  const duplicate = secrets.find((s, i) => secrets.indexOf(s) !== i);
  return duplicate === undefined ? (secrets as string[]) : issues.add(`${path}.secrets`, `${show(duplicate)} is listed twice`);
}

export const configDescriptor = describeComponent({
  name: 'config',
  group: 'configuration',
  source: {
    parse(value, { path, issues }): ConfigSourceConfig | undefined {
      const map = mapping(value, path, ['parameter_paths', 'secrets', 'files'], issues);
      if (!map) return undefined;
      const before = issues.list.length;
      const strings = (key: string, pattern: RegExp, what: string) => {
        if (!(key in map)) return [];
        const values = list(map[key], `${path}.${key}`, issues, what);
        return values && uniqueStrings(values, `${path}.${key}`, issues, pattern, what);
      };
      const parameterPaths = strings('parameter_paths', PARAMETER_PATH, 'a Parameter Store path like /neuroca (a leading slash; letters, digits and . _ - between slashes)');
      const secrets = parseSecrets(map, path, issues);
      const files = 'files' in map ? parseFiles(map.files, `${path}.files`, issues) : [];
      if (issues.list.length > before || !parameterPaths || !secrets || !files) return undefined;
      if (parameterPaths.length + secrets.length + files.length === 0) {
        return issues.add(path, 'names nothing to back up: give parameter_paths, secrets or files');
      }
      // Parameter Store matches a path without its trailing slash ("/neuroca/" and "/neuroca" read the same).
      const paths = parameterPaths.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));
      if (new Set(paths).size !== paths.length) return issues.add(`${path}.parameter_paths`, 'lists one path twice (with and without its trailing slash)');
      return { parameterPaths: paths, secrets, files };
    },
    arns: (source: ConfigSourceConfig) => source.secrets.flatMap((secret, i) => (isSecretArn(secret) ? [{ field: `secrets[${i}]`, arn: secret }] : [])),
    // Its secrets are backed up, not used to connect: the worker's grants come from secrets and prefixes alike.
    secretArns: () => [],
    grants: (source: ConfigSourceConfig, scope) => configGrants(source, scope),
    drillGrants: (source: ConfigSourceConfig, scope) => configDrillGrants(source, scope),
  },
  restore: {
    parseOptions: parseConfigRestoreOptions,
  },
});
