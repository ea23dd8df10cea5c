/**
 * A local stand-in for AWS KMS, speaking its JSON 1.1 protocol over HTTP (POST /, header
 * X-Amz-Target: TrentService.<Operation>, body and answer application/x-amz-json-1.1, errors as
 * {"__type", "message"} with status 400) for the operations nca-backup calls (request handling in aws-json-service.ts):
 *
 * - CreateKey: KeySpec HMAC_256 with KeyUsage GENERATE_VERIFY_MAC, or (the defaults) SYMMETRIC_DEFAULT with
 *   ENCRYPT_DECRYPT: a random 32-byte key, kept in memory.
 * - GenerateMac / VerifyMac with MacAlgorithm HMAC_SHA_256; a MAC that does not verify answers
 *   KMSInvalidMacException, as KMS does (it never answers MacValid false).
 * - GenerateDataKey (KeySpec AES_256 or NumberOfBytes 1-1024, EncryptionContext) and Decrypt (CiphertextBlob,
 *   EncryptionContext, optional KeyId) on a symmetric key. The ciphertext blob is this substitute's own
 *   (the key id, then AES-256-GCM of the data key under the key, the encryption context as additional data),
 *   so a blob decrypts only under exactly the context it was made with: any other context, or a changed
 *   byte, answers InvalidCiphertextException as KMS does. A key used for the other purpose answers
 *   InvalidKeyUsageException.
 *
 * Limits of the substitute: signatures are not verified (any SigV4 credentials pass; `calls` records
 * whether a request was SigV4-signed for kms with X-Amz-Target among its signed headers), no key policies or grants,
 * no aliases, keys are lost when it stops. Faults: `failNext(n, status, type)` answers the next n calls
 * with that error, e.g. 400 AccessDeniedException or 500 KMSInternalException.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ACCOUNT, AwsJsonError, REGION, startJsonService, type JsonService, type Operations } from './aws-json-service';

/** `calls`: the operations received, in order, each with the key id it named (`name`) and its encryption context. */
export type KmsServer = JsonService;

const KmsError = AwsJsonError;

export async function startKmsServer(): Promise<KmsServer> {
  const keys = new Map<string, { id: string; arn: string; secret: Buffer; usage: 'GENERATE_VERIFY_MAC' | 'ENCRYPT_DECRYPT' }>();

  const keyOf = (keyId: unknown) => {
    if (typeof keyId !== 'string' || keyId === '') throw new KmsError('ValidationException', 'KeyId is required');
    const id = keyId.startsWith('arn:') ? keyId.slice(keyId.lastIndexOf('/') + 1) : keyId;
    const key = keys.get(id);
    if (!key) throw new KmsError('NotFoundException', `Key '${keyId}' does not exist`);
    return key;
  };
  const bytes = (value: unknown, field: string, max: number) => {
    if (typeof value !== 'string' || value === '') throw new KmsError('ValidationException', `${field} is required`);
    const buffer = Buffer.from(value, 'base64');
    if (buffer.length < 1 || buffer.length > max) throw new KmsError('ValidationException', `${field} must be 1 to ${max} bytes`);
    return buffer;
  };
  const usedFor = (key: { usage: string }, usage: string, operation: string) => {
    if (key.usage !== usage) throw new KmsError('InvalidKeyUsageException', `${operation} needs a key with KeyUsage ${usage}`);
  };
  /** The context as additional authenticated data: the same pairs in any order are the same context. */
  const contextBytes = (value: unknown) => {
    if (value === undefined) return Buffer.alloc(0);
    if (typeof value !== 'object' || value === null || Object.values(value).some((v) => typeof v !== 'string')) {
      throw new KmsError('ValidationException', 'EncryptionContext must map strings to strings');
    }
    return Buffer.from(JSON.stringify(Object.entries(value as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
  };
  const algorithm = (value: unknown) => {
    if (value !== 'HMAC_SHA_256') throw new KmsError('InvalidKeyUsageException', `MacAlgorithm ${String(value)} is not supported by this key`);
    return value;
  };

  const operations: Operations = {
    CreateKey(input) {
      const mac = input.KeySpec === 'HMAC_256' && input.KeyUsage === 'GENERATE_VERIFY_MAC';
      const symmetric = (input.KeySpec ?? 'SYMMETRIC_DEFAULT') === 'SYMMETRIC_DEFAULT' && (input.KeyUsage ?? 'ENCRYPT_DECRYPT') === 'ENCRYPT_DECRYPT';
      if (!mac && !symmetric) {
        throw new KmsError('UnsupportedOperationException', 'this substitute creates HMAC_256 keys for GENERATE_VERIFY_MAC and SYMMETRIC_DEFAULT keys for ENCRYPT_DECRYPT only');
      }
      const id = randomUUID();
      const arn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
      const usage = mac ? 'GENERATE_VERIFY_MAC' : 'ENCRYPT_DECRYPT';
      keys.set(id, { id, arn, secret: randomBytes(32), usage });
      return {
        KeyMetadata: {
          KeyId: id,
          Arn: arn,
          KeySpec: mac ? 'HMAC_256' : 'SYMMETRIC_DEFAULT',
          KeyUsage: usage,
          ...(mac ? { MacAlgorithms: ['HMAC_SHA_256'] } : { EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'] }),
          Enabled: true,
          KeyState: 'Enabled',
        },
      };
    },
    GenerateDataKey(input) {
      const key = keyOf(input.KeyId);
      usedFor(key, 'ENCRYPT_DECRYPT', 'GenerateDataKey');
      const size = input.KeySpec === 'AES_256' ? 32 : input.KeySpec === 'AES_128' ? 16 : Number(input.NumberOfBytes);
      if (!Number.isInteger(size) || size < 1 || size > 1024) throw new KmsError('ValidationException', 'KeySpec AES_256/AES_128 or NumberOfBytes 1-1024 is required');
      const plaintext = randomBytes(size);
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key.secret, iv).setAAD(contextBytes(input.EncryptionContext));
      const sealed = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      const blob = Buffer.concat([Buffer.from(key.id, 'latin1'), iv, cipher.getAuthTag(), sealed]);
      return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), CiphertextBlob: blob.toString('base64') };
    },
    Decrypt(input) {
      const blob = bytes(input.CiphertextBlob, 'CiphertextBlob', 6144);
      const invalid = () => new KmsError('InvalidCiphertextException', 'The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access, or the encryption context does not match.');
      if (blob.length < 36 + 12 + 16 + 1) throw invalid();
      const key = keys.get(blob.subarray(0, 36).toString('latin1'));
      if (!key) throw invalid();
      if (input.KeyId !== undefined && keyOf(input.KeyId).id !== key.id) throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext.');
      usedFor(key, 'ENCRYPT_DECRYPT', 'Decrypt');
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.secret, blob.subarray(36, 48)).setAAD(contextBytes(input.EncryptionContext));
        decipher.setAuthTag(blob.subarray(48, 64));
        const plaintext = Buffer.concat([decipher.update(blob.subarray(64)), decipher.final()]);
        return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      } catch {
        throw invalid();
      }
    },
    GenerateMac(input) {
      const key = keyOf(input.KeyId);
      usedFor(key, 'GENERATE_VERIFY_MAC', 'GenerateMac');
      const MacAlgorithm = algorithm(input.MacAlgorithm);
      const mac = createHmac('sha256', key.secret).update(bytes(input.Message, 'Message', 4096)).digest();
      return { KeyId: key.arn, Mac: mac.toString('base64'), MacAlgorithm };
    },
    VerifyMac(input) {
      const key = keyOf(input.KeyId);
      usedFor(key, 'GENERATE_VERIFY_MAC', 'VerifyMac');
      const MacAlgorithm = algorithm(input.MacAlgorithm);
      const expected = createHmac('sha256', key.secret).update(bytes(input.Message, 'Message', 4096)).digest();
      const given = bytes(input.Mac, 'Mac', 6144);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new KmsError('KMSInvalidMacException', 'The MAC does not match');
      return { KeyId: key.arn, MacValid: true, MacAlgorithm };
    },
  };

  return startJsonService({
    targetPrefix: 'TrentService',
    signingName: 'kms',
    messageMember: 'message',
    defaultFault: 'AccessDeniedException',
    internalError: 'KMSInternalException',
    operations,
    nameOf: (input) => (typeof input.KeyId === 'string' ? input.KeyId : undefined),
  });
}

/** Creates an HMAC key on a running substitute (tests run in other processes than the global setup's server). */
export async function createHmacKey(endpoint: string): Promise<string> {
  const response = await fetch(endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.CreateKey' },
    body: JSON.stringify({ KeySpec: 'HMAC_256', KeyUsage: 'GENERATE_VERIFY_MAC' }),
  });
  const body = (await response.json()) as { KeyMetadata?: { Arn: string } };
  if (!response.ok || !body.KeyMetadata) throw new Error(`CreateKey failed: ${JSON.stringify(body)}`);
  return body.KeyMetadata.Arn;
}
