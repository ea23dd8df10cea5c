/**
 * The MAC that makes a manifest trustworthy. Anyone who can write to the vault bucket can write a
 * manifest.json, and its SHA-256s then prove nothing; only a holder of the manifest key can produce a MAC
 * that verifies. In AWS the key is an HMAC KMS key (backup workers may GenerateMac, every reader only
 * VerifyMac); local runs use a key file that never leaves the machine.
 *
 * What is MACed is a short message (KMS accepts at most 4096 bytes):
 *   nca-backup manifest v1\n<vault key of the manifest>\n<SHA-256 hex of the manifest's canonical JSON>
 * The canonical JSON has keys sorted at every level and leaves out the `authentication` field that carries
 * the MAC. Binding the vault key means a valid manifest copied under another backup id, component or group
 * no longer verifies.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { InvalidInputError } from './errors';
import { createKmsMacClient, kmsFailure, type KmsMacApi, type MacAlgorithm } from './kms';
import type { RuntimeConfig } from './runtime-config';
import { canonicalJson } from './canonical-json';
import { ENVIRONMENT, setting } from '../../config/environment';

export const MAC_ALGORITHM: MacAlgorithm = 'HMAC_SHA_256';
const MESSAGE_PREFIX = 'nca-backup manifest v1';
const MAC_BYTES = 32;

/** The field of manifest.json that carries its MAC. */
export interface ManifestAuthentication {
  readonly algorithm: MacAlgorithm;
  /** Which key made the MAC (a KMS key ARN, or "local:<fingerprint>"): informational, never used to choose the key. */
  readonly keyId: string;
  /** Base64. */
  readonly mac: string;
}

export type MacVerdict = { readonly valid: true } | { readonly valid: false; readonly reason: string };

export interface ManifestAuthenticator {
  /** The key this authenticator signs and verifies with. */
  readonly keyId: string;
  sign(vaultKey: string, manifest: object): Promise<ManifestAuthentication>;
  /** Valid only when `manifest.authentication` is a MAC, by this key, of this manifest at this vault key. */
  verify(vaultKey: string, manifest: object): Promise<MacVerdict>;
}

/** What is MACed for the manifest stored at `vaultKey` (relative to the vault prefix, so replicas verify). */
export function macMessage(vaultKey: string, manifest: object): Buffer {
  // A JSON round trip first: what is signed is exactly what a reader parses back (no undefined, no toJSON).
  const { authentication: _ignored, ...content } = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
  const digest = createHash('sha256').update(canonicalJson(content)).digest('hex');
  return Buffer.from(`${MESSAGE_PREFIX}\n${vaultKey}\n${digest}`, 'utf8');
}

/** The stored MAC's bytes, or why there is none to check. */
function storedMac(manifest: object): { mac: Buffer } | { reason: string } {
  const auth = (manifest as { authentication?: Partial<ManifestAuthentication> }).authentication;
  if (auth === undefined) return { reason: 'it carries no MAC' };
  if (typeof auth !== 'object' || auth === null || auth.algorithm !== MAC_ALGORITHM || typeof auth.mac !== 'string') {
    return { reason: `its authentication field is not a ${MAC_ALGORITHM} MAC` };
  }
  const mac = Buffer.from(auth.mac, 'base64');
  if (mac.length !== MAC_BYTES) return { reason: `its MAC is not ${MAC_BYTES} bytes` };
  return { mac };
}

function authenticator(keyId: string, mac: (message: Buffer) => Promise<Buffer>, matches: (message: Buffer, mac: Buffer) => Promise<boolean>): ManifestAuthenticator {
  return {
    keyId,
    async sign(vaultKey, manifest) {
      const value = await mac(macMessage(vaultKey, manifest));
      return { algorithm: MAC_ALGORITHM, keyId, mac: value.toString('base64') };
    },
    async verify(vaultKey, manifest) {
      const stored = storedMac(manifest);
      if ('reason' in stored) return { valid: false, reason: stored.reason };
      if (await matches(macMessage(vaultKey, manifest), stored.mac)) return { valid: true };
      const claimed = (manifest as { authentication: ManifestAuthentication }).authentication.keyId;
      const other = claimed !== keyId ? ` (it names key ${String(claimed).slice(0, 120)}, this nca-backup verifies with ${keyId})` : '';
      return { valid: false, reason: `its MAC does not verify with the manifest key${other}: it was altered, copied from another backup, or not written by nca-backup` };
    },
  };
}

// ---- local key file ---------------------------------------------------------------------------------

export const MANIFEST_KEY_FILE_ENV = ENVIRONMENT.manifestKeyFile;

/** NCA_MANIFEST_KEY_FILE, or ~/.config/nca-backup/manifest.key. */
export function localKeyPath(env: NodeJS.ProcessEnv = process.env): string {
  return setting(env, 'manifestKeyFile') ?? join(setting(env, 'home') ?? homedir(), '.config', 'nca-backup', 'manifest.key');
}

const localKeys = new Map<string, Buffer>();

/**
 * The local manifest key: 32 random bytes, created on first use (file mode 0600, its directory 0700 when
 * created here). A key file that group or others can read is refused: anyone who reads it can forge backups.
 */
export function loadLocalKey(path: string): Buffer {
  const cached = localKeys.get(path);
  if (cached) return cached;
  let key: Buffer;
  try {
    key = readKeyFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, randomBytes(MAC_BYTES), { flag: 'wx', mode: 0o600 });
    } catch (writeError) {
      // Another process created it first: use theirs.
      if ((writeError as NodeJS.ErrnoException).code !== 'EEXIST') throw keyFileError(path, `cannot be created: ${(writeError as Error).message}`);
    }
    key = readKeyFile(path);
  }
  localKeys.set(path, key);
  return key;
}

function readKeyFile(path: string): Buffer {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw keyFileError(path, `is accessible to group or others (mode ${mode.toString(8).padStart(4, '0')})`, `Run: chmod 600 ${path}`);
  }
  const key = readFileSync(path);
  if (key.length !== MAC_BYTES) throw keyFileError(path, `holds ${key.length} bytes, not the ${MAC_BYTES} of a manifest key`);
  return key;
}

function keyFileError(path: string, problem: string, hint?: string): InvalidInputError {
  return new InvalidInputError(`the manifest key file ${path} ${problem}.`, {
    hint: hint ?? `Restore the key file from where you keep it, or point ${MANIFEST_KEY_FILE_ENV} at it; backups MACed with another key read as untrusted.`,
  });
}

export function localAuthenticator(path: string): ManifestAuthenticator {
  const key = loadLocalKey(path);
  const keyId = `local:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
  const hmac = (message: Buffer) => createHmac('sha256', key).update(message).digest();
  return authenticator(
    keyId,
    async (message) => hmac(message),
    async (message, mac) => timingSafeEqual(hmac(message), mac),
  );
}

// ---- KMS ------------------------------------------------------------------------------------------

const MAC_KEY_HINTS = {
  denied: 'Backup workers need kms:GenerateMac and readers kms:VerifyMac on the manifest key.',
  other: 'Check that runtime config manifestKey.kmsKeyId names an HMAC_256 key enabled for GENERATE_VERIFY_MAC.',
};

export function kmsAuthenticator(client: KmsMacApi, kmsKeyId: string): ManifestAuthenticator {
  return authenticator(
    kmsKeyId,
    async (message) => {
      try {
        const { Mac } = await client.generateMac({ KeyId: kmsKeyId, Message: message, MacAlgorithm: MAC_ALGORITHM });
        return Buffer.from(Mac);
      } catch (error) {
        throw kmsFailure(error, 'MACing a manifest', kmsKeyId, MAC_KEY_HINTS);
      }
    },
    async (message, mac) => {
      try {
        return (await client.verifyMac({ KeyId: kmsKeyId, Message: message, Mac: mac, MacAlgorithm: MAC_ALGORITHM })).MacValid === true;
      } catch (error) {
        // KMS answers a MAC that does not match with this error rather than MacValid false.
        if ((error as Error)?.name === 'KMSInvalidMacException') return false;
        throw kmsFailure(error, 'verifying a manifest MAC', kmsKeyId, MAC_KEY_HINTS);
      }
    },
  );
}

/**
 * The deployment's authenticator: the stack's HMAC KMS key when the runtime config names one
 * (NCA_KMS_ENDPOINT points it at a local stand-in, like NCA_S3_ENDPOINT), the local key file otherwise.
 */
export function authenticatorFor(config: Pick<RuntimeConfig, 'manifestKey' | 'region'>, env: NodeJS.ProcessEnv = process.env): ManifestAuthenticator {
  const kmsKeyId = config.manifestKey?.kmsKeyId;
  if (kmsKeyId) return kmsAuthenticator(createKmsMacClient({ region: config.region, endpoint: setting(env, 'kmsEndpoint') }), kmsKeyId);
  return localAuthenticator(localKeyPath(env));
}
