/**
 * cdk-nag AwsSolutions on the app: any finding that is not acknowledged with a reason makes app.synth()
 * throw, failing the test. The runbook's configuration and backup.yaml are checked as deployed (Node.js
 * functions bundled with esbuild, the worker image staged); the other configurations without bundling: the
 * rules read the resources' properties, which bundling does not change, and each bundled synth costs ~30 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Stack, Validations, type App } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildApp } from '../../infra/app';
import { loadBackupConfig } from '../../config/load';
import type { BackupConfig } from '../../config/types';
import { configWith, fixtureConfig, quietBundling } from './fixture-config';

const BACKUP_YAML = path.join(__dirname, '..', '..', 'backup.yaml');

/** Synthesizes `config` with the AwsSolutions pack; returns the error message, or undefined when clean. */
function nagFindings(config: BackupConfig, { extend, bundling = false }: { extend?: (app: App) => void; bundling?: boolean } = {}): string | undefined {
  const outdir = mkdtempSync(path.join(tmpdir(), 'nca-nag-'));
  try {
    const app = quietBundling(() => buildApp(config, { outdir, bundling }));
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    extend?.(app);
    app.synth();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** True once config/load.ts is implemented and backup.yaml exists (both are written in parallel to this file). */
describe('cdk-nag AwsSolutions', () => {
  test('the runbook configuration, bundled as deployed, synthesizes without findings', () => {
    expect(nagFindings(fixtureConfig(), { bundling: true })).toBeUndefined();
  });

  test('created key, secret, e-mails, Object Lock, cold storage and the recovery restore plane: no findings', () => {
    const config = configWith((c) => {
      delete (c.encryption as { kmsKeyId?: string }).kmsKeyId;
      c.sources.postgres = { database: 'neuroca_db', secretArn: 'arn:aws:secretsmanager:us-west-2:123456789012:secret:neuroca/db' };
      c.notifications = { emails: ['oncall@example.com'] };
      c.storage.objectLock = { mode: 'GOVERNANCE', days: 30 };
      c.storage.coldStorage = { storageClass: 'GLACIER_IR', afterDays: 30 };
      // The recovery stack's restore plane (backup.recovery).
      (c as { recovery?: unknown }).recovery = { sources: { postgres: { database: 'neuroca_db', secretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:neuroca/db' } } };
    });
    expect(nagFindings(config)).toBeUndefined();
  });

  test('key by alias, imported network and topic, no components: no findings', () => {
    const config = configWith((c) => {
      (c.encryption as { kmsKeyId?: string }).kmsKeyId = 'alias/neuroca-backup';
      c.network = {
        vpcId: 'vpc-0123456789abcdef0',
        subnetIds: ['subnet-0123456789abcdef0', 'subnet-0fedcba9876543210'],
        availabilityZones: ['us-west-2a', 'us-west-2b'],
        securityGroupIds: ['sg-0123456789abcdef0'],
      };
      c.notifications = { emails: [], snsTopicArn: 'arn:aws:sns:us-west-2:123456789012:ops-alerts' };
    });
    expect(nagFindings(config)).toBeUndefined();
    expect(nagFindings(configWith((c) => delete c.sources.postgres))).toBeUndefined();
  });

  test('backup.yaml, loaded by loadBackupConfig, synthesizes without findings and without a warning', () => {
    // The template validation prints its warnings (e.g. F3017, a malformed key id) to the console.
    const printed: string[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => printed.push(args.map(String).join(' '));
    try {
      expect(nagFindings(loadBackupConfig(BACKUP_YAML), { bundling: true })).toBeUndefined();
    } finally {
      console.error = original;
    }
    expect(printed).toEqual([]);
  });

  test('every component configured (memory stores with secrets): no findings', () => {
    const arn = (name: string) => `arn:aws:secretsmanager:us-west-2:123456789012:secret:nca/${name}-AbC123`;
    const config = configWith((c) => {
      c.sources.postgres = { database: 'neuroca_db', secretArn: arn('postgres'), rdsInstanceId: 'neuroca-db' };
      c.sources.redis = { secretArn: arn('redis'), db: 0, keyPatterns: ['*'] };
      c.sources.mongodb = { secretArn: arn('mongo'), database: 'neuroca_episodic' };
      c.sources.vector = { secretArn: arn('vector'), database: 'neuroca_db', table: 'semantic_memory' };
      c.sources.memory = { tiers: ['working', 'episodic', 'semantic'], workingNamespace: 'working', episodicCollection: 'memories' };
      c.sources.config = { parameterPaths: ['/neuroca', '/shared'], secrets: ['neuroca/', arn('api')], files: [{ bucket: 'neuroca-config', prefix: 'config/' }, { bucket: 'neuroca-env', prefix: '' }] };
      c.sources.models = {
        paths: [{ kind: 's3', bucket: 'neuroca-models', prefix: 'llm/' }, { kind: 's3', bucket: 'neuroca-checkpoints', prefix: '' }, { kind: 'directory', path: '/mnt/models' }],
        include: ['**'],
        exclude: ['**/*.tmp'],
      };
      c.sources.logs = {
        logGroups: ['/neuroca/app'],
        logGroupPrefixes: ['/aws/lambda/neuroca-'],
        metrics: [{ id: 'CWAgent', namespace: 'CWAgent', periodSeconds: 60, statistics: ['Average'] }],
        settleMinutes: 60,
        lateArrivalHours: 336,
        restoreLocation: { bucket: 'neuroca-log-restores', prefix: 'restores/' },
        restoreLogGroupPrefix: '/nca-backup/restored/',
      };
      c.createdNetwork = { interfaceEndpoints: true };
    });
    expect(nagFindings(config)).toBeUndefined();
  });

  test('the check is live: an unencrypted queue added to the app is reported', () => {
    const message = nagFindings(fixtureConfig(), { extend: (app) => new sqs.Queue(new Stack(app, 'Extra', { env: { region: 'us-west-2' } }), 'Plain') });
    expect(message).toMatch(/AwsSolutions-SQS4/);
    expect(message).toMatch(/Extra\/Plain/);
  });
});
