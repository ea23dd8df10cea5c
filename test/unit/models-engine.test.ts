/** The models engine's pure parts: checksum forms, the file index as untrusted input, where files go, the vault refusal. */
import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { ChecksumMeter } from '../../functions/components/models/checksum';
import { copyAlgorithm, hexChecksum, limitsOf } from '../../functions/components/models/copy';
import { fingerprintFiles, isSafePath, readIndex, writeIndex, type ModelFile } from '../../functions/components/models/index-file';
import { placeFiles, refuseVaultOverlap } from '../../functions/components/models/restore';
import type { BlobStore } from '../../functions/components/types';
import { IntegrityError, InvalidInputError } from '../../functions/core/errors';
import { rejection, thrown } from '../support/thrown';

const limits = { copyLimitBytes: 10, partBytes: 4 };
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

async function meter(bytes: Buffer, chunk: number, l = limits) {
  const m = new ChecksumMeter(bytes.length, l);
  const parts = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  await pipeline(Readable.from(parts), m, new Writable({ write: (_c, _e, done) => done() }));
  return m.result();
}

const file = (path: string, location = 's3://models/llm/'): ModelFile => ({ location, path, size: 3, checksum: { algorithm: 'sha256', digest: 'a'.repeat(64) }, source: {} });

describe('checksums', () => {
  test('up to the single-copy limit: SHA-256 of the whole file, however it is chunked', async () => {
    const bytes = randomBytes(10);
    expect(await meter(bytes, 3)).toEqual({ algorithm: 'sha256', digest: sha(bytes).toString('hex') });
  });

  test('above it: S3\'s composite, SHA-256 over the parts\' SHA-256 digests, with the part count, whatever the chunks', async () => {
    const bytes = randomBytes(11);
    const parts = [bytes.subarray(0, 4), bytes.subarray(4, 8), bytes.subarray(8)];
    const composite = `${sha(Buffer.concat(parts.map(sha))).toString('hex')}-3`;
    expect(await meter(bytes, 3)).toEqual({ algorithm: 'sha256-composite-4', digest: composite });
    expect(await meter(bytes, 11)).toEqual({ algorithm: 'sha256-composite-4', digest: composite });
    // S3 answers base64 with "-<parts>"; the index keeps hex.
    expect(hexChecksum(`${sha(Buffer.concat(parts.map(sha))).toString('base64')}-3`)).toBe(composite);
  });

  test('a restore copies as the backup did: the limits come from the recorded algorithm', () => {
    expect(limitsOf({ algorithm: 'sha256-composite-4', digest: 'x' }, { copyLimitBytes: 99, partBytes: 99 })).toEqual({ copyLimitBytes: 0, partBytes: 4 });
    expect(copyAlgorithm(5 * 1024 ** 3 + 1, limitsOf({ algorithm: 'sha256', digest: 'x' }, limits))).toBe('sha256');
  });
});

describe('the file index, read as input', () => {
  test('round trip, and a fingerprint per location over (path, size, checksum) that ignores order and source facts', async () => {
    const files = [file('b.bin'), file('a.json'), file('x', '/mnt/models')];
    const read = await readIndex(writeIndex(files), { component: 'models' });
    expect(read).toEqual(files);
    expect(fingerprintFiles([...read].reverse().map((f) => ({ ...f, source: { etag: 'e' } })))).toEqual(fingerprintFiles(files));
    expect(Object.keys(fingerprintFiles(files))).toEqual(['/mnt/models', 's3://models/llm/']);
    expect(fingerprintFiles([file('a.json'), { ...file('b.bin'), size: 4 }])['s3://models/llm/']).not.toEqual(fingerprintFiles([file('a.json'), file('b.bin')])['s3://models/llm/']);
  });

  test.each(['../etc/passwd', '/abs', 'a//b', 'a/./b', 'a/../../b', ''])('a path that could leave its location is refused: %j', async (path) => {
    expect(isSafePath(path)).toBe(false);
    const error = await rejection(readIndex(Readable.from([gzipSync(`${JSON.stringify(file(path))}\n`)]), { component: 'models', backupId: 'b1' }));
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.message).toMatch(/line 1 names a path that could leave its location/);
  });

  test('a checksum that could name another key is refused', async () => {
    for (const checksum of [{ algorithm: 'sha256/../x', digest: 'a'.repeat(64) }, { algorithm: 'sha256', digest: '../../manifest' }, { algorithm: 'sha256', digest: `${'a'.repeat(64)}-2` }]) {
      const error = await rejection(readIndex(Readable.from([gzipSync(`${JSON.stringify({ ...file('a'), checksum })}\n`)]), { component: 'models' }));
      expect(error).toBeInstanceOf(IntegrityError);
      expect(error.message).toMatch(/no valid checksum/);
    }
  });
});

describe('where files go', () => {
  test('original locations by default; a subset by globs; a target for all of them', () => {
    const files = [file('llm/config.json', 's3://m/'), file('llm/w.safetensors', 's3://m/'), file('a.bin', '/data')];
    expect(placeFiles(files, {}, {}).map((p) => p.destination)).toEqual(['llm/config.json', 'llm/w.safetensors', '/data/a.bin']);
    expect(placeFiles(files, { paths: ['**/*.json'] }, {}).map((p) => p.file.path)).toEqual(['llm/config.json']);
    expect(placeFiles(files, { target: { kind: 's3', bucket: 'r', prefix: 'x/' } }, {}).map((p) => p.destination)).toEqual(['x/llm/config.json', 'x/llm/w.safetensors', 'x/a.bin']);
  });

  test('two files on one destination, or no file matching, are refused before anything is written', () => {
    const clash = [file('same.bin', 's3://m/'), file('same.bin', '/data')];
    expect(thrown(InvalidInputError, () => placeFiles(clash, { target: { kind: 'directory', path: '/restore' } }, {})).message).toMatch(/would both be restored to \/restore\/same.bin.*options.paths/);
    expect(thrown(InvalidInputError, () => placeFiles(clash, { paths: ['nothing/*'] }, { backupId: 'b1' })).message).toMatch(/no file of backup b1 matches/);
  });

  test('a destination inside the vault is refused', () => {
    const blobs = { bucket: 'vault', prefix: 'backups/' } as BlobStore;
    const into = (prefix: string) => placeFiles([file('a.bin')], { target: { kind: 's3', bucket: 'vault', prefix } }, {});
    expect(thrown(InvalidInputError, () => refuseVaultOverlap(into('backups/models/'), blobs)).message).toMatch(/overlaps the vault/);
    expect(thrown(InvalidInputError, () => refuseVaultOverlap(into(''), blobs)).message).toMatch(/overlaps the vault/);
    expect(() => refuseVaultOverlap(into('restored/'), blobs)).not.toThrow();
  });
});
