/** Runs the real `nca-backup` bin script in a child process, as operators and the Fargate task do. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(__dirname, '..', '..', 'bin', 'nca-backup.js');

export interface CliRun {
  readonly code: number;
  /** stdout parsed as JSON; undefined when it is not JSON (usage text). */
  readonly json: any;
  readonly stderr: string;
}

/**
 * Runs the CLI with `env`, plus the run's manifest key file (global setup) unless `env` names one: the
 * tests' CLI processes never create or read a key in the developer's home.
 */
export function runCli(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<CliRun> {
  const withKey = { NCA_MANIFEST_KEY_FILE: process.env.NCA_MANIFEST_KEY_FILE, ...env };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: withKey }, (error, stdout, stderr) => {
      const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
      let json: any;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, json, stderr });
    });
  });
}
