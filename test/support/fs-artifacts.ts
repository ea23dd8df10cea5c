/**
 * An artifact sink and source on a temporary directory, for component tests that need no S3. Every one a
 * test file makes is removed after the file's tests.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { Sha256Meter, Sha256Verifier } from '../../functions/core/checksums';
import type { ArtifactRecord, ArtifactSink, ArtifactSource, BackupFacts, Component, ComponentBackupResult, Logger } from '../../functions/components/types';

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

/** What the test file importing this module made; jest runs each file in its own module registry. */
const made: FsArtifacts[] = [];
afterAll(() => {
  for (const artifacts of made.splice(0)) artifacts.cleanup();
});

/** `backupId`: what the sink says it writes (a real backup's id, as the engine's sink would). */
export function fsArtifacts(backupId = '20261130T000000Z-fs0001'): FsArtifacts {
  const dir = mkdtempSync(join(tmpdir(), 'nca-artifacts-'));
  const records: ArtifactRecord[] = [];
  const artifacts: FsArtifacts = {
    dir,
    records,
    sink: {
      backupId,
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
  made.push(artifacts);
  return artifacts;
}

/**
 * `component`'s backup of `target` into new FsArtifacts, as a component test starts; `sink` wraps their
 * sink (a fault, a concurrent write: support/artifact-streams.ts).
 */
export async function backupToFs<T>(
  component: Pick<Component<T, never>, 'backup'>,
  target: T,
  log: Logger,
  sink: (artifacts: FsArtifacts) => ArtifactSink = (artifacts) => artifacts.sink,
): Promise<{ artifacts: FsArtifacts; result: ComponentBackupResult }> {
  const artifacts = fsArtifacts();
  const result = await component.backup(target, sink(artifacts), log);
  return { artifacts, result };
}

export function readArtifact(artifacts: FsArtifacts, name: string): Buffer {
  return readFileSync(join(artifacts.dir, name));
}
