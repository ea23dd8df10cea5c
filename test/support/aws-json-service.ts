/**
 * The AWS JSON 1.1 (and 1.0) plumbing shared by the KMS, Parameter Store, Secrets Manager, Step Functions and CloudWatch (Logs, metrics)
 * substitutes: POST / with X-Amz-Target `<prefix>.<Operation>`, bodies application/x-amz-json-1.1 (or 1.0),
 * errors as {"__type", message} with an HTTP status, calls recorded (never a value), injected faults, and opaque NextTokens.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { listenOnLoopback } from './loopback';

export const REGION = 'us-east-1';
export const ACCOUNT = '000000000000';

export class AwsJsonError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface JsonCall {
  operation: string;
  /** The parameter name, path or secret id the call named, when it named one. */
  name?: string;
  /** SigV4-signed for the service, with X-Amz-Target among the signed headers. */
  signed: boolean;
  /** KMS: the encryption context the call named. */
  encryptionContext?: Record<string, string>;
}

export interface JsonService {
  readonly endpoint: string;
  readonly port: number;
  readonly calls: JsonCall[];
  failNext(count: number, status?: number, type?: string): void;
  stop(): Promise<void>;
}

export type Operations = Record<string, (input: Record<string, unknown>) => unknown>;

export interface JsonServiceOptions {
  /** The X-Amz-Target prefix: `TrentService` (KMS), `AmazonSSM`, `secretsmanager`, `AWSStepFunctions`. */
  targetPrefix: string;
  /** The SigV4 service name the SDK signs with: `kms`, `ssm`, `secretsmanager`, `states`. */
  signingName: string;
  /** The protocol's version, in the Content-Type of every answer. @default '1.1' */
  jsonVersion?: '1.0' | '1.1';
  /** The error `failNext` injects when it is given none. @default ThrottlingException */
  defaultFault?: string;
  /** The error type of an unexpected failure (status 500). @default InternalFailure */
  internalError?: string;
  /** The member the service's error shapes carry their text in (`message` for SSM, `Message` for Secrets Manager). */
  messageMember: 'message' | 'Message';
  operations: Operations;
  /** The name a call is recorded under. */
  nameOf(input: Record<string, unknown>): string | undefined;
  /**
   * Headers an error answer carries besides its body: the awsQueryCompatible services (CloudWatch) name
   * the query-protocol error code in `x-amzn-query-error: <Code>;Sender`, which the SDK reads first.
   */
  errorHeaders?(type: string): Record<string, string> | undefined;
}

function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', reject);
    req.on('end', () => {
      try {
        // The SDK gzips large bodies of operations with the requestCompression trait (PutMetricData).
        const raw = Buffer.concat(chunks);
        const text = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
        const body = text ? (JSON.parse(text) as unknown) : {};
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
        resolve(body as Record<string, unknown>);
      } catch {
        reject(new AwsJsonError('SerializationException', 'request body is not a JSON object'));
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown, jsonVersion: string, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': `application/x-amz-json-${jsonVersion}`, 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': randomUUID() });
  res.end(text);
}

export async function startJsonService(options: JsonServiceOptions): Promise<JsonService> {
  const calls: JsonCall[] = [];
  const prefix = `${options.targetPrefix}.`;
  const signature = new RegExp(`^AWS4-HMAC-SHA256 Credential=\\S+/${options.signingName}/aws4_request, SignedHeaders=\\S*x-amz-target`);
  let faults: { count: number; status: number; type: string } | undefined;

  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith(prefix) ? target.slice(prefix.length) : '';
      try {
        if (req.method !== 'POST') throw new AwsJsonError('UnknownOperationException', `method ${req.method} is not supported`);
        const input = await readJson(req);
        const context = input.EncryptionContext;
        calls.push({
          operation,
          name: options.nameOf(input),
          signed: signature.test(String(req.headers.authorization ?? '')),
          ...(context && typeof context === 'object' ? { encryptionContext: context as Record<string, string> } : {}),
        });
        if (faults && faults.count > 0) {
          faults.count--;
          throw new AwsJsonError(faults.type, `injected by the test ${options.signingName} server`, faults.status);
        }
        const handler = Object.hasOwn(options.operations, operation) ? options.operations[operation] : undefined;
        if (!handler) throw new AwsJsonError('UnknownOperationException', `operation '${target}' is not supported by this substitute`);
        send(res, 200, handler(input) ?? {}, options.jsonVersion ?? '1.1');
      } catch (error) {
        const e = error instanceof AwsJsonError ? error : new AwsJsonError(options.internalError ?? 'InternalFailure', (error as Error).message, 500);
        send(res, e.status, { __type: e.type, [options.messageMember]: e.message }, options.jsonVersion ?? '1.1', options.errorHeaders?.(e.type));
      }
    })();
  });
  const { endpoint, port, stop } = await listenOnLoopback(server);
  return {
    endpoint,
    port,
    calls,
    failNext(count, status = 400, type = options.defaultFault ?? 'ThrottlingException') {
      faults = { count, status, type };
    },
    stop,
  };
}

/** Seconds since the epoch, with milliseconds, as the JSON 1.1 services send timestamps. */
export const epochSeconds = (ms = Date.now()) => ms / 1000;

/**
 * One page of a sorted listing. The token names the last item returned (not a position), so items
 * added or removed between pages neither repeat nor get skipped.
 */
export function page<T>(
  items: readonly T[],
  keyOf: (item: T) => string | number,
  request: { maxResults: number; nextToken: unknown; descending?: boolean },
  invalidToken: string,
): { items: T[]; nextToken?: string } {
  let start = 0;
  if (request.nextToken !== undefined) {
    let after: unknown;
    try {
      after = (JSON.parse(Buffer.from(String(request.nextToken), 'base64url').toString('utf8')) as { after?: unknown }).after;
    } catch {
      after = undefined;
    }
    if (typeof after !== 'string' && typeof after !== 'number') throw new AwsJsonError(invalidToken, 'The specified token is not valid.');
    const beyond = (key: string | number) => (request.descending ? key < after! : key > after!);
    start = items.findIndex((item) => beyond(keyOf(item)));
    if (start < 0) start = items.length;
  }
  const slice = items.slice(start, start + request.maxResults);
  const more = start + slice.length < items.length;
  return { items: slice, nextToken: more ? Buffer.from(JSON.stringify({ after: keyOf(slice[slice.length - 1]) })).toString('base64url') : undefined };
}

/** MaxResults within [1, max], `fallback` when absent; out of range is the services' ValidationException. */
export function maxResults(value: unknown, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new AwsJsonError('ValidationException', `1 validation error detected: Value '${String(value)}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to ${max} and greater than or equal to 1`);
  }
  return value;
}

export function requiredString(input: Record<string, unknown>, field: string, type = 'ValidationException'): string {
  const value = input[field];
  if (typeof value !== 'string' || value === '') throw new AwsJsonError(type, `${field} is required`);
  return value;
}

export function tagList(value: unknown, type = 'ValidationException'): { Key: string; Value: string }[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new AwsJsonError(type, 'Tags must be a list of {Key, Value}');
  return value.map((tag: { Key?: unknown; Value?: unknown }) => {
    if (typeof tag?.Key !== 'string' || tag.Key === '' || typeof tag.Value !== 'string') throw new AwsJsonError(type, 'each tag needs a Key and a Value');
    return { Key: tag.Key, Value: tag.Value };
  });
}

/** A substitute's "now": the real time until a test sets it, then that time (moved only by the test). */
export interface ServerClock {
  now(): number;
  set(at: number | Date): void;
  advance(ms: number): void;
}

export function serverClock(): ServerClock {
  let fixed: number | undefined;
  return {
    now: () => fixed ?? Date.now(),
    set(at) {
      fixed = typeof at === 'number' ? at : at.getTime();
    },
    advance(ms) {
      fixed = (fixed ?? Date.now()) + ms;
    },
  };
}
