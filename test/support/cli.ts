/** Runs the real `nca-backup` bin script in a child process, as operators and the Fargate task do. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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

/**
 * The environment of a local CLI run against the test vault: s3rver, its dummy credentials and the
 * bucket; `stores` adds the sources' connection settings (NCA_POSTGRES_URL, ...).
 */
export function cliEnv(bucket: string, stores: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    NCA_S3_ENDPOINT: process.env.NCA_TEST_S3_ENDPOINT,
    NCA_BUCKET: bucket,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    ...stores,
  };
}

/** The runbook's storage, schedule and retention for the database group, with `sources` as given (YAML lines indented under it). */
export function databaseBackupYaml(sources: string): string {
  return `
backup:
  schedule:
    database: "0 2 * * *"
  storage:
    primary: { type: "s3", bucket: "neuroca-backups", region: "us-west-2", path: "/backups" }
    secondary: { type: "s3", bucket: "neuroca-dr-backups", region: "eu-central-1", path: "/backups" }
  retention:
    database: 30d
  encryption:
    enabled: true
    key_management: "kms"
  sources:
${sources}`;
}

/** The runbook's backup.yaml with `sources.postgres.database` set to `database`. */
export function postgresBackupYaml(database: string): string {
  return databaseBackupYaml(`    postgres:
      database: ${database}
`);
}

/** Writes `body` as `name` in a new temporary directory; returns the file's path, for --config. */
export function writeBackupYaml(body: string, name = 'backup.yaml'): string {
  const file = join(mkdtempSync(join(tmpdir(), 'nca-config-')), name);
  writeFileSync(file, body);
  return file;
}
