/**
 * The configuration export's envelope, against the KMS substitute (test/support/kms-server.ts): a data key
 * bound to the backup's encryption context, AES-256-GCM over the export, the header authenticated with it.
 * Whatever is changed or misdirected is refused with IntegrityError and nothing is decrypted.
 */
import { CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { envelopeContext, open, seal, type EnvelopeKey } from '../../functions/components/config/envelope';
import { createKmsDataKeyClient } from '../../functions/core/kms';
import { startKmsServer, type KmsServer } from '../support/kms-server';

let kms: KmsServer;
let keyId: string;
let otherKeyId: string;
const SECRET = 'db-password: s3cr3t-Ü-value\napi_key: sk-live-0123456789abcdef\n';

beforeAll(async () => {
  kms = await startKmsServer();
  const admin = new KMSClient({ region: 'us-east-1', endpoint: kms.endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } });
  keyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
  otherKeyId = (await admin.send(new CreateKeyCommand({}))).KeyMetadata!.Arn!;
});
afterAll(() => kms?.stop());

const keyFor = (backupId: string, id = keyId): EnvelopeKey => ({ kms: createKmsDataKeyClient({ endpoint: kms.endpoint }), keyId: id, context: envelopeContext(backupId) });

describe('the configuration envelope', () => {
  test('seals and opens under the same backup\'s context; the sealed bytes hold no plaintext and the data key was asked for under that context', async () => {
    kms.calls.length = 0;
    const sealed = await seal(Buffer.from(SECRET), keyFor('20261130T120000Z-abc123'));
    expect(sealed.subarray(0, 7).toString('latin1')).toBe('NCAENV\x01');
    expect(sealed.includes(Buffer.from('s3cr3t'))).toBe(false);
    expect(sealed.includes(Buffer.from('sk-live'))).toBe(false);
    expect(kms.calls).toEqual([expect.objectContaining({ operation: 'GenerateDataKey', encryptionContext: { component: 'config', backupId: '20261130T120000Z-abc123' } })]);
    expect((await open(sealed, keyFor('20261130T120000Z-abc123'))).toString()).toBe(SECRET);
  });

  test('two seals of the same export differ (a fresh data key and nonce each time)', async () => {
    const [a, b] = await Promise.all([seal(Buffer.from(SECRET), keyFor('b1')), seal(Buffer.from(SECRET), keyFor('b1'))]);
    expect(a.equals(b)).toBe(false);
  });

  test('an export of another backup is refused before KMS is asked, naming both contexts', async () => {
    const sealed = await seal(Buffer.from(SECRET), keyFor('backup-a'));
    kms.calls.length = 0;
    await expect(open(sealed, keyFor('backup-b'))).rejects.toMatchObject({
      name: 'IntegrityError',
      message: expect.stringMatching(/sealed for .*"backupId":"backup-a".*not for .*"backupId":"backup-b".*Nothing was decrypted/),
    });
    expect(kms.calls).toEqual([]);
  });

  test('a header rewritten to the other backup\'s context is refused by KMS (the data key is bound to its real context)', async () => {
    const sealed = await seal(Buffer.from(SECRET), keyFor('backup-a'));
    const forged = rewriteHeader(sealed, (h) => ({ ...h, context: { component: 'config', backupId: 'backup-b' } }));
    await expect(open(forged, keyFor('backup-b'))).rejects.toMatchObject({
      name: 'IntegrityError',
      message: expect.stringMatching(/KMS refused the configuration export's data key .*InvalidCiphertextException/),
    });
  });

  test('a changed ciphertext byte, a changed tag, or a changed header byte is refused', async () => {
    const sealed = await seal(Buffer.from(SECRET), keyFor('b2'));
    const flip = (at: number) => {
      const copy = Buffer.from(sealed);
      copy[at] ^= 0x01;
      return copy;
    };
    const headerEnd = 11 + sealed.readUInt32BE(7);
    for (const at of [headerEnd + 3, sealed.length - 1]) {
      await expect(open(flip(at), keyFor('b2'))).rejects.toThrow(/ciphertext or header was changed/);
    }
    // The key ARN in the header is not what decrypts (the key id comes from the configuration), but it is authenticated.
    const relabelled = rewriteHeader(sealed, (h) => ({ ...h, keyArn: `${h.keyArn}x` }));
    await expect(open(relabelled, keyFor('b2'))).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringMatching(/ciphertext or header was changed/) });
  });

  test('bytes that are not an envelope, or are cut short, are refused naming why', async () => {
    await expect(open(Buffer.from(SECRET), keyFor('b3'))).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringMatching(/not a sealed envelope \(no NCAENV version 1 magic\)/) });
    const sealed = await seal(Buffer.from(SECRET), keyFor('b3'));
    await expect(open(sealed.subarray(0, 40), keyFor('b3'))).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringMatching(/not a sealed envelope \(a header of \d+ bytes in 40\)/) });
  });

  test('an export sealed under another key is refused; a KMS refusal of Decrypt is AccessDeniedError naming the permission', async () => {
    const sealed = await seal(Buffer.from(SECRET), keyFor('b4', otherKeyId));
    await expect(open(sealed, keyFor('b4'))).rejects.toMatchObject({ name: 'IntegrityError', message: expect.stringMatching(/IncorrectKeyException/) });
    kms.failNext(1, 400, 'AccessDeniedException');
    await expect(open(sealed, keyFor('b4', otherKeyId))).rejects.toMatchObject({ name: 'AccessDeniedError', message: expect.stringMatching(/KMS refused decrypting the data key/) });
  });
});

/** The envelope with its header JSON replaced (length updated), ciphertext and tag as they were. */
function rewriteHeader(sealed: Buffer, edit: (header: Record<string, any>) => Record<string, any>): Buffer {
  const length = sealed.readUInt32BE(7);
  const header = JSON.parse(sealed.subarray(11, 11 + length).toString('utf8'));
  const json = Buffer.from(JSON.stringify(edit(header)));
  const size = Buffer.alloc(4);
  size.writeUInt32BE(json.length);
  return Buffer.concat([sealed.subarray(0, 7), size, json, sealed.subarray(11 + length)]);
}
