/**
 * The KMS calls nca-backup makes, through @aws-sdk/client-kms, behind thin seams so that their users are
 * tested against the KMS stand-in (test/support/kms-server.ts) and never depend on the SDK's client class:
 * GenerateMac and VerifyMac for the manifest MACs (manifest-mac.ts), GenerateDataKey and Decrypt for
 * envelope encryption (components/config/envelope.ts).
 */
import { DecryptCommand, GenerateDataKeyCommand, GenerateMacCommand, KMSClient, VerifyMacCommand } from '@aws-sdk/client-kms';
import { AccessDeniedError, StorageError, TransientError } from './errors';
import { s3FailureKind } from './s3-errors';

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

/**
 * A KMS failure as the error to throw: throttling and server errors transient, a refusal AccessDeniedError
 * with `hints.denied` (which permission on which key), anything else (a wrong key, a disabled key) with
 * `hints.other`.
 */
export function kmsFailure(error: unknown, doing: string, keyId: string, hints: { readonly denied: string; readonly other: string }): Error {
  const detail = `${(error as Error)?.name ?? 'Error'}: ${String((error as Error)?.message ?? error).slice(0, 300)}`;
  switch (s3FailureKind(error)) {
    case 'transient':
      return new TransientError(`KMS failed while ${doing} with key ${keyId}: ${detail}.`, { hint: 'A retry may succeed.' });
    case 'denied':
      return new AccessDeniedError(`KMS refused ${doing} with key ${keyId}: ${detail}.`, { hint: hints.denied });
    default:
      return new StorageError(`KMS failed while ${doing} with key ${keyId}: ${detail}.`, { hint: hints.other });
  }
}

function kmsClient(options: KmsClientOptions): KMSClient {
  const requestHandler = { connectionTimeout: REQUEST_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS };
  return options.endpoint
    ? new KMSClient({ region: options.region ?? 'us-east-1', endpoint: options.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' }, requestHandler })
    : new KMSClient({ region: options.region, requestHandler });
}

export function createKmsMacClient(options: KmsClientOptions = {}): KmsMacApi {
  const client = kmsClient(options);
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

/** An encryption context: KMS binds a data key to it, and decrypts that key only under exactly the same pairs. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface KmsDataKeyApi {
  /** A new 256-bit data key, in plaintext and encrypted under `keyId` with `context`. */
  generateDataKey(input: { KeyId: string; EncryptionContext: EncryptionContext }): Promise<{ plaintext: Uint8Array; encrypted: Uint8Array; keyArn: string }>;
  /** The plaintext of an encrypted data key; rejects (InvalidCiphertextException) under any other context. */
  decrypt(input: { CiphertextBlob: Uint8Array; KeyId: string; EncryptionContext: EncryptionContext }): Promise<Uint8Array>;
}

export function createKmsDataKeyClient(options: KmsClientOptions = {}): KmsDataKeyApi {
  const client = kmsClient(options);
  return {
    async generateDataKey({ KeyId, EncryptionContext }) {
      const out = await client.send(new GenerateDataKeyCommand({ KeyId, KeySpec: 'AES_256', EncryptionContext: { ...EncryptionContext } }));
      if (!out.Plaintext || !out.CiphertextBlob) throw new Error('KMS GenerateDataKey answered without a key.');
      return { plaintext: out.Plaintext, encrypted: out.CiphertextBlob, keyArn: out.KeyId ?? KeyId };
    },
    async decrypt({ CiphertextBlob, KeyId, EncryptionContext }) {
      const out = await client.send(new DecryptCommand({ CiphertextBlob, KeyId, EncryptionContext: { ...EncryptionContext } }));
      if (!out.Plaintext) throw new Error('KMS Decrypt answered without a plaintext.');
      return out.Plaintext;
    },
  };
}
