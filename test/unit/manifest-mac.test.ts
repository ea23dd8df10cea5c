/**
 * The manifest MAC on its own: the local key file (created 0600, refused when others can read it) and the
 * KMS key through the KMS substitute, spoken to over the JSON 1.1 protocol with signed requests.
 */
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccessDeniedError, InvalidInputError, TransientError } from '../../functions/core/errors';
import { createKmsMacClient } from '../../functions/core/kms';
import { canonicalJson } from '../../functions/core/canonical-json';
import { authenticatorFor, kmsAuthenticator, localAuthenticator, macMessage } from '../../functions/core/manifest-mac';
import { createHmacKey, startKmsServer, type KmsServer } from '../support/kms-server';
import { testRuntimeConfig } from '../support/runtime-config';

/** A local run's config: no manifest key, so MACs use the local key file. */
const LOCAL = testRuntimeConfig({ components: {} });

const KEY = 'database/postgres/20261123T020000Z-7f3a/manifest.json';
const manifest = { backupId: '20261123T020000Z-7f3a', artifacts: [{ name: 'a.dump', bytes: 3 }], source: { database: 'neuroca_db' } };

const tempDir = () => mkdtempSync(join(tmpdir(), 'nca-mac-'));

describe('canonical message', () => {
  test('key order does not matter, the MAC field is left out, and the vault key is bound', () => {
    const reordered = { source: { database: 'neuroca_db' }, artifacts: [{ bytes: 3, name: 'a.dump' }], backupId: '20261123T020000Z-7f3a' };
    expect(canonicalJson(reordered)).toBe(canonicalJson(manifest));
    expect(macMessage(KEY, { ...manifest, authentication: { mac: 'x' } })).toEqual(macMessage(KEY, manifest));
    expect(macMessage(KEY, manifest).toString()).toMatch(/^nca-backup manifest v1\ndatabase\/postgres\/20261123T020000Z-7f3a\/manifest.json\n[0-9a-f]{64}$/);
    expect(macMessage(KEY.replace('7f3a', '7f3b'), manifest)).not.toEqual(macMessage(KEY, manifest));
  });
});

describe('local key file', () => {
  test('is created on first use: 32 bytes, mode 0600, in a directory of mode 0700; later uses read the same key', () => {
    const dir = join(tempDir(), 'config', 'nca-backup');
    const path = join(dir, 'manifest.key');
    const first = localAuthenticator(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path).size).toBe(32);
    // The default location is under HOME unless NCA_MANIFEST_KEY_FILE says otherwise.
    const home = tempDir();
    const fromHome = authenticatorFor(LOCAL, { HOME: home });
    expect(statSync(join(home, '.config', 'nca-backup', 'manifest.key')).mode & 0o777).toBe(0o600);
    expect(fromHome.keyId).not.toBe(first.keyId);
    expect(authenticatorFor(LOCAL, { NCA_MANIFEST_KEY_FILE: path, HOME: home }).keyId).toBe(first.keyId);
  });

  test('a key file group or others can read is refused, and so is one of the wrong size', () => {
    const path = join(tempDir(), 'manifest.key');
    writeFileSync(path, Buffer.alloc(32, 7), { mode: 0o600 });
    chmodSync(path, 0o644);
    expect(() => localAuthenticator(path)).toThrow(InvalidInputError);
    expect(() => localAuthenticator(path)).toThrow(/accessible to group or others \(mode 0644\).*chmod 600/);
    const short = join(tempDir(), 'manifest.key');
    writeFileSync(short, Buffer.alloc(16), { mode: 0o600 });
    expect(() => localAuthenticator(short)).toThrow(/holds 16 bytes, not the 32/);
  });

  test('covers the changed name of a change-triggered backup; a manifest without the field verifies as before', async () => {
    const auth = localAuthenticator(join(tempDir(), 'manifest.key'));
    const before = { ...manifest, trigger: 'scheduled' };
    expect(await auth.verify(KEY, { ...before, authentication: await auth.sign(KEY, before) })).toEqual({ valid: true });
    const changed = { ...manifest, trigger: 'change', changed: '/neuroca/db/password' };
    const authentication = await auth.sign(KEY, changed);
    expect(await auth.verify(KEY, { ...changed, authentication })).toEqual({ valid: true });
    expect(await auth.verify(KEY, { ...changed, changed: '/neuroca/db/host', authentication })).toMatchObject({ valid: false });
    expect(await auth.verify(KEY, { ...changed, changed: undefined, authentication })).toMatchObject({ valid: false });
  });

  test('verifies its own MAC only: for this manifest, at this key, by this key file', async () => {
    const mine = localAuthenticator(join(tempDir(), 'manifest.key'));
    const theirs = localAuthenticator(join(tempDir(), 'manifest.key'));
    const authentication = await mine.sign(KEY, manifest);
    expect(authentication).toMatchObject({ algorithm: 'HMAC_SHA_256', keyId: mine.keyId });
    expect(await mine.verify(KEY, { ...manifest, authentication })).toEqual({ valid: true });
    expect(await mine.verify(KEY, { ...manifest, source: { database: 'host=evil.example dbname=x' }, authentication })).toMatchObject({ valid: false });
    expect(await mine.verify(KEY.replace('7f3a', '9999'), { ...manifest, authentication })).toMatchObject({ valid: false, reason: expect.stringContaining('does not verify') });
    expect(await theirs.verify(KEY, { ...manifest, authentication })).toMatchObject({ valid: false, reason: expect.stringContaining(`names key ${mine.keyId}`) });
    expect(await mine.verify(KEY, manifest)).toEqual({ valid: false, reason: 'it carries no MAC' });
    expect(await mine.verify(KEY, { ...manifest, authentication: { ...authentication, mac: 'c2hvcnQ=' } })).toMatchObject({ valid: false, reason: expect.stringContaining('not 32 bytes') });
  });
});

describe('KMS HMAC key, through the KMS substitute', () => {
  let kms: KmsServer;
  beforeAll(async () => {
    kms = await startKmsServer();
  });
  afterAll(() => kms.stop());

  test('a MAC made with one key verifies with it, not with another key, and not after a tampered byte', async () => {
    const client = createKmsMacClient({ endpoint: kms.endpoint, region: 'us-west-2' });
    const [one, two] = [await createHmacKey(kms.endpoint), await createHmacKey(kms.endpoint)];
    const signer = kmsAuthenticator(client, one);
    const authentication = await signer.sign(KEY, manifest);
    expect(authentication).toMatchObject({ algorithm: 'HMAC_SHA_256', keyId: one });
    expect(Buffer.from(authentication.mac, 'base64')).toHaveLength(32);
    expect(await signer.verify(KEY, { ...manifest, authentication })).toEqual({ valid: true });
    expect(await kmsAuthenticator(client, two).verify(KEY, { ...manifest, authentication })).toMatchObject({ valid: false });
    const tampered = Buffer.from(authentication.mac, 'base64');
    tampered[0] ^= 1;
    expect(await signer.verify(KEY, { ...manifest, authentication: { ...authentication, mac: tampered.toString('base64') } })).toMatchObject({ valid: false });
    expect(kms.calls.map((c) => c.operation)).toEqual(['CreateKey', 'CreateKey', 'GenerateMac', 'VerifyMac', 'VerifyMac', 'VerifyMac']);
    // The client's requests are SigV4-signed for kms, as real KMS requires.
    expect(kms.calls.filter((c) => c.operation !== 'CreateKey').every((c) => c.signed)).toBe(true);
  });

  test('KMS refusing or failing is an error of its kind, never an untrusted verdict', async () => {
    const key = await createHmacKey(kms.endpoint);
    const auth = kmsAuthenticator(createKmsMacClient({ endpoint: kms.endpoint }), key);
    const authentication = await auth.sign(KEY, manifest);
    kms.failNext(1, 400, 'AccessDeniedException');
    await expect(auth.verify(KEY, { ...manifest, authentication })).rejects.toBeInstanceOf(AccessDeniedError);
    // The SDK retries a 5xx itself (3 attempts): one that keeps failing is a TransientError for the workflow's retry.
    kms.failNext(3, 500, 'KMSInternalException');
    await expect(auth.sign(KEY, manifest)).rejects.toBeInstanceOf(TransientError);
    kms.failNext(1, 500, 'KMSInternalException');
    await expect(auth.sign(KEY, manifest)).resolves.toMatchObject({ algorithm: 'HMAC_SHA_256' });
  });

  test('the runtime config\'s manifestKey selects KMS, at NCA_KMS_ENDPOINT (the run\'s substitute)', async () => {
    const endpoint = process.env.NCA_TEST_KMS_ENDPOINT!;
    const key = await createHmacKey(endpoint);
    const auth = authenticatorFor(testRuntimeConfig({ manifestKey: { kmsKeyId: key }, components: {} }), { NCA_KMS_ENDPOINT: endpoint });
    expect(auth.keyId).toBe(key);
    const authentication = await auth.sign(KEY, manifest);
    expect(await auth.verify(KEY, { ...manifest, authentication })).toEqual({ valid: true });
  });
});
