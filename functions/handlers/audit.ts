/**
 * The audit function: EventBridge rules (infra/constructs/audit.ts) invoke it with Step Functions status
 * changes and CloudTrail API calls of this stack's state machines and vault; each event that stands for a
 * backup, restore, drill, prune or deletion becomes one audit record, written once to the vault's audit
 * prefix and sent to EventBridge (core/audit.ts). A failure throws: EventBridge retries the invocation.
 */
import { setting } from '../../config/environment';
import { auditRecordOf, parseAuditSettings, recordAudit, type AuditRecord } from '../core/audit';
import { EventBus } from '../core/event-bus';
import { BackupVault, createS3Client } from '../core/storage';

export interface AuditResult {
  readonly recorded: boolean;
  /** Whether this invocation wrote the record (false: a redelivery found it already there). */
  readonly written?: boolean;
  readonly record?: AuditRecord;
}

export const handler = async (event: unknown): Promise<AuditResult> => {
  const settings = parseAuditSettings(setting(process.env, 'auditSettings'));
  const record = auditRecordOf(event, settings);
  if (!record) return { recorded: false };
  const endpoint = setting(process.env, 's3Endpoint');
  const vault = new BackupVault(createS3Client({ region: settings.region, ...(endpoint ? { endpoint } : {}) }), {
    bucket: settings.bucket,
    prefix: settings.prefix,
    kmsKeyId: settings.kmsKeyId,
  });
  const eventsEndpoint = setting(process.env, 'eventsEndpoint');
  const bus = new EventBus({ region: settings.region, ...(eventsEndpoint ? { endpoint: eventsEndpoint } : {}) });
  const written = await recordAudit(record, vault, bus);
  return { recorded: true, written, record };
};
