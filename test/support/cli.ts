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

export function runCli(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env }, (error, stdout, stderr) => {
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
