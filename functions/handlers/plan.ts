/** Backup workflow, first state: which components of the group run, under which backup id. */
import { runtimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';
import { planBackup, type BackupPlan, type ExecutionEnvelope } from '../core/workflow-input';

export const handler = async (event: ExecutionEnvelope<unknown>): Promise<BackupPlan> => planBackup(runtimeConfigFromEvent(event), withoutRuntimeConfig(event));
