/** Backup workflow, last state: outcome and events from every component's result. */
import { decideBackupOutcome, type BackupOutcome, type BackupOutcomeInput } from '../core/backup-outcome';

export const handler = async (event: BackupOutcomeInput): Promise<BackupOutcome> => decideBackupOutcome(event);
