/**
 * The two KMS calls a manifest MAC needs, GenerateMac and VerifyMac, through @aws-sdk/client-kms. A thin
 * seam (KmsMacApi) so the authenticator in manifest-mac.ts is tested against the KMS stand-in and never
 * depends on the SDK's client class.
 */
import { GenerateMacCommand, KMSClient, VerifyMacCommand } from '@aws-sdk/client-kms';

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

/** Bounded like the S3 client's connections: a KMS that does not answer fails the step, it does not hang it. */
const REQUEST_TIMEOUT_MS = 10_000;

export function createKmsMacClient(options: KmsClientOptions = {}): KmsMacApi {
  const requestHandler = { connectionTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS };
  const client = options.endpoint
    ? new KMSClient({ region: options.region ?? 'us-east-1', endpoint: options.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, requestHandler })
    : new KMSClient({ region: options.region, requestHandler });
  return {
    async generateMac(input) {
      const out = await client.send(new GenerateMacCommand(input));
      if (!out.Mac) throw new Error('KMS GenerateMac answered without a Mac.');
      return { Mac: out.Mac, KeyId: out.KeyId ?? input.KeyId };
    },
    async verifyMac(input) {
      const out = await client.send(new VerifyMacCommand(input));
      return { MacValid: out.MacValid === true, KeyId: out.KeyId ?? input.KeyId };
    },
  };
}
