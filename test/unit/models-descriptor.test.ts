/** The models component's backup.yaml section, restore options and command-line flags, read by the loader and the CLI. */
import { COMPONENTS, restoreFlags, sourceArns, workerGrantsOfComponent } from '../../config/components';
import { ConfigError, parseBackupConfig } from '../../config/load';
import { InvalidInputError } from '../../functions/core/errors';
import { modelsDescriptor } from '../../functions/components/models/descriptor';
import { parseModelsRestoreOptions } from '../../functions/components/models/options';
import { restoreOptions } from '../../functions/cli';
import { thrown } from '../support/thrown';

const yaml = (section: string) => `backup:
  storage:
    primary: { type: s3, bucket: nca-test-primary, region: us-west-2, path: /backups }
    secondary: { type: s3, bucket: nca-test-secondary, region: eu-central-1, path: /backups }
  sources:
    models: ${section}
`;
const load = (section: string) => parseBackupConfig(yaml(section), { components: COMPONENTS }).sources as Record<string, any>;
const issues = (section: string) => thrown(ConfigError, () => parseBackupConfig(yaml(section), { components: COMPONENTS })).issues;
const refusal = (raw: Record<string, unknown>) => thrown(InvalidInputError, () => parseModelsRestoreOptions(raw));

describe('backup.sources.models', () => {
  test('S3 URLs and absolute directories, normalised; include every file and exclude none by default', () => {
    expect(load('{ paths: ["s3://neuroca-models/llm", "s3://neuroca-ckpt", "s3://neuroca-runs/a/b/", "/mnt/models/", "//srv//weights"] }').models).toEqual({
      paths: [
        { kind: 's3', bucket: 'neuroca-models', prefix: 'llm/' },
        { kind: 's3', bucket: 'neuroca-ckpt', prefix: '' },
        { kind: 's3', bucket: 'neuroca-runs', prefix: 'a/b/' },
        { kind: 'directory', path: '/mnt/models' },
        { kind: 'directory', path: '/srv/weights' },
      ],
      include: ['**'],
      exclude: [],
    });
  });

  test('include and exclude globs as written', () => {
    expect(load('{ paths: ["/mnt/models"], include: ["llm/**", "*.safetensors"], exclude: ["**/*.tmp", "runs/**/events.out.*"] }').models).toMatchObject({
      include: ['llm/**', '*.safetensors'],
      exclude: ['**/*.tmp', 'runs/**/events.out.*'],
    });
    expect(load('{ paths: ["/mnt/models"], exclude: [] }').models.exclude).toEqual([]);
  });

  test('every problem is named by its field', () => {
    const found = issues('{ paths: ["s3://Bad_Bucket/x/", "s3://neuroca-models/a*b/", "s3://neuroca-models/a//b/", "models/", "/mnt/../etc", 7], include: [], exclude: ["/abs/*", "a/../b"], colour: red }');
    expect(found.map((i) => i.path).sort()).toEqual([
      'backup.sources.models.colour',
      'backup.sources.models.exclude[0]',
      'backup.sources.models.exclude[1]',
      'backup.sources.models.include',
      'backup.sources.models.paths[0]',
      'backup.sources.models.paths[1]',
      'backup.sources.models.paths[2]',
      'backup.sources.models.paths[3]',
      'backup.sources.models.paths[4]',
      'backup.sources.models.paths[5]',
    ]);
    const problem = (path: string) => found.find((i) => i.path === path)!.problem;
    expect(problem('backup.sources.models.paths[0]')).toMatch(/names the bucket 'Bad_Bucket', which may contain only lowercase letters/);
    expect(problem('backup.sources.models.paths[1]')).toMatch(/key prefix 'a\*b\/'/);
    expect(problem('backup.sources.models.paths[2]')).toMatch(/key prefix 'a\/\/b\/'/);
    expect(problem('backup.sources.models.paths[3]')).toMatch(/neither an S3 URL nor an absolute directory path/);
    expect(problem('backup.sources.models.paths[4]')).toMatch(/\. or \.\. segment/);
    expect(problem('backup.sources.models.include')).toMatch(/is not a non-empty list/);
    expect(problem('backup.sources.models.exclude[0]')).toMatch(/starts with \//);
  });

  test('paths is required and not empty', () => {
    expect(issues('{ include: ["**"] }')).toEqual([{ path: 'backup.sources.models.paths', problem: expect.stringMatching(/^is required/) }]);
    expect(issues('{ paths: [] }')).toEqual([{ path: 'backup.sources.models.paths', problem: expect.stringMatching(/is not a non-empty list/) }]);
  });

  test('a location listed twice, or one inside another, is refused: a file would be backed up twice', () => {
    expect(issues('{ paths: ["s3://neuroca-models/llm/", "s3://neuroca-models/llm"] }')).toEqual([
      { path: 'backup.sources.models.paths[1]', problem: 's3://neuroca-models/llm/ is listed twice (also backup.sources.models.paths[0])' },
    ]);
    expect(issues('{ paths: ["s3://neuroca-models/llm/", "s3://neuroca-models/"] }')).toEqual([
      { path: 'backup.sources.models.paths[1]', problem: expect.stringMatching(/^s3:\/\/neuroca-models\/ overlaps backup.sources.models.paths\[0\] \(s3:\/\/neuroca-models\/llm\/\)/) },
    ]);
    expect(issues('{ paths: ["/mnt/models", "/mnt/models/llm"] }').map((i) => i.path)).toEqual(['backup.sources.models.paths[1]']);
    expect(issues('{ paths: ["/", "/mnt"] }').map((i) => i.path)).toEqual(['backup.sources.models.paths[1]']);
    // Siblings and other buckets are fine: "llm/" and "llm-old/" share no key, nor do two directories side by side.
    expect(load('{ paths: ["s3://neuroca-models/llm/", "s3://neuroca-models/llm-old/", "s3://neuroca-ckpt/llm/", "/mnt/models", "/mnt/models-old"] }').models.paths).toHaveLength(5);
  });

  test('it names no ARN and reads no secret; it stores blobs', () => {
    const sources = load('{ paths: ["s3://neuroca-models/llm/"] }');
    expect(sourceArns(sources, COMPONENTS)).toEqual([]);
    expect(modelsDescriptor.source.secretArns!(sources)).toEqual([]);
    expect(modelsDescriptor.storesBlobs).toBe(true);
    expect(modelsDescriptor.group).toBe('model_weights');
  });
});

describe('models worker grants (data)', () => {
  const scope = { partition: 'aws', account: '123456789012', region: 'us-west-2' };
  const grants = (paths: string) => workerGrantsOfComponent(load(`{ paths: ${paths} }`), 'models', scope, COMPONENTS);

  test('read and restore-write exactly the configured prefixes, list each bucket under them, KMS only through S3 for them', () => {
    const list = grants('["s3://neuroca-models/llm/", "s3://neuroca-models/adapters/", "s3://neuroca-ckpt", "/mnt/models"]');
    const bySid = Object.fromEntries(list.map((g) => [g.sid, g]));
    const objects = ['arn:aws:s3:::neuroca-models/llm/*', 'arn:aws:s3:::neuroca-models/adapters/*', 'arn:aws:s3:::neuroca-ckpt/*'];
    expect(bySid.ModelsRead).toMatchObject({ actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectAttributes', 's3:GetObjectVersionAttributes'], resources: objects });
    expect(bySid.ModelsRestoreWrites).toMatchObject({ actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], resources: objects });
    expect(list.flatMap((g) => g.actions).filter((a) => /Delete|Tagging/.test(a))).toEqual([]);
    expect(bySid.ModelsListing0).toEqual({ sid: 'ModelsListing0', actions: ['s3:ListBucket'], resources: ['arn:aws:s3:::neuroca-models'], conditions: { StringLike: { 's3:prefix': ['llm/*', 'adapters/*'] } } });
    expect(bySid.ModelsListing1.conditions).toEqual({ StringLike: { 's3:prefix': ['*'] } });
    expect(bySid.ModelsSourceKeys).toMatchObject({
      actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
      resources: ['arn:aws:kms:us-west-2:123456789012:key/*'],
      conditions: {
        StringEquals: { 'kms:ViaService': 's3.us-west-2.amazonaws.com' },
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': ['arn:aws:s3:::neuroca-models', 'arn:aws:s3:::neuroca-ckpt', ...objects] },
      },
    });
    // Every wildcard says why.
    for (const g of list.filter((g) => g.resources.some((r) => r.includes('*')))) expect(g.wildcardReason).toEqual(expect.any(String));
  });

  test('directories alone need no grant', () => {
    expect(grants('["/mnt/models"]')).toEqual([]);
  });
});

describe('models restore options', () => {
  test('none: every file, back to where it came from', () => {
    expect(parseModelsRestoreOptions({})).toEqual({});
  });

  test('paths are globs over the backed-up relative paths; target an S3 URL or a directory', () => {
    expect(parseModelsRestoreOptions({ paths: ['llm/adapters/**', '**/*.safetensors'], target: 's3://neuroca-restore/llm' })).toEqual({
      paths: ['llm/adapters/**', '**/*.safetensors'],
      target: { kind: 's3', bucket: 'neuroca-restore', prefix: 'llm/' },
    });
    expect(parseModelsRestoreOptions({ target: '/tmp/restored/' })).toEqual({ target: { kind: 'directory', path: '/tmp/restored' } });
  });

  test('the parsed options parse to themselves (the control plane checks them, the engine parses them again)', () => {
    for (const raw of [{}, { paths: ['a/**'] }, { target: 's3://neuroca-restore' }, { paths: 'a/**, b/*', target: '/mnt/x/' }]) {
      const once = parseModelsRestoreOptions(raw);
      expect(parseModelsRestoreOptions({ ...once })).toEqual(once);
      expect(parseModelsRestoreOptions(JSON.parse(JSON.stringify(once)))).toEqual(once);
    }
  });

  test('each bad option is refused naming options.<field>', () => {
    expect(refusal({ overwrite: true }).message).toBe('models: options.overwrite is not a restore option of the models component. Allowed: paths, target.');
    expect(refusal({ paths: [] }).message).toMatch(/^models: options.paths must be a non-empty list of globs/);
    expect(refusal({ paths: ['a', ''] }).message).toMatch(/^models: options.paths must be a non-empty list/);
    expect(refusal({ paths: ['/abs/**'] }).message).toMatch(/^models: options.paths\[0\] '\/abs\/\*\*' starts with \//);
    expect(refusal({ paths: ['ok', '../up'] }).message).toMatch(/^models: options.paths\[1\] '..\/up' has an empty, . or .. segment/);
    expect(refusal({ target: 'relative/dir' }).message).toMatch(/^models: options.target 'relative\/dir' is neither an S3 URL nor an absolute directory path/);
    expect(refusal({ target: 's3://NO/x' }).message).toMatch(/^models: options.target 's3:\/\/NO\/x' names the bucket 'NO'/);
    expect(refusal({ target: '' }).message).toMatch(/^models: options.target must be an S3 URL or an absolute directory/);
    expect(refusal({ target: { kind: 's3', bucket: 7 } }).message).toMatch(/^models: options.target must be an S3 URL/);
    expect(refusal({ target: 'x' }).component).toBe('models');
  });
});

describe('models restore flags', () => {
  const flags = restoreFlags(COMPONENTS);

  test('--paths sets a list of globs and --target a location, through the same checks as --options', () => {
    expect(flags.get('paths')).toMatchObject({ key: 'paths', list: true, components: ['models'] });
    expect(flags.get('target')).toMatchObject({ key: 'target', components: ['models'] });
    const options = restoreOptions({ paths: 'llm/**, ckpt/step-100/*', target: 's3://neuroca-restore/llm/' }, flags);
    expect(options).toEqual({ paths: ['llm/**', 'ckpt/step-100/*'], target: 's3://neuroca-restore/llm/' });
    expect(parseModelsRestoreOptions(options!)).toEqual({ paths: ['llm/**', 'ckpt/step-100/*'], target: { kind: 's3', bucket: 'neuroca-restore', prefix: 'llm/' } });
  });
});
