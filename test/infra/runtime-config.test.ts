/**
 * infra/runtime-config.ts: backup.yaml + deployed names → the runtime config every function receives, and where
 * it travels: in the state machines' definitions (each Lambda task's payload), the janitor's schedule input and
 * the Fargate task definition, never in a Lambda environment, which AWS limits to 4 KB in all.
 */
import { parseBackupConfig } from '../../config/load';
import { deployedRuntimeConfig, runtimeEscapedJson, vaultRuntimeConfig } from '../../infra/runtime-config';
import { buildStacks } from '../../infra/app';
import { MAX_DEFINITION_BYTES } from '../../infra/constructs/workflows';
import { configWith, fixtureConfig, logicalId, render, runtimeConfigOf, synthTemplates } from './fixture-config';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';

const WORKER = {
  functionName: 'nca-postgres-worker',
  taskDefinitionArn: 'arn:aws:ecs:us-west-2:123456789012:task-definition/nca-postgres:3',
  containerName: 'postgres-worker',
  subnets: ['subnet-1'],
  securityGroups: ['sg-1'],
};

describe('deployedRuntimeConfig', () => {
  test('vault, key and runner settings from the config; the worker only when given', () => {
    const config = fixtureConfig();
    expect(deployedRuntimeConfig(config, { kmsKeyId: 'key-arn' })).toEqual({
      bucket: 'neuroca-backups',
      prefix: 'backups/',
      region: 'us-west-2',
      kmsKeyId: 'key-arn',
      runner: { lambdaMaxBytes: 2 * 1024 ** 3, maxConcurrency: 4 },
      components: { postgres: { group: 'database', source: { database: 'neuroca_db' } } },
      // Drills' settings, with the runbook's RPO and RTO of the database group resolved at synth.
      verification: { recoveryPoint: 'latest', windowDays: 30, keepHours: 0, integrityCycleHours: 168, sandbox: {}, samples: {}, sanitize: {}, objectives: { postgres: { rpoHours: 24, rtoHours: 4 } } },
    });
    expect(deployedRuntimeConfig(config, { kmsKeyId: 'key-arn', workers: { postgres: WORKER } }).components.postgres?.worker).toEqual(WORKER);
  });

  test('keeps the secret ARN and a forced runner, drops the local-only URL, lists only configured components', () => {
    const config = configWith((c) => {
      c.sources.postgres = { database: 'db', secretArn: 'arn:aws:secretsmanager:us-west-2:1:secret:x-AbCdEf', url: 'postgres://user@localhost/db' };
      c.runner.force = 'fargate';
    });
    const runtime = deployedRuntimeConfig(config, { kmsKeyId: 'k' });
    expect(runtime.components.postgres?.source).toEqual({ database: 'db', secretArn: 'arn:aws:secretsmanager:us-west-2:1:secret:x-AbCdEf' });
    expect(runtime.runner.force).toBe('fargate');
    expect(deployedRuntimeConfig(configWith((c) => delete c.sources.postgres), { kmsKeyId: 'k' }).components).toEqual({});
  });

  test('the janitor\'s part keeps the vault and the groups, not the sources; the escaped form reads back as the same object', () => {
    const runtime = deployedRuntimeConfig(fixtureConfig(), { kmsKeyId: 'k', manifestKeyId: 'mk', workers: { postgres: WORKER } });
    expect(vaultRuntimeConfig(runtime)).toEqual({
      bucket: 'neuroca-backups',
      prefix: 'backups/',
      region: 'us-west-2',
      kmsKeyId: 'k',
      manifestKey: { kmsKeyId: 'mk' },
      components: { postgres: { group: 'database' } },
    });
    const inAsl = `{"runtimeConfig": "${runtimeEscapedJson(runtime)}"}`;
    expect(JSON.parse(JSON.parse(inAsl).runtimeConfig)).toEqual(runtime);
  });
});

const SECRET = (name: string) => `arn:aws:secretsmanager:us-west-2:210987654321:secret:neuroca/${name}-with-a-long-descriptive-name-AbC123`;
const hex = (i: number) => i.toString(16).padStart(17, '0');
const longPattern = (i: number) => `memory:${String(i).padStart(4, '0')}:${'k'.repeat(240)}*`;
const longCollection = (i: number) => `collection_${String(i).padStart(4, '0')}_${'c'.repeat(100)}`;

/**
 * The loader's maximum where it has one (16 subnets, 5 security groups: Lambda's VPC limits) and long lists
 * where it has none: 64 key patterns of 256 characters, 64 collections of 120 characters, 16 protected targets
 * of 63 characters, every component with a secret.
 */
function largestConfigYaml(): string {
  const list = (items: string[]) => `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;
  const subnets = Array.from({ length: 16 }, (_, i) => `subnet-${hex(i)}`);
  const zones = Array.from({ length: 16 }, (_, i) => `us-west-2${'abcdefghijklmnop'[i]}`);
  const groups = Array.from({ length: 5 }, (_, i) => `sg-${hex(i)}`);
  return `
backup:
  schedule:
    database: "0 2 * * *"
    memory_tiers: "0 3 * * *"
  storage:
    primary: { type: "s3", bucket: "nca-largest-config-primary-vault-name-of-sixty-three-characters", region: "us-west-2", path: "/a/rather/long/prefix/for/the/vault", exact_name: true }
    secondary: { type: "s3", bucket: "nca-largest-config-secondary-vault-name-of-sixty-three-characte", region: "eu-central-1", path: "/a/rather/long/prefix/for/the/vault", exact_name: true }
  retention: { database: 30d, memory_tiers: 14d, configuration: 90d, model_weights: 180d, logs: 90d }
  encryption: { enabled: true, key_management: "kms" }
  sources:
    postgres: { database: "neuroca_db", secret_arn: "${SECRET('postgres')}" }
    redis:
      db: 0
      secret_arn: "${SECRET('redis')}"
      key_patterns: ${list(Array.from({ length: 64 }, (_, i) => longPattern(i)))}
    mongodb:
      database: "neuroca_episodic"
      secret_arn: "${SECRET('mongodb')}"
      collections: ${list(Array.from({ length: 64 }, (_, i) => longCollection(i)))}
    vector: { database: "neuroca_db", table: "semantic_memory", secret_arn: "${SECRET('vector')}" }
    memory: { tiers: ["working", "episodic", "semantic"], working_namespace: "generic", episodic_collection: "ltm_memories" }
  network:
    vpc_id: "vpc-0123456789abcdef0"
    subnet_ids: ${list(subnets)}
    availability_zones: ${list(zones)}
    security_group_ids: ${list(groups)}
  restore:
    protected_targets: ${list(Array.from({ length: 16 }, (_, i) => `protected_${i}_${'p'.repeat(50)}`))}
`;
}

describe('at the loader\'s largest configuration', () => {
  const config = parseBackupConfig(largestConfigYaml(), { source: 'largest.yaml' });
  const { primary } = synthTemplates(config);
  const resources = primary.toJSON().Resources;

  test('the configuration is as large as intended: each copy of the runtime config is over 20 KB', () => {
    expect(config.network?.subnetIds).toHaveLength(16);
    expect(config.network?.securityGroupIds).toHaveLength(5);
    const worker = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'Workerredis'));
    expect(worker.components.redis.source.keyPatterns).toHaveLength(64);
    expect(worker.components.mongodb.source.collections).toHaveLength(64);
    expect(JSON.stringify(worker).length).toBeGreaterThan(20_000);
    const control = runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'ControlPlaneResolveRestore'));
    expect(control.components.redis.worker.subnets).toHaveLength(16);
    expect(control.components.redis.worker.securityGroups).toHaveLength(5);
  });

  test('every Lambda function\'s environment stays under 1 KB (Lambda refuses more than 4 KB) and none holds the runtime config', () => {
    const functions = Object.entries(resources).filter(([, r]: [string, any]) => r.Type === 'AWS::Lambda::Function') as [string, any][];
    expect(functions.length).toBeGreaterThanOrEqual(10);
    for (const [id, fn] of functions) {
      const variables: Record<string, unknown> = fn.Properties.Environment?.Variables ?? {};
      const size = Object.entries(variables).reduce((sum, [name, value]) => sum + name.length + render(value).length, 0);
      expect({ id, size: size < 1024 }).toEqual({ id, size: true });
      expect({ id, names: Object.keys(variables) }).not.toEqual({ id, names: expect.arrayContaining(['NCA_RUNTIME_CONFIG']) });
    }
  });

  test('both state machine definitions, substituted, stay under Step Functions\' 1 MB and give every Lambda task the runtime config', () => {
    for (const [name, file] of [['Backup', 'backup.asl.json'], ['Restore', 'restore.asl.json']] as const) {
      const props = resources[logicalId(primary, 'AWS::StepFunctions::StateMachine', `Workflows${name}`)].Properties;
      const asl = readFileSync(path.join(__dirname, '..', '..', 'state-machines', file), 'utf8');
      const deployed = asl.replace(/\$\{(\w+)\}/g, (_, key: string) => render(props.DefinitionSubstitutions[key]));
      expect(Buffer.byteLength(deployed)).toBeLessThan(MAX_DEFINITION_BYTES);
      const payloads: any[] = [];
      const visit = (states: Record<string, any>) => {
        for (const state of Object.values(states)) {
          if (state.Type === 'Map') visit(state.ItemProcessor.States);
          if (state.Type === 'Parallel') for (const b of state.Branches) visit(b.States);
          if (state.Resource === 'arn:aws:states:::lambda:invoke' && state.Parameters.Payload.runtimeConfig) payloads.push(state.Parameters.Payload);
        }
      };
      visit(JSON.parse(deployed).States);
      expect(payloads.length).toBeGreaterThanOrEqual(name === 'Backup' ? 4 : 12);
      for (const payload of payloads) expect(JSON.parse(payload.runtimeConfig).components.redis.source.keyPatterns).toHaveLength(64);
    }
  });

  test('the janitor\'s schedule input stays under EventBridge\'s 8 KB; the Fargate task definitions carry the whole config', () => {
    const rule = Object.values(primary.findResources('AWS::Events::Rule')).find((r: any) => JSON.stringify(r.Properties.Targets).includes('JanitorFunction')) as any;
    const input = render(rule.Properties.Targets[0].Input);
    expect(input.length).toBeLessThan(8192);
    expect(Object.keys(JSON.parse(JSON.parse(input).runtimeConfig).components).sort()).toEqual(['memory', 'mongodb', 'postgres', 'redis', 'vector']);
    const task = resources[logicalId(primary, 'AWS::ECS::TaskDefinition', 'Workerredis')].Properties;
    const env = Object.fromEntries(task.ContainerDefinitions[0].Environment.map((e: any) => [e.Name, e.Value]));
    expect(JSON.parse(render(env.NCA_RUNTIME_CONFIG))).toEqual(runtimeConfigOf(primary, logicalId(primary, 'AWS::Lambda::Function', 'Workerredis')));
  });

  test('the integrity schedules\' inputs (the vault part, the component, the cycle) stay under EventBridge\'s 8 KB too', () => {
    const rules = Object.values(primary.findResources('AWS::Events::Rule')).filter((r: any) => String(r.Properties.Description ?? '').includes('integrity check')) as any[];
    expect(rules).toHaveLength(10);
    for (const rule of rules) expect(render(rule.Properties.Targets[0].Input).length).toBeLessThan(8192);
  });

  test('a configuration whose definitions would pass 1 MB is refused at synth, saying which lists to shorten', () => {
    const huge = configWith((c) => {
      c.sources.redis = { db: 0, keyPatterns: Array.from({ length: 400 }, (_, i) => longPattern(i)) };
    });
    expect(() => buildStacks(huge, { bundling: false })).toThrow(/restore\.asl\.json would be about \d+ KiB once its runtime configuration is substituted; Step Functions accepts at most 1024 KiB\. Shorten the longest lists under backup\.sources/);
  });
});
