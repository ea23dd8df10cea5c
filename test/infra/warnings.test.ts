/**
 * What `cdk synth` warns about (CDK annotations): a scheduled group no configured component backs up (it
 * gets no schedule), alarms nobody receives, and cold storage that pays early-deletion fees. A configuration
 * without those problems synthesizes without any warning.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { buildStacks } from '../../infra/app';
import { loadBackupConfig } from '../../config/load';
import type { BackupConfig } from '../../config/types';
import { EMPTY_GROUP_WARNING } from '../../infra/constructs/backup-schedules';
import { SILENT_ALARMS_WARNING } from '../../infra/constructs/alarms';
import { EARLY_DELETION_WARNING } from '../../infra/cold-storage-fees';
import { configWith, fixtureConfig } from './fixture-config';

interface Warning {
  readonly stack: string;
  readonly path: string;
  readonly message: string;
}

/** Every warning of both stacks, with the construct path it is attached to. */
function warnings(config: BackupConfig): Warning[] {
  const outdir = mkdtempSync(path.join(tmpdir(), 'nca-warnings-'));
  try {
    const { primary, recovery } = buildStacks(config, { bundling: false, outdir });
    return [primary, recovery].flatMap((stack) =>
      Annotations.fromStack(stack)
        .findWarning('*', Match.anyValue())
        .map((w) => ({ stack: stack.stackName, path: w.id, message: String(w.entry.data) })),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const ack = (id: string) => ` [ack: ${id}]`;

describe('synth warnings', () => {
  test('the runbook configuration: one per scheduled group without a configured component, and one for silent alarms', () => {
    // The runbook's example configures postgres only: memory_tiers and configuration have a component that is
    // not configured (memory, config); model_weights has none at all yet.
    const found = warnings(fixtureConfig());
    expect(found.map((w) => w.path).sort()).toEqual(['/NcaBackupPrimary/Alarms', '/NcaBackupPrimary/Schedules', '/NcaBackupPrimary/Schedules', '/NcaBackupPrimary/Schedules']);
    const schedules = found.filter((w) => w.path === '/NcaBackupPrimary/Schedules').map((w) => w.message);
    expect(schedules).toEqual([
      `backup.schedule.memory_tiers: no component of the memory_tiers group is configured, so it gets no schedule (every run would fail and fire the failure alarm). Remove the schedule from backup.yaml, or configure backup.sources.memory.${ack(EMPTY_GROUP_WARNING)}`,
      `backup.schedule.configuration: no component of the configuration group is configured, so it gets no schedule (every run would fail and fire the failure alarm). Remove the schedule from backup.yaml, or configure backup.sources.config.${ack(EMPTY_GROUP_WARNING)}`,
      `backup.schedule.model_weights: no component of the model_weights group is configured, so it gets no schedule (every run would fail and fire the failure alarm). Remove the schedule from backup.yaml, or configure backup.sources.models.${ack(EMPTY_GROUP_WARNING)}`,
    ]);
    const [alarms] = found.filter((w) => w.path === '/NcaBackupPrimary/Alarms');
    expect(alarms.message).toMatch(/^backup\.notifications: no email and no sns_topic_arn, so every alarm goes to a topic nobody reads\./);
    expect(alarms.message).toContain('stack output AlarmTopicArn');
    expect(alarms.message.endsWith(ack(SILENT_ALARMS_WARNING))).toBe(true);
  });

  test('scheduled groups with components, an e-mail, cold storage that stays long enough: no warning at all', () => {
    const quiet = configWith((c) => {
      c.schedule = { database: c.schedule.database };
      c.notifications = { emails: ['oncall@example.com'] };
      // database, memory_tiers, configuration and logs never move; model_weights spends 180 - 90 + 7 days in GLACIER_IR.
      c.storage.coldStorage = { storageClass: 'GLACIER_IR', afterDays: 90 };
    });
    expect(warnings(quiet)).toEqual([]);
  });

  test('cold storage shorter than the class\'s minimum warns on the vault, naming the groups; a topic of your own is a subscriber', () => {
    const found = warnings(
      configWith((c) => {
        c.schedule = { database: c.schedule.database };
        c.notifications = { emails: [], snsTopicArn: 'arn:aws:sns:us-west-2:123456789012:ops-alerts' };
        c.storage.coldStorage = { storageClass: 'GLACIER_IR', afterDays: 30 };
      }),
    );
    expect(found).toEqual([
      {
        stack: 'NcaBackupPrimary',
        path: '/NcaBackupPrimary/Vault',
        message: expect.stringMatching(
          /^backup\.storage\.cold_storage: backups of configuration \(67 days\), logs \(67 days\) move to GLACIER_IR after 30 days and are deleted before its 90-day minimum storage duration/,
        ),
      },
    ]);
    expect(found[0].message).toContain(ack(EARLY_DELETION_WARNING));
  });

  test('the repository\'s backup.yaml: no warning (its alarms are subscribed by hand after the deploy, as it says)', () => {
    const shipped = loadBackupConfig(path.join(__dirname, '..', '..', 'backup.yaml'));
    expect(shipped.notifications).toEqual({ emails: [], subscribeLater: true });
    expect(warnings(shipped)).toEqual([]);
    // Without that choice written down, the reminder is back.
    expect(warnings({ ...shipped, notifications: { emails: [] } }).map((w) => w.path)).toEqual(['/NcaBackupPrimary/Alarms']);
  });
});
