/** Assertions on a state machine execution's result, shared by the workflow tests. */
import type { WorkflowResult } from '../../scripts/local-workflows';

/** Succeeded; a failure shows its error and cause in the test's report. */
export function expectSucceeded(result: WorkflowResult): void {
  expect({ status: result.status, error: result.error, cause: result.cause }).toEqual({ status: 'SUCCEEDED' });
}
