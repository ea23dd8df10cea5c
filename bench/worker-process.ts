/**
 * What the component benches share: a filesystem sink and source that compute and check SHA-256 as the
 * vault does (no S3 in the path, so a bench measures the component), and the child process each bench
 * runs its worker in, so the worker's peak RSS and CPU time are its own.
 */
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Sha256Meter, Sha256Verifier } from '../functions/core/checksums';
import type { ArtifactRecord, ArtifactSink, ArtifactSource } from '../functions/components/types';

const ROOT = join(__dirname, '..');

export function fileSink(dir: string): ArtifactSink {
  return {
    async write(name, body, options = {}) {
      const meter = new Sha256Meter();
      await pipeline(body, meter, createWriteStream(join(dir, name)));
      return { name, bytes: statSync(join(dir, name)).size, sha256: meter.sha256, contentType: options.contentType ?? 'application/octet-stream' };
    },
  };
}

/** The artifacts in `dir`, each checked against its record as it is read. */
export function fileSource(dir: string, records: readonly ArtifactRecord[], component: string): ArtifactSource {
  return {
    artifacts: [...records],
    open: (name) => {
      const record = records.find((r) => r.name === name)!;
      const verifier = new Sha256Verifier(record, { component });
      const file = createReadStream(join(dir, name), { highWaterMark: 1 << 20 });
      file.on('error', (error) => verifier.destroy(error));
      return file.pipe(verifier);
    },
  };
}

/**
 * Runs `script` with `--worker` in a child process (`NCA_BENCH_WORKER` carries `input`) and resolves with
 * the JSON it prints; a non-zero exit rejects with the end of its stderr.
 */
export function runBenchWorker(script: string, input: { readonly mode: string }, env: NodeJS.ProcessEnv = {}): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--worker'], {
      cwd: ROOT,
      env: { ...process.env, NCA_BENCH_WORKER: JSON.stringify(input), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (err = (err + chunk).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${input.mode} worker exited ${code}: ${err}`))));
  });
}
