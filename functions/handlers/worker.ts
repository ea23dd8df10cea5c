/** Lambda entry of the worker image: one function per component, dispatching on event.operation. */
import { createLogger } from '../core/logger';
import { InvalidInputError } from '../core/errors';
import { runOperation, type OperationEvent } from '../core/operations';
import { runtimeConfigFromEvent, withoutRuntimeConfig } from '../core/runtime-config';
import { vaultFor } from '../core/context';
import { setting } from '../../config/environment';

export const handler = async (event: OperationEvent): Promise<unknown> => {
  const config = runtimeConfigFromEvent(event);
  const operation = withoutRuntimeConfig(event);
  // Each worker holds only its own component's permissions; a mismatched event is a wiring error.
  const own = setting(process.env, 'component');
  if (own && operation.component !== own) {
    throw new InvalidInputError(`this worker serves component ${own}, not ${operation.component}.`);
  }
  const log = createLogger({ component: operation.component, operation: operation.operation });
  return runOperation({ config, vault: vaultFor(config), env: process.env, log, runner: 'lambda', now: () => new Date() }, operation);
};
