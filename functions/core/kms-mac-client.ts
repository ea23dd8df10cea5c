/**
 * The two KMS calls a manifest MAC needs, GenerateMac and VerifyMac, spoken directly over KMS's JSON 1.1
 * protocol (POST /, X-Amz-Target: TrentService.<Operation>, SigV4-signed for service "kms").
 *
 * Why not @aws-sdk/client-kms: it is not among this project's installed dependencies. This client uses the
 * signer and credential chain that @aws-sdk/client-s3 already brings (@smithy/signature-v4,
 * @aws-sdk/credential-provider-node), so it needs nothing new. Replacing it with client-kms's
 * GenerateMacCommand/VerifyMacCommand is a change of this file only: the shapes below are KMS's own.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, Checksum, HttpRequest, SourceData } from '@smithy/types';

export type MacAlgorithm = 'HMAC_SHA_256';

export interface KmsMacApi {
  generateMac(input: { KeyId: string; Message: Uint8Array; MacAlgorithm: MacAlgorithm }): Promise<{ Mac: Uint8Array; KeyId: string }>;
  /** Resolves MacValid true, or rejects with an error named KMSInvalidMacException when the MAC does not match. */
  verifyMac(input: { KeyId: string; Message: Uint8Array; Mac: Uint8Array; MacAlgorithm: MacAlgorithm }): Promise<{ MacValid: boolean; KeyId: string }>;
}

export interface KmsClientOptions {
  readonly region?: string;
  /** A local KMS stand-in (tests); dummy credentials are used with it, as with NCA_S3_ENDPOINT. */
  readonly endpoint?: string;
}

/** An error KMS answered with: `name` is its __type without the namespace (e.g. KMSInvalidMacException). */
export class KmsServiceError extends Error {
  constructor(
    override readonly name: string,
    message: string,
    readonly $metadata: { httpStatusCode: number },
  ) {
    super(message);
  }
}

/** SHA-256 (or its HMAC, given a secret) in the shape SigV4 expects, from node:crypto. */
class NodeSha256 implements Checksum {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data as ArrayBuffer);
}

const REQUEST_TIMEOUT_MS = 10_000;

export function createKmsMacClient(options: KmsClientOptions = {}): KmsMacApi {
  const region = options.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || 'us-east-1';
  const url = new URL(options.endpoint || `https://kms.${region}.amazonaws.com/`);
  const credentials: AwsCredentialIdentity | (() => Promise<AwsCredentialIdentity>) = options.endpoint
    ? { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }
    : defaultProvider();
  const signer = new SignatureV4({ service: 'kms', region, credentials, sha256: NodeSha256 });

  async function call<T>(operation: string, input: Record<string, unknown>): Promise<T> {
    const body = JSON.stringify(input);
    const request: HttpRequest = {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname || '/',
      query: {},
      headers: {
        host: url.host,
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': `TrentService.${operation}`,
      },
      body,
    };
    const signed = await signer.sign(request);
    const response = await fetch(url, {
      method: 'POST',
      headers: Object.fromEntries(Object.entries(signed.headers).filter(([name]) => name.toLowerCase() !== 'host')),
      body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      // a proxy's HTML error page: reported by status below
    }
    if (!response.ok) {
      const type = String(parsed.__type ?? `HTTP${response.status}`);
      const message = String(parsed.message ?? parsed.Message ?? text.slice(0, 200));
      throw new KmsServiceError(type.slice(type.lastIndexOf('#') + 1), `KMS ${operation}: ${message}`, { httpStatusCode: response.status });
    }
    return parsed as T;
  }

  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
  return {
    async generateMac({ KeyId, Message, MacAlgorithm }) {
      const out = await call<{ Mac: string; KeyId: string }>('GenerateMac', { KeyId, Message: b64(Message), MacAlgorithm });
      return { Mac: new Uint8Array(Buffer.from(out.Mac, 'base64')), KeyId: out.KeyId };
    },
    async verifyMac({ KeyId, Message, Mac, MacAlgorithm }) {
      const out = await call<{ MacValid: boolean; KeyId: string }>('VerifyMac', { KeyId, Message: b64(Message), Mac: b64(Mac), MacAlgorithm });
      return { MacValid: out.MacValid === true, KeyId: out.KeyId };
    },
  };
}
