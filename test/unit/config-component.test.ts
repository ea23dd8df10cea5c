/** The configuration component's backup.yaml section and restore options, read by the loader. */
import { COMPONENTS, sourceArns } from '../../config/components';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { parseConfigRestoreOptions } from '../../functions/components/config/options';
import { thrown } from '../support/thrown';

const WITH_CONFIG = COMPONENTS;
const ARN = 'arn:aws:secretsmanager:us-west-2:210987654321:secret:neuroca/api-AbC123';

const yaml = (section: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
  sources:
    config: ${section}
`;
const load = (section: string) => parseBackupConfig(yaml(section), { components: WITH_CONFIG }).sources as Record<string, any>;
const issues = (section: string) => thrown(ConfigError, () => parseBackupConfig(yaml(section), { components: WITH_CONFIG })).issues;

describe('backup.sources.config', () => {
  test('Parameter Store paths, secrets by ARN or name prefix, and S3 file locations, normalised', () => {
    expect(load(`{ parameter_paths: ["/neuroca/", "/shared/flags"], secrets: ["neuroca/", "${ARN}"], files: [{ bucket: neuroca-config, prefix: /config }, { bucket: neuroca-env }] }`).config).toEqual({
      parameterPaths: ['/neuroca', '/shared/flags'],
      secrets: ['neuroca/', ARN],
      files: [
        { bucket: 'neuroca-config', prefix: 'config/' },
        { bucket: 'neuroca-env', prefix: '' },
      ],
    });
  });

  test('every problem is named by its field', () => {
    expect(issues(`{ parameter_paths: ["neuroca"], secrets: ["arn:aws:s3:::bucket", "has space"], files: [{ bucket: Bad_Bucket, prefix: "a//b" }], colour: red }`).map((i) => i.path).sort()).toEqual([
      'backup.sources.config.colour',
      'backup.sources.config.files[0].bucket',
      'backup.sources.config.files[0].prefix',
      'backup.sources.config.parameter_paths[0]',
      'backup.sources.config.secrets[0]',
      'backup.sources.config.secrets[1]',
    ]);
  });

  test('a section naming nothing, or a path listed with and without its slash, is refused', () => {
    expect(issues('{}')).toEqual([{ path: 'backup.sources.config', problem: 'names nothing to back up: give parameter_paths, secrets or files' }]);
    expect(issues('{ parameter_paths: ["/neuroca", "/neuroca/"] }')).toEqual([{ path: 'backup.sources.config.parameter_paths', problem: expect.stringMatching(/lists one path twice/) }]);
  });

  test('its secret ARNs are checked like every other ARN: the primary region, never a documentation example', () => {
    const sources = load(`{ secrets: ["neuroca/", "${ARN}"] }`);
    expect(sourceArns(sources, WITH_CONFIG)).toEqual([{ path: 'backup.sources.config.secrets[1]', arn: ARN }]);
    expect(issues(`{ secrets: ["neuroca/", "${ARN.replace('us-west-2', 'eu-west-1')}"] }`)).toEqual([
      { path: 'backup.sources.config.secrets[1]', problem: expect.stringMatching(/^is in eu-west-1, but the primary bucket is in us-west-2/) },
    ]);
    expect(issues(`{ secrets: ["${ARN.replace('210987654321', '123456789012')}"] }`)).toEqual([
      { path: 'backup.sources.config.secrets[0]', problem: expect.stringMatching(/^names the account 123456789012, an example account/) },
    ]);
  });
});

describe('configuration restore options', () => {
  test('a restore plans unless apply is true', () => {
    expect(parseConfigRestoreOptions({})).toEqual({ apply: false, prune: false });
    expect(parseConfigRestoreOptions({ dryRun: true })).toEqual({ apply: false, prune: false });
    const applying = parseConfigRestoreOptions({ apply: true, prune: true, names: ['/neuroca/db/*'] });
    expect(applying).toEqual({ apply: true, prune: true, names: ['/neuroca/db/*'] });
    // Parsed options parse to themselves: the engine parses an input, the component parses again.
    expect(parseConfigRestoreOptions(applying)).toEqual(applying);
  });

  test.each([
    [{ dryRun: false }, /writes only when asked with apply: true/],
    [{ apply: true, dryRun: true }, /either plans or writes/],
    [{ apply: 'yes' }, /options.apply must be true or false/],
    [{ names: [] }, /options.names must be a non-empty list/],
    [{ mode: 'merge' }, /options.mode is not a restore option of the configuration/],
  ])('%j is refused', (raw, message) => {
    expect(() => parseConfigRestoreOptions(raw as Record<string, unknown>)).toThrow(message);
  });
});
