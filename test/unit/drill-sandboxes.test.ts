/**
 * Where each component's drill sandbox is, decided before anything is connected: the configuration's copy
 * names, the models location beside the configured ones (refused where it would share files with them),
 * the logs target chosen from what the backup holds, and a sandbox server's fields over production's.
 */
import { copyName, copySource, productionName } from '../../functions/components/config/drill';
import { logsSandbox } from '../../functions/components/logs/drill';
import { modelsSandbox } from '../../functions/components/models/drill';
import { sandboxServer } from '../../functions/core/drill';
import { InvalidInputError } from '../../functions/core/errors';

const DRILL = '20261130T230000Z-abc123';

describe('the configuration copy a drill restores into', () => {
  test.each([
    ['parameter', '/neuroca/db/host', '/nca-drill-x/neuroca/db/host'],
    ['secret', 'neuroca/openai', 'nca-drill-x/neuroca/openai'],
    ['file', 's3://neuroca-config/config/app.yaml', 's3://neuroca-config/nca-drill-x/config/app.yaml'],
  ] as const)('%s %s is written as %s, and read back under its own name', (kind, name, copy) => {
    expect(copyName(kind, name, 'nca-drill-x')).toBe(copy);
    expect(productionName(kind, copy, 'nca-drill-x')).toBe(name);
  });

  test('the copy is read below the prefix; a secret named by ARN by its name', () => {
    const source = copySource(
      { parameterPaths: ['/neuroca'], secrets: ['neuroca/', 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db-AbC123'], files: [{ bucket: 'cfg', prefix: 'config/' }] },
      'nca-drill-x',
    );
    expect(source).toEqual({ parameterPaths: ['/nca-drill-x/neuroca'], secrets: ['nca-drill-x/neuroca/', 'nca-drill-x/neuroca/db'], files: [{ bucket: 'cfg', prefix: 'nca-drill-x/config/' }] });
  });
});

describe('the models location a drill restores into', () => {
  const sandbox = (paths: unknown[], override: Record<string, unknown> = {}) => modelsSandbox({ drillId: DRILL, source: { paths, include: ['**'], exclude: [] }, override });

  test('beside the first S3 location, or beside the first directory', () => {
    expect(sandbox([{ kind: 's3', bucket: 'models', prefix: 'llm/' }])).toMatchObject({ name: `s3://models/nca-drill/${DRILL.toLowerCase()}/`, options: { target: `s3://models/nca-drill/${DRILL.toLowerCase()}/` } });
    expect(sandbox([{ kind: 'directory', path: '/mnt/models' }]).name).toBe(`/mnt/nca-drill-${DRILL.toLowerCase()}`);
  });

  test('a sandbox sharing files with a configured location is refused: a whole bucket, or a configured target inside one', () => {
    expect(() => sandbox([{ kind: 's3', bucket: 'models', prefix: '' }])).toThrow(InvalidInputError);
    expect(() => sandbox([{ kind: 's3', bucket: 'models', prefix: 'llm/' }], { target: 's3://models/llm/drills/' })).toThrow(/shares files with the configured location s3:\/\/models\/llm\//);
    expect(sandbox([{ kind: 's3', bucket: 'models', prefix: 'llm/' }], { target: 's3://scratch/drills/' }).name).toBe('s3://scratch/drills/');
  });
});

describe('the logs target a drill restores into', () => {
  const source = { logGroups: [], logGroupPrefixes: ['/nca/'], metrics: [], settleMinutes: 0, lateArrivalHours: 336, restoreLogGroupPrefix: '/nca-backup/restored/' };
  const windows = (...sources: [string, string, number][]) => ({ source: { windows: sources.map(([s, kind, count]) => ({ source: s, kind, count })) } });

  test('one log group: a group under the restore prefix, with files beside it for events too old for CloudWatch Logs', () => {
    const chosen = logsSandbox({ drillId: DRILL, source, manifest: windows(['/nca/app', 'log-group', 3], ['/nca/empty', 'log-group', 0]) });
    expect(chosen).toMatchObject({ name: `log group /nca-backup/restored/drill-${DRILL.toLowerCase()}/nca/app`, options: { targetLogGroup: `/nca-backup/restored/drill-${DRILL.toLowerCase()}/nca/app` } });
  });

  test('several groups or metric datapoints: files under the restore location', () => {
    const located = { ...source, restoreLocation: { bucket: 'restores', prefix: 'athena/' } };
    const chosen = logsSandbox({ drillId: DRILL, source: located, manifest: windows(['/nca/app', 'log-group', 3], ['metrics:cwagent', 'metrics', 9]) });
    expect(chosen).toEqual({ name: `s3://restores/athena/nca-drill/${DRILL.toLowerCase()}/`, source: located, options: { targetPrefix: `s3://restores/athena/nca-drill/${DRILL.toLowerCase()}/` } });
  });
});

describe('a sandbox server', () => {
  const env = { NCA_REDIS_URL: 'redis://127.0.0.1:6379', NCA_VECTOR_URL: 'postgres://v', NCA_POSTGRES_URL: 'postgres://p', OTHER: 'kept' };

  test('fields that are not a connection leave the local URL in place', () => {
    expect(sandboxServer({ db: 2, keyPatterns: ['*'] }, { db: 5 }, 'redis', env)).toEqual({ source: { db: 5, keyPatterns: ['*'] }, env });
  });

  test("a connection of its own replaces production's: the store's local URL variables are left out", () => {
    const redis = sandboxServer({ db: 2 }, { url: 'redis://sandbox:6379' }, 'redis', env);
    expect(redis.source).toEqual({ db: 2, url: 'redis://sandbox:6379' });
    expect(redis.env).toEqual({ NCA_VECTOR_URL: 'postgres://v', NCA_POSTGRES_URL: 'postgres://p', OTHER: 'kept' });
    expect(sandboxServer({ database: 'nca' }, { host: 'sandbox.internal' }, 'vector', env).env).toEqual({ NCA_REDIS_URL: 'redis://127.0.0.1:6379', OTHER: 'kept' });
  });
});
