/**
 * The models component (the runbook's model weights: fine-tuned weights, checkpoint states, training
 * artifacts) as the configuration, the CLI and the control plane see it (config/component.ts). Pure: no client.
 */
import { describeComponent } from '../../../config/component';
import { list, mapping, show, string, type Issues, type Mapping } from '../../../config/fields';
import { modelsDrillGrants, modelsGrants } from './grants';
import { globProblem, LOCATION_EXAMPLES, locationsOverlap, parseModelsLocation, parseModelsRestoreOptions } from './options';
import { locationUrl, type ModelsLocation, type ModelsSourceConfig } from './source';

export const DEFAULT_INCLUDE: readonly string[] = ['**'];

function parseLocations(value: unknown, path: string, issues: Issues): ModelsLocation[] | undefined {
  const values = list(value, path, issues, `locations, each an S3 URL or an absolute directory, like ${LOCATION_EXAMPLES}`);
  if (!values) return undefined;
  const parsed = values.map((item, i) => {
    const text = string(item, `${path}[${i}]`, issues, `an S3 URL or an absolute directory, like ${LOCATION_EXAMPLES}`);
    if (text === undefined) return undefined;
    const location = parseModelsLocation(text);
    return 'problem' in location ? issues.add(`${path}[${i}]`, `${show(text)} ${location.problem}`) : location;
  });
  if (parsed.some((l) => l === undefined)) return undefined;
  const locations = parsed as ModelsLocation[];
  let ok = true;
  for (let i = 0; i < locations.length; i++) {
    for (let j = 0; j < i; j++) {
      if (!locationsOverlap(locations[i], locations[j])) continue;
      const same = locationUrl(locations[i]) === locationUrl(locations[j]);
      // Two locations sharing a file would back it up twice under two relative paths.
      issues.add(`${path}[${i}]`, same ? `${locationUrl(locations[i])} is listed twice (also ${path}[${j}])` : `${locationUrl(locations[i])} overlaps ${path}[${j}] (${locationUrl(locations[j])}): one is inside the other; list only the outer one`);
      ok = false;
    }
  }
  return ok ? locations : undefined;
}

function parseGlobs(map: Mapping, key: string, path: string, issues: Issues, fallback: readonly string[]): string[] | undefined {
  if (!(key in map)) return [...fallback];
  const field = `${path}.${key}`;
  const what = 'globs over a file\'s path relative to its location, like **/*.tmp or runs/**/events.out.*';
  // An empty exclude list is as good as none; an empty include list would back up nothing.
  if (key === 'exclude' && Array.isArray(map[key]) && (map[key] as unknown[]).length === 0) return [];
  const values = list(map[key], field, issues, what);
  if (!values) return undefined;
  const globs = values.map((v, i) => {
    const glob = string(v, `${field}[${i}]`, issues, `a glob (${what})`);
    const problem = glob === undefined ? undefined : globProblem(glob);
    return problem ? issues.add(`${field}[${i}]`, `${show(glob)} ${problem}`) : glob;
  });
  if (globs.some((g) => g === undefined)) return undefined;
  const duplicate = globs.find((g, i) => globs.indexOf(g) !== i);
  return duplicate === undefined ? (globs as string[]) : issues.add(field, `${show(duplicate)} is listed twice`);
}

export const modelsDescriptor = describeComponent({
  name: 'models',
  group: 'model_weights',
  storesBlobs: true,
  source: {
    parse(value, { path, issues }): ModelsSourceConfig | undefined {
      const map = mapping(value, path, ['paths', 'include', 'exclude'], issues);
      if (!map) return undefined;
      const before = issues.list.length;
      const paths = 'paths' in map ? parseLocations(map.paths, `${path}.paths`, issues) : issues.add(`${path}.paths`, `is required: the locations models are backed up from, like ${LOCATION_EXAMPLES}`);
      const include = parseGlobs(map, 'include', path, issues, DEFAULT_INCLUDE);
      const exclude = parseGlobs(map, 'exclude', path, issues, []);
      if (issues.list.length > before || !paths || !include || !exclude) return undefined;
      return { paths, include, exclude };
    },
    // Nothing to connect with: the worker reads its locations with its own role.
    secretArns: () => [],
    arns: () => [],
    grants: (source: ModelsSourceConfig, scope) => modelsGrants(source, scope),
    drillGrants: (source: ModelsSourceConfig, scope) => modelsDrillGrants(source, scope),
  },
  restore: {
    // ModelsRestoreOptions is an interface (no index signature); its spread is a plain object of the same fields.
    parseOptions: (raw) => ({ ...parseModelsRestoreOptions(raw) }),
    flags: {
      paths: { key: 'paths', list: true, value: 'GLOB,GLOB' },
      target: { key: 'target', value: 's3://BUCKET/PREFIX/|/DIR' },
    },
  },
});
