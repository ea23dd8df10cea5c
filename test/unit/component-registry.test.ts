/**
 * A component is its folder plus a line in the registry: a component that exists only in this test
 * (test/support/dummy-component) is added to the registry's list, and the configuration loader, the
 * CLI's flags and usage, the control plane's restore checks and what a worker receives all take it,
 * with no other change.
 */
import { COMPONENTS, COMPONENT_GROUP, restoreFlags, runtimeSourceOf, secretArnsOfComponent } from '../../config/components';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { restoreOptions, usageText } from '../../functions/cli';
import { componentEntry } from '../../functions/components';
import { restoreOptionsParser, restoreTargetRefusal } from '../../functions/components/restore-options';
import { dummyDescriptor, parseDummyRestoreOptions } from '../support/dummy-component/descriptor';
import { thrown } from '../support/thrown';

const WITH_DUMMY = [...COMPONENTS, dummyDescriptor];
/** The registry with the dummy; SECRET is in the documentation's example account. */
const PARSE_WITH_DUMMY = { components: WITH_DUMMY, allowDocumentationValues: true };
const SECRET = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/dummy';

const yaml = (dummy: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
  sources:
    postgres: { database: neuroca_db }
    dummy: ${dummy}
`;

describe('a component added to the registry', () => {
  test('its backup.sources section is read by its own parser, defaults included', () => {
    const config = parseBackupConfig(yaml(`{ secret_arn: "${SECRET}" }`), PARSE_WITH_DUMMY);
    expect((config.sources as Record<string, unknown>).dummy).toEqual({ shelf: 'shelf', secretArn: SECRET });
  });

  test('its problems are named by their field, with the rest of the file\'s, and its ARNs must be in the primary region', () => {
    const error = thrown(ConfigError, () =>
      parseBackupConfig(yaml(`{ shelf: "UP", colour: red, secret_arn: "${SECRET.replace('us-west-2', 'eu-west-1')}" }`), PARSE_WITH_DUMMY),
    );
    expect(error.issues.map((i) => i.path).sort()).toEqual(['backup.sources.dummy.colour', 'backup.sources.dummy.shelf']);
    const foreign = thrown(ConfigError, () => parseBackupConfig(yaml(`{ secret_arn: "${SECRET.replace('us-west-2', 'eu-west-1')}" }`), PARSE_WITH_DUMMY));
    expect(foreign.issues).toEqual([expect.objectContaining({ path: 'backup.sources.dummy.secret_arn', problem: expect.stringMatching(/is in eu-west-1, but the primary bucket is in us-west-2/) })]);
  });

  test('without its line in the registry, its section is an unknown key that lists the known ones', () => {
    const error = thrown(ConfigError, () => parseBackupConfig(yaml('{}')));
    expect(error.issues).toEqual([{ path: 'backup.sources.dummy', problem: `unknown key; allowed: ${COMPONENTS.map((d) => d.name).join(', ')}` }]);
  });

  test('its worker receives its own section, and reads its own secret, by default', () => {
    const sources = parseBackupConfig(yaml(`{ secret_arn: "${SECRET}" }`), PARSE_WITH_DUMMY).sources as Record<string, unknown>;
    expect(runtimeSourceOf(sources, 'dummy', { keepUrls: false }, WITH_DUMMY)).toEqual({ shelf: 'shelf', secretArn: SECRET });
    expect(secretArnsOfComponent(sources, 'dummy', WITH_DUMMY)).toEqual([SECRET]);
  });

  test('its restore flags reach the command line, the usage and the options object', () => {
    const flags = restoreFlags(WITH_DUMMY);
    expect(flags.get('depth')).toEqual({ key: 'depth', value: 'shallow|deep', components: ['dummy'] });
    const usage = usageText(flags);
    expect(usage).toContain('[--depth shallow|deep]');
    expect(usage).toContain('depth: dummy)');
    expect(restoreOptions({ depth: 'deep', options: '{"targetDatabase": "x"}' }, flags)).toEqual({ targetDatabase: 'x', depth: 'deep' });
  });

  test('the control plane checks its restore options with its parser, and refuses its system databases', () => {
    expect(restoreOptionsParser('dummy', WITH_DUMMY)).toBe(parseDummyRestoreOptions);
    expect(restoreOptionsParser('dummy')).toBeUndefined();
    expect(restoreTargetRefusal('dummy' as never, 'attic', { field: 'targetDatabase' }, WITH_DUMMY)?.message).toMatch(/system database attic \(where the dummy keeps its own things\)/);
  });

  test('two components cannot give one flag two meanings', () => {
    const clash = { ...dummyDescriptor, name: 'clash', restore: { ...dummyDescriptor.restore, flags: { mode: { key: 'depth', value: 'x' } } } };
    expect(() => restoreFlags([...COMPONENTS, clash])).toThrow(/restore flag --mode: clash sets depth, redis(, memory)? set mode/);
  });
});

describe('the registry as shipped', () => {
  test('every descriptor has a runtime entry, and its group', () => {
    for (const descriptor of COMPONENTS) {
      const { component } = componentEntry(descriptor.name);
      expect({ name: component.name, group: component.group }).toEqual({ name: descriptor.name, group: descriptor.group });
      expect(COMPONENT_GROUP[descriptor.name]).toBe(descriptor.group);
    }
  });

  test('the CLI usage lists each component\'s flags and the keys they set', () => {
    expect(usageText()).toContain('the same keys (mode, keyPattern: redis; collections: mongodb; targetTable: vector; tiers: memory; paths, target: models; from, to, logGroups, targetLogGroup, targetPrefix, directory: logs).');
  });
});
