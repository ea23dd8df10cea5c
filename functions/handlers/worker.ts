/** Lambda entry of the worker image: one function per component, dispatching on event.operation. */
import { createLogger } from '../core/logger';
import { InvalidInputError } from '../core/errors';
import { authenticatorFor } from '../core/manifest-mac';
import { runIntegrityCheck, runOperation, type OperationEvent } from '../core/operations';
import { runtimeConfigFromEvent, vaultRuntimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';
import { vaultFor } from '../core/context';
import { withinLambdaTimeLimit, type LambdaClock } from '../core/lambda-deadline';
import { setting } from '../../config/environment';

export const handler = async (event: OperationEvent, context?: Partial<LambdaClock>): Promise<unknown> => {
  const operation = withoutRuntimeConfig(event);
  // Each worker holds only its own component's permissions; a mismatched event is a wiring error.
  const own = setting(process.env, 'component');
  if (own && operation.component !== own) {
    throw new InvalidInputError(`this worker serves component ${own}, not ${operation.component}.`);
  }
  const log = createLogger({ component: operation.component, operation: operation.operation });
  // The hourly integrity check's schedule passes the vault part only (its input holds 8 KB; the structure
  // check needs no source); every other operation gets the whole runtime config from its state machine.
  if (operation.operation === 'integrity-check') {
    const config = vaultRuntimeConfigFromEvent(event);
    return runIntegrityCheck({ vault: vaultFor(config), authenticator: authenticatorFor(config), log, now: new Date() }, config, operation);
  }
  const config = runtimeConfigFromEvent(event);
  const ctx = { config, vault: vaultFor(config), env: process.env, log, runner: 'lambda' as const, now: () => new Date() };
  // A backup stops before Lambda's time limit, cleaned up, so the state machine can rerun it on Fargate.
  if (operation.operation === 'backup' && typeof context?.getRemainingTimeInMillis === 'function') {
    const where = { component: operation.component, ...(typeof operation.backupId === 'string' ? { backupId: operation.backupId } : {}) };
    return withinLambdaTimeLimit(context as LambdaClock, where, (signal) => runOperation(ctx, operation, signal));
  }
  return runOperation(ctx, operation);
};
