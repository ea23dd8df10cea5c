/** An artifact sink and source on a temporary directory, for component tests that need no S3. */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { Sha256Meter, Sha256Verifier } from '../../functions/core/checksums';
import type { ArtifactRecord, ArtifactSink, ArtifactSource, BackupFacts } from '../../functions/components/types';

export interface FsArtifacts {
  readonly dir: string;
  readonly sink: ArtifactSink;
  readonly records: ArtifactRecord[];
  /** A source over what the sink wrote, verifying SHA-256 like the vault does; `backup` as the manifest would give it. */
  source(backup?: BackupFacts): ArtifactSource;
  /** Overwrites an artifact's bytes (the manifest record stays): a damaged stored copy. */
  corrupt(name: string, bytes: Buffer): void;
  cleanup(): void;
}

export function fsArtifacts(): FsArtifacts {
  const dir = mkdtempSync(join(tmpdir(), 'nca-artifacts-'));
  const records: ArtifactRecord[] = [];
  return {
    dir,
    records,
    sink: {
      async write(name: string, body: Readable, options = {}) {
        const meter = new Sha256Meter();
        await pipeline(body, meter, createWriteStream(join(dir, name)));
        const record = { name, bytes: statSync(join(dir, name)).size, sha256: meter.sha256, contentType: options.contentType ?? 'application/octet-stream' };
        records.push(record);
        return record;
      },
    },
    source: (backup?: BackupFacts) => ({
      artifacts: [...records],
      ...(backup ? { backup } : {}),
      open: (name: string) => {
        const record = records.find((r) => r.name === name)!;
        const verifier = new Sha256Verifier(record, { component: 'test' });
        const file = createReadStream(join(dir, name));
        file.on('error', (error) => verifier.destroy(error));
        return file.pipe(verifier);
      },
    }),
    corrupt(name, bytes) {
      writeFileSync(join(dir, name), bytes);
    },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function readArtifact(artifacts: FsArtifacts, name: string): Buffer {
  return readFileSync(join(artifacts.dir, name));
}
