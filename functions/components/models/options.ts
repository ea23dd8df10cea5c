/**
 * The models component's locations and restore options, driver-free so the configuration and the control
 * plane check them without bundling the S3 client the component uses. A location is written as an S3 URL
 * (`s3://neuroca-models/llm/`) or an absolute directory (`/mnt/models`); both the configuration's `paths`
 * and a restore's `target` are read here, the one way.
 */
import { InvalidInputError } from '../../core/errors';
import { bucketProblem, normalisePrefix } from '../../../config/fields';
import { locationUrl, type ModelsLocation, type ModelsRestoreOptions } from './source';

const COMPONENT = 'models';
const KEYS = ['paths', 'target'];

export const LOCATION_EXAMPLES = 's3://neuroca-models/llm/ or /mnt/models';

/** A location as written, parsed; or why it is not one (a sentence to follow the value). */
export function parseModelsLocation(text: string): ModelsLocation | { readonly problem: string } {
  const value = text.trim();
  if (value.startsWith('s3://')) {
    const rest = value.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const problem = bucketProblem(bucket);
    if (problem) return { problem: `names the bucket '${bucket}', which ${problem}` };
    const written = slash < 0 ? '' : rest.slice(slash + 1);
    const prefix = normalisePrefix(written);
    // A "*" is a legal key character, but the prefix ends up in IAM resource ARNs, where it is a wildcard.
    if (prefix === undefined || prefix.includes('*')) {
      return { problem: `has the key prefix '${written}', which is not one like llm/ (letters, digits and !_.'()- between slashes)` };
    }
    return { kind: 's3', bucket, prefix };
  }
  if (!value.startsWith('/')) return { problem: `is neither an S3 URL nor an absolute directory path, like ${LOCATION_EXAMPLES}` };
  const segments = value.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) return { problem: 'has a . or .. segment: write the directory without them' };
  if (value.includes('\0')) return { problem: 'contains a NUL character' };
  return { kind: 'directory', path: `/${segments.join('/')}` };
}

/** Whether two locations share a file: the same bucket with one prefix under the other, or one directory under the other. */
export function locationsOverlap(a: ModelsLocation, b: ModelsLocation): boolean {
  if (a.kind === 's3' && b.kind === 's3') return a.bucket === b.bucket && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));
  if (a.kind === 'directory' && b.kind === 'directory') {
    const under = (x: string, y: string) => x === y || y === '/' || x.startsWith(`${y}/`);
    return under(a.path, b.path) || under(b.path, a.path);
  }
  return false;
}

/**
 * Why a glob over relative file paths is not one, or undefined: `*` within a segment, `**` across, matched
 * against a file's path relative to its location, so it never starts with "/" and has no . or .. segment.
 */
export function globProblem(glob: string): string | undefined {
  if (glob.startsWith('/')) return 'starts with /: globs match paths relative to their location (e.g. checkpoints/**)';
  if (glob.split('/').some((s) => s === '' || s === '.' || s === '..')) return 'has an empty, . or .. segment';
  return undefined;
}

const invalid = (message: string, hint?: string) => new InvalidInputError(message, { component: COMPONENT, ...(hint ? { hint } : {}) });

function parsePaths(value: unknown): string[] {
  const what = 'options.paths must be a non-empty list of globs over the backed-up files\' paths, e.g. ["llm/adapters/**", "**/*.safetensors"]';
  const list = typeof value === 'string' ? value.split(',').map((p) => p.trim()) : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((p) => typeof p !== 'string' || p.trim() === '')) throw invalid(`${what}.`);
  return (list as string[]).map((raw, i) => {
    const glob = raw.trim();
    const problem = globProblem(glob);
    if (problem) throw invalid(`options.paths[${i}] '${glob}' ${problem}.`, `${what}.`);
    return glob;
  });
}

/** A target as written, or as this parser returned it (a ModelsLocation), which reads as its URL. */
function parseTarget(value: unknown): ModelsLocation {
  const text = typeof value === 'string' ? value : isLocation(value) ? locationUrl(value) : undefined;
  if (text === undefined || text.trim() === '') throw invalid(`options.target must be an S3 URL or an absolute directory, like ${LOCATION_EXAMPLES}, not ${JSON.stringify(value)}.`);
  const location = parseModelsLocation(text);
  if ('problem' in location) throw invalid(`options.target '${text.trim()}' ${location.problem}.`, `Name an S3 URL or an absolute directory, like ${LOCATION_EXAMPLES}.`);
  return location;
}

function isLocation(value: unknown): value is ModelsLocation {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (v.kind === 's3' && typeof v.bucket === 'string' && typeof v.prefix === 'string') || (v.kind === 'directory' && typeof v.path === 'string');
}

/**
 * Checks a models restore's options: which files (`paths`, globs over their paths relative to their location)
 * and where to (`target`; else each file back to the location it came from). Whether the target is one the
 * worker may write (a configured location or below one, and not the vault) is the engine's check at run time.
 */
export function parseModelsRestoreOptions(raw: Record<string, unknown>): ModelsRestoreOptions {
  for (const key of Object.keys(raw)) {
    if (!KEYS.includes(key)) throw invalid(`options.${key} is not a restore option of the models component.`, `Allowed: ${KEYS.join(', ')}.`);
  }
  const paths = raw.paths === undefined ? undefined : parsePaths(raw.paths);
  const target = raw.target === undefined ? undefined : parseTarget(raw.target);
  // The result parses to itself: the control plane checks an input's options, and the engine parses them again.
  return { ...(paths ? { paths } : {}), ...(target ? { target } : {}) };
}
