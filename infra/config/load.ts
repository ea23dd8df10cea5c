import type { BackupConfig } from './types';

/** Thrown for any problem in backup.yaml; `path` is the field, e.g. "backup.retention.database". */
export class ConfigError extends Error {
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'ConfigError';
  }
}

/** Parses and validates backup.yaml text. Throws ConfigError naming the field. (Stub: implemented in infra/config.) */
export function parseBackupConfig(_yamlText: string, _source = 'backup.yaml'): BackupConfig {
  throw new Error('not implemented yet');
}

/** Reads a backup.yaml file from disk and validates it. */
export function loadBackupConfig(_file: string): BackupConfig {
  throw new Error('not implemented yet');
}
