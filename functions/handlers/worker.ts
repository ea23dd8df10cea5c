/** Lambda entry of the worker image: one function per component, dispatching on event.operation. */
import { createLogger } from '../core/logger';
import { InvalidInputError } from '../core/errors';
import { runOperation, type OperationEvent } from '../core/operations';
import { runtimeConfigFromEnv } from '../core/runtime-config';
import { vaultFor } from '../core/context';
import { setting } from '../../config/environment';

export const handler = async (event: OperationEvent): Promise<unknown> => {
  const config = runtimeConfigFromEnv();
  // Each worker holds only its own component's permissions; a mismatched event is a wiring error.
  const own = setting(process.env, 'component');
  if (own && event.component !== own) {
    throw new InvalidInputError(`this worker serves component ${own}, not ${event.component}.`);
  }
  const log = createLogger({ component: event.component, operation: event.operation });
  return runOperation({ config, vault: vaultFor(config), env: process.env, log, runner: 'lambda', now: () => new Date() }, event);
};
