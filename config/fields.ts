/**
 * The field readers every section of backup.yaml is parsed with, the components' own `backup.sources`
 * sections included (their descriptors): each checks one value, and on a problem records it under the
 * field's path (`backup.sources.redis.db`) with what is allowed, and gives undefined, so that one run
 * reports every problem at once.
 */

export interface ConfigIssue {
  readonly path: string;
  readonly problem: string;
}

export const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
export const ACCOUNT = '\\d{12}';
export const PARTITION = 'aws[a-z-]*';

/** Collects problems; a value that failed validation comes back as undefined so cross-checks can skip it. */
export class Issues {
  readonly list: ConfigIssue[] = [];
  add(path: string, problem: string): undefined {
    this.list.push({ path, problem });
    return undefined;
  }
}

export type Mapping = Record<string, unknown>;

export function show(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A mapping with only `allowed` keys. Absent or empty (`runner:` with nothing under it) reads as `{}`;
 * undefined is returned only when the value is not a mapping at all.
 */
export function mapping(value: unknown, path: string, allowed: readonly string[], issues: Issues): Mapping | undefined {
  if (value === undefined || value === null) return {};
  if (!isMapping(value)) return issues.add(path, `${show(value)} is not a mapping; allowed keys: ${allowed.join(', ')}`);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) issues.add(`${path}.${key}`, `unknown key; allowed: ${allowed.join(', ')}`);
  }
  return value;
}

export function string(value: unknown, path: string, issues: Issues, what: string): string | undefined {
  if (typeof value !== 'string' || value.trim() === '') return issues.add(path, `${show(value)} is not ${what}`);
  return value.trim();
}

export function integer(value: unknown, path: string, issues: Issues, min: number, max: number): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return issues.add(path, `${show(value)} is not a whole number from ${min} to ${max}`);
  }
  return value;
}

export function boolean(value: unknown, path: string, issues: Issues): boolean | undefined {
  return typeof value === 'boolean' ? value : issues.add(path, `${show(value)} is not true or false`);
}

/** One of `allowed`, matched case-insensitively and returned as spelled in `allowed`. */
export function oneOf<T extends string>(value: unknown, path: string, issues: Issues, allowed: readonly T[]): T | undefined {
  const found = typeof value === 'string' ? allowed.find((a) => a.toLowerCase() === value.trim().toLowerCase()) : undefined;
  return found ?? issues.add(path, `${show(value)} is not allowed; allowed: ${allowed.join(', ')}`);
}

export function matching(value: unknown, path: string, issues: Issues, pattern: RegExp, what: string): string | undefined {
  const text = string(value, path, issues, what);
  if (text === undefined) return undefined;
  return pattern.test(text) ? text : issues.add(path, `${show(text)} is not ${what}`);
}

export function list(value: unknown, path: string, issues: Issues, what: string): unknown[] | undefined {
  if (!Array.isArray(value) || value.length === 0) return issues.add(path, `${show(value)} is not a non-empty list of ${what}`);
  return value;
}

export function uniqueStrings(values: unknown[], path: string, issues: Issues, pattern: RegExp, what: string): string[] | undefined {
  const out = values.map((v, i) => matching(v, `${path}[${i}]`, issues, pattern, what));
  if (out.some((v) => v === undefined)) return undefined;
  const strings = out as string[];
  const duplicate = strings.find((s, i) => strings.indexOf(s) !== i);
  return duplicate === undefined ? strings : issues.add(path, `${show(duplicate)} is listed twice`);
}

// Names are letters, digits and /_+=.@-; RDS-managed master secrets are named rds!cluster-<id> or rds!db-<id>.
export const SECRET_ARN = new RegExp(`^arn:${PARTITION}:secretsmanager:[a-z0-9-]+:${ACCOUNT}:secret:(rds!)?[A-Za-z0-9/_+=.@-]+$`);

/** A local-run URL: one of `schemes`, never with a password (this file is committed). */
export function parseLocalUrl(value: unknown, path: string, issues: Issues, schemes: readonly string[], example: string, passwordFrom: string): string | undefined {
  const what = `a URL like ${example}`;
  if (typeof value !== 'string') return issues.add(path, `${show(value)} is not ${what}`);
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    // Not echoed: a malformed URL may still hold a password.
    return issues.add(path, `is not ${what}`);
  }
  if (!schemes.includes(url.protocol)) return issues.add(path, `scheme ${url.protocol} is not allowed; use ${schemes[0]}//`);
  if (url.password !== '' || url.searchParams.has('password')) {
    return issues.add(path, `must not contain a password (this file is committed); pass it in ${passwordFrom}`);
  }
  return value.trim();
}

/** `secret_arn` when present: ok is false when it was given and is not a secret ARN. */
export function parseSecretArn(map: Mapping, path: string, issues: Issues): { ok: boolean; secretArn?: string } {
  if (!('secret_arn' in map)) return { ok: true };
  const secretArn = matching(map.secret_arn, `${path}.secret_arn`, issues, SECRET_ARN, 'a Secrets Manager secret ARN like arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db');
  return { ok: secretArn !== undefined, secretArn };
}

/** A secret named by its ARN (otherwise by its name or a name prefix). */
export const isSecretArn = (secret: string): boolean => secret.startsWith('arn:');

/** IAM resource of a Secrets Manager secret: a complete ARN as is, a partial one (no random suffix) with `-??????`. */
export function secretResource(secretArn: string): string {
  return /-[A-Za-z0-9]{6}$/.test(secretArn) ? secretArn : `${secretArn}-??????`;
}

export function regionOfArn(arn: string): string {
  return arn.split(':')[3];
}

/** S3's bucket naming rules (general purpose buckets). */
export function bucketProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3-63 characters';
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return 'may contain only lowercase letters, digits, dots and hyphens, and must begin and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return 'must not look like an IP address';
  if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name)) return 'must not start with xn--, sthree- or amzn-s3-demo-';
  if (/(-s3alias|--ol-s3|\.mrap|--x-s3|--table-s3)$/.test(name)) return 'must not end with a suffix S3 reserves (-s3alias, --ol-s3, .mrap, --x-s3, --table-s3)';
  return undefined;
}

/** "/backups" → "backups/", "/" or "" → "": the form StorageLocation.prefix promises. */
export function normalisePrefix(path: string): string | undefined {
  const trimmed = path.trim().replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return '';
  const segments = trimmed.split('/');
  // Only S3's "safe" key characters, and no empty or dot segments: the prefix ends up in IAM resource ARNs.
  const ok = segments.every((s) => /^[A-Za-z0-9!_.*'()-]+$/.test(s) && s !== '.' && s !== '..');
  return ok ? `${trimmed}/` : undefined;
}
