/**
 * A local stand-in for Amazon EventBridge, speaking its AWS JSON 1.1 protocol (POST /, X-Amz-Target
 * AWSEvents.<Operation>, SigV4 service `events`; request handling in aws-json-service.ts) for the one call
 * nca-backup makes: PutEvents with 1 to 10 Entries, each with Source, DetailType and Detail (a JSON object,
 * at most 256 KB with the rest of the entry) and an optional EventBusName (only `default` exists). Accepted
 * entries get an EventId and are kept in `events`, in order; an invalid entry is answered, as EventBridge
 * does, in its own result (ErrorCode, ErrorMessage) with FailedEntryCount counted, not as a request error.
 *
 * Limits of the substitute: signatures are not verified (`calls` records whether a request was SigV4-signed
 * for `events`), no rules, targets or archives, no other buses, no quotas; events are lost when it stops.
 */
import { randomUUID } from 'node:crypto';
import { AwsJsonError, startJsonService, type JsonService } from './aws-json-service';

export interface PutEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
  readonly eventBusName: string;
}

export interface EventBridgeServer extends JsonService {
  readonly events: PutEvent[];
}

const MAX_ENTRY_BYTES = 256 * 1024;

export async function startEventBridgeServer(): Promise<EventBridgeServer> {
  const events: PutEvent[] = [];
  const service = await startJsonService({
    targetPrefix: 'AWSEvents',
    signingName: 'events',
    messageMember: 'message',
    nameOf: () => undefined,
    operations: {
      PutEvents(input) {
        const entries = input.Entries;
        if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10) throw new AwsJsonError('ValidationException', 'Entries must hold 1 to 10 entries');
        let failed = 0;
        const results = entries.map((entry: Record<string, unknown>) => {
          const problem = entryProblem(entry);
          if (problem) {
            failed++;
            return { ErrorCode: problem.code, ErrorMessage: problem.message };
          }
          events.push({ source: String(entry.Source), detailType: String(entry.DetailType), detail: JSON.parse(String(entry.Detail)) as Record<string, unknown>, eventBusName: String(entry.EventBusName ?? 'default') });
          return { EventId: randomUUID() };
        });
        return { FailedEntryCount: failed, Entries: results };
      },
    },
  });
  return Object.assign(service, { events });
}

function entryProblem(entry: Record<string, unknown>): { code: string; message: string } | undefined {
  for (const field of ['Source', 'DetailType', 'Detail']) {
    if (typeof entry[field] !== 'string' || entry[field] === '') return { code: 'MalformedDetail', message: `${field} is required` };
  }
  if (entry.EventBusName !== undefined && entry.EventBusName !== 'default') return { code: 'NotFound', message: `Event bus ${String(entry.EventBusName)} does not exist.` };
  try {
    const detail = JSON.parse(String(entry.Detail)) as unknown;
    if (typeof detail !== 'object' || detail === null || Array.isArray(detail)) throw new Error('not an object');
  } catch {
    return { code: 'MalformedDetail', message: 'Detail is malformed.' };
  }
  if (Buffer.byteLength(JSON.stringify(entry)) > MAX_ENTRY_BYTES) return { code: 'InvalidArgument', message: 'Total size of the entries in the request is over the limit.' };
  return undefined;
}
