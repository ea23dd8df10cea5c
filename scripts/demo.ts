/**
 * `npm run demo`: the whole system on one machine. Throwaway PostgreSQL, Redis, S3 (s3rver) and the MongoDB,
 * Parameter Store, Secrets Manager and KMS wire-protocol substitutes (no such server can be installed here;
 * see README); a sample NCA database, sample memories in all three stores, a sample configuration and a
 * small model in S3, NCA logs and a metric in the CloudWatch Logs and metrics substitutes; the backup state
 * machine for the database, memory_tiers, configuration, model_weights and logs groups (logs twice, with
 * events arriving in between, some late); damage (a log group deleted); the restore state machine for every
 * component (the configuration's with apply: true; the logs' range of both backups into a new log group and
 * into a directory); a restore drill of every component into sandboxes, with its scorecard; and a short report. Everything it starts it stops, and its temporary directories are
 * removed.
 */
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { DeleteParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { join } from 'node:path';
import { Client } from 'pg';
import { loadBackupConfig } from '../config/load';
import type { ComponentName } from '../config/types';
import { componentEntry } from '../functions/components';
import type { Fingerprint } from '../functions/components/types';
import { localRuntimeConfig } from '../functions/core/local-config';
import type { RuntimeConfig } from '../functions/core/runtime-config';
import { createS3Client } from '../functions/core/storage';
import { compareFingerprints } from '../functions/core/fingerprint-diff';
import { startConfigStores, type ConfigStores } from '../test/support/config-stores';
import { startMongoWireServer } from '../test/support/mongo-wire-server';
import { startCloudWatchLogsServer } from '../test/support/cloudwatch-logs-server';
import { startCloudWatchMetricsServer } from '../test/support/cloudwatch-metrics-server';
import { DeleteLogGroupCommand } from '@aws-sdk/client-cloudwatch-logs';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { createLogsClients, destroyLogsClients } from '../functions/components/logs/clients';
import type { LogsSourceConfig } from '../functions/components/logs/source';
import { loadSampleLogs, loadSampleMetrics, SAMPLE_LOG_GROUPS } from './sample-nca-logs';
import { startPostgres, startRedis, startS3 } from './local-servers';
import { localWorker, workflowHarness, type WorkflowResult } from './local-workflows';
import { damageSampleDatabase, loadSampleNcaDatabase } from './sample-nca-db';
import { damageSampleMemory, loadSampleMemory } from './sample-nca-memory';

const say = (line: string) => process.stderr.write(`demo: ${line}\n`);
const COMPONENTS: ComponentName[] = ['postgres', 'redis', 'mongodb', 'vector', 'memory', 'config', 'models'];

function succeeded(what: string, result: WorkflowResult): void {
  if (result.status !== 'SUCCEEDED') throw new Error(`${what} failed: ${result.error}: ${result.cause}`);
}

function mbps(bytes: number, ms: number): string {
  return (bytes / 1e6 / Math.max(ms / 1000, 0.001)).toFixed(2);
}

async function main(): Promise<void> {
  const servers: { stop(): Promise<void> }[] = [];
  try {
    say('starting PostgreSQL, Redis, s3rver and the MongoDB, Parameter Store, Secrets Manager and KMS wire-protocol servers on free local ports');
    const [pg, redis, s3, mongo, configStores, cwLogs, cwMetrics] = await Promise.all([startPostgres(), startRedis(), startS3(), startMongoWireServer({ replicaSet: true }), startConfigStores(), startCloudWatchLogsServer(), startCloudWatchMetricsServer()]);
    servers.push(pg, redis, s3, mongo, configStores, cwLogs, cwMetrics);

    const base = localRuntimeConfig(loadBackupConfig(join(__dirname, '..', 'backup.yaml')), {});
    const database = base.components.postgres?.source.database ?? 'neuroca_db';
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
    await admin.end();
    say(`loading a sample NCA database "${database}" and sample memories in Redis, MongoDB and the vector table`);
    await loadSampleNcaDatabase(pg.urlFor(database), { rows: 20000 });
    const stores = { redisUrl: redis.url, mongoUrl: mongo.url, postgresUrl: pg.urlFor(database) };
    // One dimension for every vector: the native vector backup refuses a table whose embeddings disagree.
    const sample = await loadSampleMemory(stores, { items: 3000, dimension: 768, otherDimensionItems: false });

    const s3Client = createS3Client({ endpoint: s3.endpoint });
    await s3Client.send(new CreateBucketCommand({ Bucket: base.bucket }));
    // A small model in S3 (backup.yaml names none: the demo adds one).
    await s3Client.send(new CreateBucketCommand({ Bucket: DEMO_MODELS_BUCKET }));
    await loadSampleModel(s3Client);
    const withModels = { ...base.components, models: { group: 'model_weights' as const, source: { paths: [{ kind: 's3' as const, bucket: DEMO_MODELS_BUCKET, prefix: 'llm/' }], include: ['**'], exclude: ['**/*.tmp'] } } };
    // The NCA's logs (backup.yaml names none: the demo adds two groups and a metric set).
    say('loading NCA application and audit logs and a memory latency metric into the CloudWatch Logs and metrics substitutes');
    loadSampleLogs(cwLogs, { count: 2000, ageMs: 2 * 60 * 60 * 1000 });
    loadSampleMetrics(cwMetrics);
    const logsSource: LogsSourceConfig = {
      logGroups: [...SAMPLE_LOG_GROUPS],
      logGroupPrefixes: [],
      metrics: [{ id: 'memory', namespace: 'NCA/Memory', periodSeconds: 60, statistics: ['Average', 'Maximum'] }],
      settleMinutes: 0,
      lookbackDays: 1,
      lateArrivalHours: 336,
      restoreLogGroupPrefix: '/nca-backup/restored/',
    };
    const config: RuntimeConfig = {
      ...base,
      components: {
        ...Object.fromEntries(COMPONENTS.filter((name) => withModels[name]).map((name) => [name, { ...withModels[name]!, worker: localWorker(name) }])),
        logs: { group: 'logs' as const, source: logsSource, worker: localWorker('logs') },
      } as RuntimeConfig['components'],
    };
    const env = {
      NCA_S3_ENDPOINT: s3.endpoint,
      NCA_POSTGRES_URL: pg.url,
      NCA_REDIS_URL: redis.url,
      NCA_MONGODB_URL: mongo.url,
      NCA_VECTOR_URL: pg.url,
      ...configStores.endpoints,
      NCA_CONFIG_ENVELOPE_KEY: configStores.envelopeKeyId,
      NCA_LOGS_ENDPOINT: cwLogs.endpoint,
      NCA_METRICS_ENDPOINT: cwMetrics.endpoint,
    };
    const harness = workflowHarness(config, env);
    const configured = COMPONENTS.filter((name) => config.components[name]);
    const fingerprint = async (name: ComponentName): Promise<Fingerprint> => {
      const entry = componentEntry(name);
      return entry.component.fingerprint(await entry.connect(config.components[name]!.source as never, { ...process.env, ...env }));
    };
    const original = Object.fromEntries(await Promise.all(configured.map(async (n) => [n, await fingerprint(n)] as const)));
    say(`${sample.working.length} working, ${sample.episodic.length} episodic, ${sample.semantic.length} semantic memories`);

    const backups = [];
    for (const group of ['database', 'memory_tiers', 'configuration', 'model_weights', 'logs']) {
      say(`running the backup state machine: {"group": "${group}"}`);
      const backup = await harness.run('backup', { group, trigger: 'manual' });
      succeeded(`backup of ${group}`, backup);
      backups.push(...backup.output.components.map((c: { component: string; bytes: number; durationMs: number; runner: string }) => ({ ...c, backupId: backup.output.backupId })));
    }

    // Logs are incremental: more events arrive (some stamped an hour before the first backup's end), and a second backup takes exactly those.
    loadSampleLogs(cwLogs, { count: 600 });
    loadSampleLogs(cwLogs, { count: 200, ageMs: 60 * 60 * 1000, spanMs: 10 * 60 * 1000 });
    say('running the backup state machine again for logs: {"group": "logs"} (the window since the first)');
    const secondLogs = await harness.run('backup', { group: 'logs', trigger: 'manual' });
    succeeded('second backup of logs', secondLogs);
    const logsBefore = Object.fromEntries(SAMPLE_LOG_GROUPS.map((g) => [g, cwLogs.eventsOf(g).length]));

    say('damaging the data: rows, keys, documents and vectors deleted and changed, a table dropped, parameters and a secret changed, a parameter deleted, a log group deleted');
    const logsClients = createLogsClients({ logsEndpoint: cwLogs.endpoint });
    await logsClients.logs.send(new DeleteLogGroupCommand({ logGroupName: SAMPLE_LOG_GROUPS[0] }));
    destroyLogsClients(logsClients);
    await damageSampleDatabase(pg.urlFor(database));
    await damageSampleMemory(stores);
    await damageSampleConfiguration(configStores);
    await damageSampleModel(s3Client);
    const damaged = Object.fromEntries(await Promise.all(configured.map(async (n) => [n, compareFingerprints(original[n], await fingerprint(n)).length] as const)));

    const restores = [];
    // The native backups first; the memory-tier export then restores its tiers over the same stores.
    for (const component of configured) {
      // The configuration restore plans unless told to apply.
      const options: Partial<Record<ComponentName, Record<string, unknown>>> = { memory: { tiers: ['working', 'episodic', 'semantic'] }, config: { apply: true } };
      const input = options[component] ? { component, backupId: 'latest', options: options[component] } : { component, backupId: 'latest' };
      say(`running the restore state machine: ${JSON.stringify(input)}`);
      const restore = await harness.run('restore', input);
      succeeded(`restore of ${component}`, restore);
      restores.push({ component, output: restore.output, match: compareFingerprints(original[component], await fingerprint(component)).length === 0 });
    }

    // Logs: everything both backups hold (from the first window's start to now, narrowed to what they cover),
    // the deleted group into a new group and every group to a directory, counted against the substitute's store.
    const logsDir = mkdtempSync(join(tmpdir(), 'nca-demo-logs-'));
    const range = { from: new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString(), to: new Date().toISOString() };
    const logsRestores = [
      { logGroups: [SAMPLE_LOG_GROUPS[0]], targetLogGroup: `/nca-backup/restored${SAMPLE_LOG_GROUPS[0]}` },
      { directory: logsDir },
    ];
    const logsResults = [];
    for (const options of logsRestores) {
      const input = { component: 'logs', backupId: 'latest', options: { ...range, ...options } };
      say(`running the restore state machine: ${JSON.stringify(input)}`);
      const restore = await harness.run('restore', input);
      succeeded('restore of logs', restore);
      logsResults.push(restore.output);
    }
    const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
    const filed = walk(logsDir).filter((f) => f.includes('/logs/log_group=')).reduce((n, f) => n + gunzipSync(readFileSync(f)).toString('utf8').split('\n').filter(Boolean).length, 0);
    rmSync(logsDir, { recursive: true, force: true });
    const inGroup = cwLogs.eventsOf(`/nca-backup/restored${SAMPLE_LOG_GROUPS[0]}`).length;
    const allEvents = SAMPLE_LOG_GROUPS.reduce((n, g) => n + logsBefore[g], 0);
    const logsMatch = inGroup === logsBefore[SAMPLE_LOG_GROUPS[0]] && filed === allEvents && logsResults.every((o) => o.fingerprintMatch);

    const pad = (text: string, width: number) => text.padEnd(width);
    const lines = ['', 'nca-backup demo', `  ${pad('component', 10)}${pad('backup id', 26)}${pad('bytes', 11)}${pad('backup', 20)}${pad('damaged', 9)}${pad('restore', 10)}fingerprint`];
    for (const r of restores) {
      const b = backups.find((x) => x.component === r.component)!;
      lines.push(
        `  ${pad(r.component, 10)}${pad(b.backupId, 26)}${pad(String(b.bytes), 11)}${pad(`${b.durationMs} ms, ${mbps(b.bytes, b.durationMs)} MB/s`, 20)}${pad(String(damaged[r.component]), 9)}${pad(`${r.output.restoreDurationMs} ms`, 10)}${r.match && r.output.fingerprintMatch ? 'match' : 'MISMATCH'}`,
      );
    }
    const logsBackups = backups.filter((x) => x.component === 'logs');
    lines.push(
      `  ${pad('logs', 10)}${pad(`${logsBackups.length + 1} backups`, 26)}${pad(String(logsBackups.reduce((n, b) => n + b.bytes, 0) + secondLogs.output.components[0].bytes), 11)}${pad('2 windows', 20)}${pad('1 group', 9)}${pad(`${logsResults[0].restoreDurationMs} ms`, 10)}${logsMatch ? 'match' : 'MISMATCH'} (events: ${inGroup}/${logsBefore[SAMPLE_LOG_GROUPS[0]]} into a new group, ${filed}/${allEvents} to files)`,
    );
    // The in-place PostgreSQL restore swaps a verified staging copy in; the damaged database stays aside.
    const postgresDetails = restores.find((r) => r.component === 'postgres')?.output.details;
    if (postgresDetails?.previousKeptAs) {
      lines.push(`  postgres: restored in place; the damaged database is kept aside as "${postgresDetails.previousKeptAs}" until ${postgresDetails.previousKeptUntil}`);
    }
    const events = harness.events.map((e) => e.DetailType);
    lines.push(`  events: ${events.filter((e) => e === 'Backup Succeeded').length} Backup Succeeded, ${events.filter((e) => e === 'Restore Succeeded').length} Restore Succeeded, ${events.filter((e) => e.endsWith('Failed')).length} failed`, '');
    // Last, the proof an SRE team schedules: every component drilled into a sandbox beside the restored production.
    say('running the drill state machine: {} (every component restored into a sandbox, verified, read back, timed, dropped)');
    const drill = await harness.run('restore-test', {});
    if (drill.status === 'SUCCEEDED') {
      lines.push(`  restore drill ${drill.output.drillId}: ${drill.output.drills.length} components, all succeeded`);
      for (const d of drill.output.drills) lines.push(`    ${pad(d.component, 10)}${pad(`${d.restoreSeconds.toFixed(1)} s`, 10)}backup ${d.backupId}, sandbox ${d.sandbox ?? '-'} ${d.sandboxState?.state ?? ''}`);
      lines.push(`  scorecard: ${drill.output.scorecard?.urls?.[0] ?? drill.output.scorecardProblem}`, '');
    } else {
      lines.push(`  restore drill FAILED: ${drill.error}: ${drill.cause}`, '');
    }
    process.stdout.write(lines.join('\n'));
    if (restores.some((r) => !r.match) || !logsMatch || drill.status !== 'SUCCEEDED') process.exitCode = 1;
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    say('stopped the servers and removed their data');
  }
}

const DEMO_MODELS_BUCKET = 'neuroca-models-demo';
const SAMPLE_MODEL: Record<string, Buffer> = {
  'llm/config.json': Buffer.from(JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 512, num_hidden_layers: 4 })),
  'llm/model.safetensors': randomBytes(8 * 1024 * 1024),
  'llm/tokenizer.json': Buffer.from(JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1 } } })),
  'llm/adapters/episodic/adapter_model.bin': randomBytes(512 * 1024),
  'llm/checkpoint.tmp': randomBytes(1024),
};

async function loadSampleModel(s3: S3Client): Promise<void> {
  for (const [Key, Body] of Object.entries(SAMPLE_MODEL)) await s3.send(new PutObjectCommand({ Bucket: DEMO_MODELS_BUCKET, Key, Body }));
}

/** A bad clean-up: the weights overwritten by a half-written file, the adapter deleted. */
async function damageSampleModel(s3: S3Client): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: DEMO_MODELS_BUCKET, Key: 'llm/model.safetensors', Body: randomBytes(1024) }));
  await s3.send(new DeleteObjectCommand({ Bucket: DEMO_MODELS_BUCKET, Key: 'llm/adapters/episodic/adapter_model.bin' }));
}

/** A bad deploy: a SecureString and the secret overwritten, one parameter deleted. */
async function damageSampleConfiguration(stores: ConfigStores): Promise<void> {
  await stores.ssm.send(new PutParameterCommand({ Name: '/neuroca/db/password', Value: 'overwritten-by-a-deploy', Type: 'SecureString', Overwrite: true }));
  await stores.ssm.send(new DeleteParameterCommand({ Name: '/neuroca/features' }));
  await stores.secrets.send(new PutSecretValueCommand({ SecretId: 'neuroca/openai', SecretString: 'sk-rotated-by-mistake' }));
}

main().catch((error: Error) => {
  process.stderr.write(`demo failed: ${error.message}\n`);
  process.exitCode = 1;
});
