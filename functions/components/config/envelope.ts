/**
 * The configuration export's own encryption, inside the SSE-KMS every artifact gets: whoever can read the
 * vault and use the vault key must still not read a secret value without kms:Decrypt on the envelope key
 * under this backup's encryption context.
 *
 * Format (all integers big-endian):
 *   "NCAENV" 0x01              magic and format version (7 bytes)
 *   uint32 H                   length of the header
 *   H bytes                    header, canonical JSON: {"algorithm":"AES-256-GCM","context":{...},
 *                              "encryptedDataKey":"<base64>","keyArn":"...","nonce":"<base64, 12 bytes>"}
 *   N bytes                    the plaintext encrypted with AES-256-GCM under the data key
 *   16 bytes                   the GCM tag
 * The data key is a fresh 256-bit key from KMS GenerateDataKey under the envelope key with the encryption
 * context {component, backupId}; the header (magic and length included) is the GCM additional data, so a
 * changed header byte fails like a changed ciphertext byte. Opening never trusts the header's context: it
 * asks KMS to decrypt the data key under the context of the backup being restored, as its manifest says.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { canonicalJson } from '../../core/canonical-json';
import { IntegrityError } from '../../core/errors';
import { kmsFailure, type EncryptionContext, type KmsDataKeyApi } from '../../core/kms';

const MAGIC = Buffer.from('NCAENV\x01', 'latin1');
const ALGORITHM = 'AES-256-GCM';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** A header is a few hundred bytes; anything near this is not one. */
const MAX_HEADER_BYTES = 16 * 1024;

interface Header {
  readonly algorithm: typeof ALGORITHM;
  readonly context: EncryptionContext;
  readonly encryptedDataKey: string;
  readonly keyArn: string;
  readonly nonce: string;
}

/** The encryption context a configuration export is sealed under: which component, which backup. */
export function envelopeContext(backupId: string): EncryptionContext {
  return { component: 'config', backupId };
}

export interface EnvelopeKey {
  readonly kms: KmsDataKeyApi;
  /** The envelope key (ARN, alias or id). */
  readonly keyId: string;
  readonly context: EncryptionContext;
}

/** Errors name the component and, from the context, the backup. */
const about = (context: EncryptionContext) => ({ component: 'config', ...(context.backupId ? { backupId: context.backupId } : {}) });

const KEY_HINTS = {
  denied: 'The configuration worker needs kms:GenerateDataKey (backup) and kms:Decrypt (restore) on the envelope key, with this encryption context.',
  other: 'Check that the envelope key is an enabled symmetric key (ENCRYPT_DECRYPT) in the primary region.',
};

/** Encrypts `plaintext` under a fresh data key; the plaintext data key is wiped before this returns. */
export async function seal(plaintext: Buffer, key: EnvelopeKey): Promise<Buffer> {
  let dataKey: Buffer;
  let header: Header;
  try {
    const generated = await key.kms.generateDataKey({ KeyId: key.keyId, EncryptionContext: key.context });
    dataKey = Buffer.from(generated.plaintext);
    generated.plaintext.fill(0);
    header = { algorithm: ALGORITHM, context: key.context, encryptedDataKey: Buffer.from(generated.encrypted).toString('base64'), keyArn: generated.keyArn, nonce: randomBytes(NONCE_BYTES).toString('base64') };
  } catch (error) {
    throw kmsFailure(error, 'generating the data key of a configuration export', key.keyId, KEY_HINTS);
  }
  try {
    const head = headBytes(header);
    const cipher = createCipheriv('aes-256-gcm', dataKey, Buffer.from(header.nonce, 'base64')).setAAD(head);
    return Buffer.concat([head, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  } finally {
    dataKey.fill(0);
  }
}

/**
 * Decrypts a sealed export of the backup whose context `key.context` is. Refused with IntegrityError, and
 * nothing decrypted, when the bytes are not an envelope, were sealed under another context, or were changed.
 */
export async function open(sealed: Buffer, key: EnvelopeKey): Promise<Buffer> {
  const { header, head } = readHeader(sealed, key.context);
  const expected = canonicalJson(key.context);
  if (canonicalJson(header.context) !== expected) {
    throw new IntegrityError(`the configuration export was sealed for ${canonicalJson(header.context)}, not for ${expected}: it belongs to another backup. Nothing was decrypted.`, about(key.context));
  }
  let dataKey: Buffer;
  try {
    dataKey = Buffer.from(await key.kms.decrypt({ CiphertextBlob: Buffer.from(header.encryptedDataKey, 'base64'), KeyId: key.keyId, EncryptionContext: key.context }));
  } catch (error) {
    if ((error as Error)?.name === 'InvalidCiphertextException' || (error as Error)?.name === 'IncorrectKeyException') {
      throw new IntegrityError(`KMS refused the configuration export's data key under ${expected} (${(error as Error).name}): the key or its context was changed, or it was sealed under another key. Nothing was decrypted.`, about(key.context));
    }
    throw kmsFailure(error, 'decrypting the data key of a configuration export', key.keyId, KEY_HINTS);
  }
  try {
    const body = sealed.subarray(head.length, sealed.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', dataKey, Buffer.from(header.nonce, 'base64')).setAAD(head);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new IntegrityError('the configuration export does not decrypt: its ciphertext or header was changed after it was sealed. Nothing was restored from it.', about(key.context));
  } finally {
    dataKey.fill(0);
  }
}

function headBytes(header: Header): Buffer {
  const json = Buffer.from(canonicalJson(header), 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([MAGIC, length, json]);
}

function readHeader(sealed: Buffer, context: EncryptionContext): { header: Header; head: Buffer } {
  const refuse = (why: string) => new IntegrityError(`the configuration export is not a sealed envelope (${why}). Nothing was decrypted.`, about(context));
  if (sealed.length < MAGIC.length + 4 || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) throw refuse('no NCAENV version 1 magic');
  const length = sealed.readUInt32BE(MAGIC.length);
  const end = MAGIC.length + 4 + length;
  if (length > MAX_HEADER_BYTES || end + TAG_BYTES > sealed.length) throw refuse(`a header of ${length} bytes in ${sealed.length}`);
  let header: Header;
  try {
    header = JSON.parse(sealed.subarray(MAGIC.length + 4, end).toString('utf8')) as Header;
  } catch {
    throw refuse('its header is not JSON');
  }
  const text = (value: unknown) => typeof value === 'string' && value !== '';
  if (header?.algorithm !== ALGORITHM || !text(header.encryptedDataKey) || !text(header.keyArn) || !text(header.nonce) || typeof header.context !== 'object' || header.context === null) {
    throw refuse('its header lacks algorithm, context, encryptedDataKey, keyArn or nonce');
  }
  if (Buffer.from(header.nonce, 'base64').length !== NONCE_BYTES) throw refuse('its nonce is not 12 bytes');
  return { header, head: sealed.subarray(0, end) };
}
