/**
 * The error a call throws, when it is of the expected class, so a test can assert its name, message and
 * fields together. A call that throws nothing, or another kind of error, fails the test there.
 */
export function thrown<E extends Error>(type: abstract new (...args: never[]) => E, run: () => unknown): E {
  try {
    run();
  } catch (error) {
    if (error instanceof type) return error;
    throw error;
  }
  throw new Error(`expected a ${type.name}, but the call returned`);
}

/** The error a promise rejects with, whatever its class (an SDK error's `name` is the service's error type). */
export async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}
