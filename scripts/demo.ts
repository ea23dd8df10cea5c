/**
 * `npm run demo`: the whole walking skeleton on one machine. Throwaway PostgreSQL and S3 (s3rver), a
 * sample NCA database, the backup state machine, damage, the restore state machine, and a short report.
 * Everything it starts it stops, and its temporary directories are removed.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadBackupConfig } from '../infra/config/load';
import { connectPostgres, postgres } from '../functions/components/postgres';
import { localRuntimeConfig } from '../functions/core/local-config';
import type { RuntimeConfig } from '../functions/core/runtime-config';
import { createS3Client } from '../functions/core/storage';
import { compareFingerprints } from '../functions/core/fingerprint-diff';
import { startPostgres, startS3, type RunningServer } from './local-servers';
import { FUNCTIONS, workflowHarness } from './local-workflows';
import { damageSampleDatabase, loadSampleNcaDatabase } from './sample-nca-db';

const say = (line: string) => process.stderr.write(`demo: ${line}\n`);

async function main(): Promise<void> {
  const servers: RunningServer[] = [];
  try {
    say('starting PostgreSQL and s3rver on free local ports');
    const [pg, s3] = await Promise.all([startPostgres(), startS3()]);
    servers.push(pg, s3);

    const base = localRuntimeConfig(loadBackupConfig(join(__dirname, '..', 'backup.yaml')), {});
    const database = base.components.postgres?.source.database ?? 'neuroca_db';
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
    await admin.end();
    say(`loading a sample NCA database "${database}"`);
    await loadSampleNcaDatabase(pg.urlFor(database), { rows: 20000 });

    await createS3Client({ endpoint: s3.endpoint }).send(new CreateBucketCommand({ Bucket: base.bucket }));
    const config: RuntimeConfig = {
      ...base,
      components: {
        postgres: {
          group: 'database',
          source: { database },
          worker: { functionName: FUNCTIONS.worker('postgres'), taskDefinitionArn: 'arn:aws:ecs:local:task-definition/worker', containerName: 'worker', subnets: [], securityGroups: [] },
        },
      },
    };
    const env = { NCA_S3_ENDPOINT: s3.endpoint, NCA_POSTGRES_URL: pg.url };
    const harness = workflowHarness(config, env);
    const target = await connectPostgres({ database }, { ...process.env, ...env });
    const original = await postgres.fingerprint(target);
    const rows = Object.entries(original).filter(([k]) => !k.includes('#')).reduce((sum, [, v]) => sum + v.count, 0);
    say(`${Object.keys(original).filter((k) => !k.includes('#')).length} tables, ${rows} rows`);

    say('running the backup state machine: {"group": "database"}');
    const backup = await harness.run('backup', { group: 'database', trigger: 'manual' });
    if (backup.status !== 'SUCCEEDED') throw new Error(`backup failed: ${backup.error}: ${backup.cause}`);
    const backedUp = backup.output.components[0];

    say('damaging the database: deleting and updating rows, dropping a table');
    await damageSampleDatabase(pg.urlFor(database));
    const damagedTables = compareFingerprints(original, await postgres.fingerprint(target)).length;

    say(`running the restore state machine: {"component": "postgres", "backupId": "latest", "targetDatabase": "${database}"}`);
    const restore = await harness.run('restore', { component: 'postgres', backupId: 'latest', targetDatabase: database });
    if (restore.status !== 'SUCCEEDED') throw new Error(`restore failed: ${restore.error}: ${restore.cause}`);
    const after = await postgres.fingerprint(target);
    const match = compareFingerprints(original, after).length === 0;

    const report = {
      backupId: backup.output.backupId,
      bytes: backedUp.bytes,
      backupDurationMs: backedUp.durationMs,
      backupThroughputMBps: Math.round((backedUp.bytes / 1e6 / (backedUp.durationMs / 1000)) * 100) / 100,
      objectsDamaged: damagedTables,
      safetyBackupId: restore.output.safetyBackup?.backupId,
      restoreDurationMs: restore.output.restoreDurationMs,
      fingerprintMatch: restore.output.fingerprintMatch && match,
      events: harness.events.map((e) => e.DetailType),
    };
    process.stdout.write(
      [
        '',
        'nca-backup demo',
        `  backup id          ${report.backupId}`,
        `  bytes              ${report.bytes} (${rows} rows in ${Object.keys(original).filter((k) => !k.includes('#')).length} tables)`,
        `  backup             ${report.backupDurationMs} ms, ${report.backupThroughputMBps} MB/s`,
        `  damaged objects    ${report.objectsDamaged}`,
        `  safety backup      ${report.safetyBackupId}`,
        `  restore            ${report.restoreDurationMs} ms`,
        `  fingerprint match  ${report.fingerprintMatch ? 'yes' : 'NO'}`,
        `  events             ${report.events.join(', ')}`,
        '',
      ].join('\n'),
    );
    if (!report.fingerprintMatch) process.exitCode = 1;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    say('stopped the servers and removed their data');
  }
}

main().catch((error: Error) => {
  process.stderr.write(`demo failed: ${error.message}\n`);
  process.exitCode = 1;
});
