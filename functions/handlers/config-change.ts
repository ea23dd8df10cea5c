/**
 * The configuration's change trigger: an EventBridge rule invokes it (asynchronously) for every Parameter
 * Store, Secrets Manager or configuration file change, and it starts the backup state machine for the
 * `configuration` group under the name of the current debounce window (core/config-changes.ts). The first
 * change of a window starts the execution; every later one is refused by Step Functions' name uniqueness
 * (ExecutionAlreadyExists) and is already covered by it. Only names are logged, never a request's values.
 */
import { SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { setting } from '../../config/environment';
import type { Logger } from '../components/types';
import { changedItem, changeWindow } from '../core/config-changes';
import { AccessDeniedError, NcaBackupError, TransientError } from '../core/errors';
import { createLogger } from '../core/logger';
import { s3FailureKind } from '../core/s3-errors';

export type ChangeTriggerResult =
  | { readonly started: true; readonly executionName: string; readonly executionArn: string }
  | { readonly started: false; readonly executionName: string }
  | { readonly started: false; readonly ignored: true };

/** What StartExecution needs; the SFNClient, or a test's. */
export interface StepFunctionsApi {
  send(command: StartExecutionCommand): Promise<{ executionArn?: string }>;
}

export interface ChangeTriggerContext {
  readonly stepFunctions: StepFunctionsApi;
  readonly stateMachineArn: string;
  readonly now: () => Date;
  readonly log: Logger;
}

/** The typed error for a StartExecution that failed for another reason than the window's execution existing. */
function startFailure(error: unknown, executionName: string, stateMachineArn: string): Error {
  const e = error as Error;
  const detail = `${e?.name ?? 'Error'}: ${String(e?.message ?? error).slice(0, 300)}`;
  const doing = `starting ${executionName} of ${stateMachineArn}`;
  switch (s3FailureKind(error)) {
    case 'transient':
      return new TransientError(`Step Functions failed while ${doing}: ${detail}.`, { hint: 'Lambda retries the event.' });
    case 'denied':
      return new AccessDeniedError(`Step Functions refused ${doing}: ${detail}.`, { hint: 'The function needs states:StartExecution on the backup state machine: redeploy the stack.' });
    default:
      return new NcaBackupError(`Step Functions failed while ${doing}: ${detail}.`, { hint: 'Check that the stack is deployed and the state machine exists.' });
  }
}

export async function startChangeBackup(ctx: ChangeTriggerContext, event: unknown): Promise<ChangeTriggerResult> {
  const changed = changedItem(event);
  if (!changed) {
    const e = event as { source?: unknown; 'detail-type'?: unknown } | undefined;
    ctx.log.info('not a configuration change; ignored', { source: String(e?.source).slice(0, 100), detailType: String(e?.['detail-type']).slice(0, 100) });
    return { started: false, ignored: true };
  }
  const { executionName, notBefore } = changeWindow(ctx.now());
  const input = JSON.stringify({ group: 'configuration', trigger: 'change', changed: changed.name, notBefore });
  try {
    const out = await ctx.stepFunctions.send(new StartExecutionCommand({ stateMachineArn: ctx.stateMachineArn, name: executionName, input }));
    ctx.log.info('configuration backup started', { executionName, notBefore, kind: changed.kind, changed: changed.name });
    return { started: true, executionName, executionArn: out.executionArn ?? '' };
  } catch (error) {
    if ((error as Error)?.name === 'ExecutionAlreadyExists') {
      ctx.log.info('configuration change covered by the backup of its window', { executionName, kind: changed.kind, changed: changed.name });
      return { started: false, executionName };
    }
    throw startFailure(error, executionName, ctx.stateMachineArn);
  }
}

/** The handler with its clock, environment and log: the deployed one reads process.env and logs to stderr; a test gives its own. */
export function createHandler(options: { now?: () => Date; env?: NodeJS.ProcessEnv; log?: Logger } = {}): (event: unknown) => Promise<ChangeTriggerResult> {
  const env = options.env ?? process.env;
  let client: SFNClient | undefined;
  return async (event) => {
    const stateMachineArn = setting(env, 'backupStateMachineArn');
    if (stateMachineArn === undefined) {
      throw new NcaBackupError('NCA_BACKUP_STATE_MACHINE_ARN is not set: this function does not know which backup state machine to start.', { hint: 'Redeploy the stack, which sets it.' });
    }
    const endpoint = setting(env, 'stepFunctionsEndpoint');
    client ??= endpoint ? new SFNClient({ region: 'us-east-1', endpoint, credentials: { accessKeyId: 'LOCAL', secretAccessKey: 'LOCAL' } }) : new SFNClient({});
    const log = options.log ?? createLogger({ function: 'config-change' }, undefined, env);
    return startChangeBackup({ stepFunctions: client, stateMachineArn, now: options.now ?? (() => new Date()), log }, event);
  };
}

export const handler = createHandler();
