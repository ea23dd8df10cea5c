/**
 * A component that exists only in tests, written as a new component's folder would be: its descriptor and
 * its restore-option parser, nothing else. test/unit/component-registry.test.ts adds it to the registry's
 * list and checks that the loader, the CLI and the control plane take it without another change.
 */
import { describeComponent } from '../../../config/component';
import { mapping, matching, parseSecretArn } from '../../../config/fields';
import { InvalidInputError } from '../../../functions/core/errors';

export interface DummySourceConfig {
  readonly secretArn?: string;
  /** @default "shelf" */
  readonly shelf: string;
}

export function parseDummyRestoreOptions(raw: Record<string, unknown>): { depth?: string } {
  for (const key of Object.keys(raw)) {
    if (key !== 'depth' && key !== 'targetDatabase') throw new InvalidInputError(`options.${key} is not a dummy restore option.`, { component: 'dummy' });
  }
  if (raw.depth !== undefined && raw.depth !== 'shallow' && raw.depth !== 'deep') {
    throw new InvalidInputError('options.depth must be shallow or deep.', { component: 'dummy' });
  }
  return raw.depth === undefined ? {} : { depth: raw.depth };
}

export const dummyDescriptor = describeComponent({
  name: 'dummy',
  group: 'configuration',
  source: {
    parse(value, { path, issues }): DummySourceConfig | undefined {
      const map = mapping(value, path, ['secret_arn', 'shelf'], issues);
      if (!map) return undefined;
      const secret = parseSecretArn(map, path, issues);
      const shelf = 'shelf' in map ? matching(map.shelf, `${path}.shelf`, issues, /^[a-z]{1,20}$/, 'a shelf name (a-z)') : 'shelf';
      if (!secret.ok || shelf === undefined) return undefined;
      return { shelf, ...(secret.secretArn ? { secretArn: secret.secretArn } : {}) };
    },
  },
  restore: {
    parseOptions: parseDummyRestoreOptions,
    targets: { systemDatabases: { attic: 'where the dummy keeps its own things' } },
    flags: { depth: { key: 'depth', value: 'shallow|deep' } },
  },
});
