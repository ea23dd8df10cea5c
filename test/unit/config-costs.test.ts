/**
 * backup.yaml's cost choices: the created VPC's interface endpoints and flow logs (backup.network),
 * Container Insights (backup.runner.fargate) and Replication Time Control (backup.storage); and the
 * early-deletion fees of cold storage, which the stacks warn about.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { ConfigError, DEFAULT_CONFIG_FILE, parseBackupConfig } from '../../config/load';
import { earlyDeletions, MINIMUM_STORAGE_DAYS } from '../../infra/cold-storage-fees';
import { thrown } from '../support/thrown';

const SHIPPED = readFileSync(path.join(__dirname, '..', '..', DEFAULT_CONFIG_FILE), 'utf8');

/** The repository's backup.yaml with `edit` applied to its backup: mapping. */
function shippedWith(edit: (backup: Record<string, any>) => void): string {
  const doc = parse(SHIPPED) as { backup: Record<string, any> };
  edit(doc.backup);
  return stringify(doc);
}

function issuesOf(yaml: string): Record<string, string> {
  return Object.fromEntries(thrown(ConfigError, () => parseBackupConfig(yaml)).issues.map((i) => [i.path, i.problem]));
}

describe('backup.yaml cost choices', () => {
  test('left out, the loaded configuration holds no choice: the stacks\' defaults apply', () => {
    const config = parseBackupConfig(SHIPPED);
    expect(config.createdNetwork).toBeUndefined();
    expect(config.storage.replicationTimeControl).toBeUndefined();
    expect(config.runner.fargate.containerInsights).toBeUndefined();
  });

  test('each choice is read where it belongs', () => {
    const config = parseBackupConfig(
      shippedWith((b) => {
        b.network = { interface_endpoints: true, flow_logs: 'all' };
        b.storage.replication_time_control = true;
        b.runner.fargate.container_insights = true;
      }),
    );
    expect(config.createdNetwork).toEqual({ interfaceEndpoints: true, flowLogs: 'ALL' });
    expect(config.network).toBeUndefined();
    expect(config.storage.replicationTimeControl).toBe(true);
    expect(config.runner.fargate).toEqual({ cpu: 8192, memoryMiB: 16384, ephemeralStorageGiB: 21, containerInsights: true });
    expect(parseBackupConfig(shippedWith((b) => (b.network = { flow_logs: 'OFF' }))).createdNetwork).toEqual({ flowLogs: 'OFF' });
    // Unquoted `off` is a string in YAML 1.2 (not false, as in YAML 1.1), and values match without case.
    expect(parseBackupConfig(`${SHIPPED}\n  network:\n    flow_logs: off\n`).createdNetwork).toEqual({ flowLogs: 'OFF' });
  });

  test('an empty network section still means the created VPC', () => {
    const config = parseBackupConfig(shippedWith((b) => (b.network = null)));
    expect(config.network).toBeUndefined();
    expect(config.createdNetwork).toBeUndefined();
  });

  test('wrong values are refused, naming the field and what is allowed', () => {
    expect(
      issuesOf(
        shippedWith((b) => {
          b.network = { interface_endpoints: 'yes', flow_logs: 'rejected' };
          b.storage.replication_time_control = 1;
          b.runner.fargate.container_insights = 'enabled';
        }),
      ),
    ).toEqual({
      'backup.network.interface_endpoints': "'yes' is not allowed; allowed: true, false",
      'backup.network.flow_logs': "'rejected' is not allowed; allowed: ALL, REJECT, OFF",
      'backup.storage.replication_time_control': '1 is not allowed; allowed: true, false',
      'backup.runner.fargate.container_insights': "'enabled' is not allowed; allowed: true, false",
    });
  });

  test('endpoints and flow logs of an imported VPC are refused: they are the operator\'s own', () => {
    const issues = issuesOf(
      shippedWith(
        (b) =>
          (b.network = {
            vpc_id: 'vpc-0123456789abcdef0',
            subnet_ids: ['subnet-0123456789abcdef0'],
            availability_zones: ['us-west-2a'],
            security_group_ids: ['sg-0123456789abcdef0'],
            interface_endpoints: false,
            flow_logs: 'off',
          }),
      ),
    );
    expect(Object.keys(issues)).toEqual(['backup.network.interface_endpoints', 'backup.network.flow_logs']);
    expect(issues['backup.network.flow_logs']).toMatch(/^applies only to the VPC the stack creates \(no vpc_id\)/);
  });

  test('a network section with some of the imported VPC\'s keys still needs all of them', () => {
    expect(issuesOf(shippedWith((b) => (b.network = { subnet_ids: ['subnet-0123456789abcdef0'], flow_logs: 'all' })))).toMatchObject({
      'backup.network.vpc_id': expect.stringMatching(/^is required/),
      'backup.network.flow_logs': expect.stringMatching(/^applies only to the VPC the stack creates/),
    });
  });
});

describe('early-deletion fees of cold storage', () => {
  const retention = { database: 30, memory_tiers: 14, configuration: 90, model_weights: 180, logs: 90 };

  test('a group pays when it moves and is deleted (7 days after expiring) before the class\'s minimum', () => {
    // database (30) and memory_tiers (14) never move; configuration and logs spend 90 - 30 + 7 = 67 days.
    expect(earlyDeletions(retention, { storageClass: 'GLACIER_IR', afterDays: 30 })).toEqual([
      { group: 'configuration', daysInClass: 67, minimumDays: 90 },
      { group: 'logs', daysInClass: 67, minimumDays: 90 },
    ]);
    expect(earlyDeletions({ ...retention, database: 45 }, { storageClass: 'STANDARD_IA', afterDays: 30 })).toEqual([
      { group: 'database', daysInClass: 22, minimumDays: 30 },
    ]);
  });

  test('no fee: late enough, long enough, or a class without minimum', () => {
    expect(earlyDeletions(retention, { storageClass: 'GLACIER_IR', afterDays: 90 })).toEqual([]);
    expect(earlyDeletions(retention, { storageClass: 'STANDARD_IA', afterDays: 30 })).toEqual([]);
    expect(earlyDeletions(retention, { storageClass: 'INTELLIGENT_TIERING', afterDays: 1 })).toEqual([]);
    expect(earlyDeletions(retention, undefined)).toEqual([]);
    expect(MINIMUM_STORAGE_DAYS).toMatchObject({ STANDARD_IA: 30, GLACIER_IR: 90 });
  });
});
