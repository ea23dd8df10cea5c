/**
 * EventBridge PutEvents for the audit records: one signed AWS JSON 1.1 request (X-Amz-Target
 * AWSEvents.PutEvents). The project has no @aws-sdk/client-eventbridge (the workflows send their events
 * through Step Functions' own integration), so this signs with the SDK's SigV4 signer and credential chain;
 * replace it with the client once package.json lists one.
 */
import { createHash, createHmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import { AUDIT_DETAIL_TYPE, AUDIT_EVENT_SOURCE, type AuditEventSink, type AuditRecord } from './audit';
import { AccessDeniedError, TransientError } from './errors';

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The signer's hash, over node:crypto. */
class Sha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
  reset(): void {
    throw new Error('not used by the signer');
  }
}

export interface EventBusOptions {
  readonly region: string;
  /** A local EventBridge stand-in (tests); the regional endpoint otherwise. */
  readonly endpoint?: string;
  /** @default 'default' */
  readonly eventBusName?: string;
  /** @default the SDK's default credential chain */
  readonly credentials?: ConstructorParameters<typeof SignatureV4>[0]['credentials'];
}

export class EventBus implements AuditEventSink {
  private readonly signer: SignatureV4;
  private readonly url: URL;

  constructor(private readonly options: EventBusOptions) {
    this.url = new URL(options.endpoint ?? `https://events.${options.region}.amazonaws.com/`);
    this.signer = new SignatureV4({ credentials: options.credentials ?? defaultProvider(), region: options.region, service: 'events', sha256: Sha256 });
  }

  async put(record: AuditRecord): Promise<void> {
    const body = JSON.stringify({
      Entries: [{ Source: AUDIT_EVENT_SOURCE, DetailType: AUDIT_DETAIL_TYPE, Detail: JSON.stringify(record), EventBusName: this.options.eventBusName ?? 'default' }],
    });
    const signed = await this.signer.sign({
      method: 'POST',
      protocol: this.url.protocol,
      hostname: this.url.hostname,
      port: this.url.port ? Number(this.url.port) : undefined,
      path: this.url.pathname,
      query: {},
      headers: { host: this.url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSEvents.PutEvents' },
      body,
    });
    let response: Response;
    try {
      response = await fetch(this.url, { method: 'POST', headers: signed.headers, body, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw new TransientError(`EventBridge PutEvents could not be reached: ${(error as Error).message}`);
    }
    const answer = (await response.json().catch(() => ({}))) as { __type?: string; message?: string; FailedEntryCount?: number; Entries?: { ErrorCode?: string; ErrorMessage?: string }[] };
    if (!response.ok) {
      const type = String(answer.__type ?? response.status).replace(/^.*#/, '');
      const what = `EventBridge PutEvents failed: ${type}${answer.message ? `: ${answer.message}` : ''}`;
      throw /AccessDenied/.test(type) ? new AccessDeniedError(what, { hint: 'The audit function needs events:PutEvents on the default bus.' }) : new TransientError(what);
    }
    if ((answer.FailedEntryCount ?? 0) > 0) {
      const entry = answer.Entries?.find((e) => e.ErrorCode);
      throw new TransientError(`EventBridge refused the audit record: ${entry?.ErrorCode ?? 'unknown'}${entry?.ErrorMessage ? `: ${entry.ErrorMessage}` : ''}`);
    }
  }
}
