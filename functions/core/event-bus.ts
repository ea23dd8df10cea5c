/**
 * EventBridge PutEvents for the audit records (the workflows send their own events through Step Functions'
 * integration). A refused entry is an error: an audit record that reached the vault but not the bus must be
 * retried, not forgotten.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { AUDIT_DETAIL_TYPE, AUDIT_EVENT_SOURCE, type AuditEventSink, type AuditRecord } from './audit';
import { AccessDeniedError, TransientError } from './errors';

export interface EventBusOptions {
  readonly region: string;
  /** A local EventBridge stand-in (tests); the regional endpoint otherwise. */
  readonly endpoint?: string;
  /** @default 'default' */
  readonly eventBusName?: string;
}

export class EventBus implements AuditEventSink {
  private readonly client: EventBridgeClient;

  constructor(private readonly options: EventBusOptions) {
    this.client = new EventBridgeClient({
      region: options.region,
      ...(options.endpoint ? { endpoint: options.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } } : {}),
    });
  }

  async put(record: AuditRecord): Promise<void> {
    const entry = { Source: AUDIT_EVENT_SOURCE, DetailType: AUDIT_DETAIL_TYPE, Detail: JSON.stringify(record), EventBusName: this.options.eventBusName ?? 'default' };
    let answer;
    try {
      answer = await this.client.send(new PutEventsCommand({ Entries: [entry] }));
    } catch (error) {
      const { name, message } = error as Error;
      const what = `EventBridge PutEvents failed: ${name}: ${message}`;
      if (/AccessDenied/.test(name)) throw new AccessDeniedError(what, { hint: 'The audit function needs events:PutEvents on the default bus.' });
      throw new TransientError(what);
    }
    if ((answer.FailedEntryCount ?? 0) > 0) {
      const failed = answer.Entries?.find((e) => e.ErrorCode);
      throw new TransientError(`EventBridge refused the audit record: ${failed?.ErrorCode ?? 'unknown'}${failed?.ErrorMessage ? `: ${failed.ErrorMessage}` : ''}`);
    }
  }
}
