/** The logs restore (in progress). */
import { InvalidInputError } from '../../core/errors';
import type { ArtifactSource, ComponentRestoreResult, Logger, RestoreVerification } from '../types';
import type { LogsTarget } from './backup';
import type { LogsRestoreOptions } from './source';

export async function restoreLogs(_source: ArtifactSource, _target: LogsTarget, _options: LogsRestoreOptions, _log: Logger): Promise<ComponentRestoreResult> {
  throw new InvalidInputError('not yet', { component: 'logs' });
}

export async function verifyLogsRestore(_source: ArtifactSource, _target: LogsTarget, _options: LogsRestoreOptions, _log: Logger): Promise<RestoreVerification> {
  throw new InvalidInputError('not yet', { component: 'logs' });
}
