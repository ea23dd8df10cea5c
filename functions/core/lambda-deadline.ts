/**
 * The 15-minute Lambda wall: a backup whose estimate sent it to Lambda but whose run would outlast the
 * invocation stops itself while there is still time to abort its upload and delete its own objects, and
 * fails with LambdaTimeLimitError, which the state machine reruns on Fargate. Lambda killing the invocation
 * instead would leave half-written objects and a States.Timeout the workflow cannot tell from a hang.
 */
import { LambdaTimeLimitError } from './errors';

/** What a backup keeps of its invocation after its deadline: enough to abort a multipart upload, delete its objects and answer. */
export const LAMBDA_SAFETY_MARGIN_MS = 60_000;

/** The part of the Lambda context the deadline needs. */
export interface LambdaClock {
  getRemainingTimeInMillis(): number;
}

/**
 * Runs `work` with a signal that aborts, its reason a LambdaTimeLimitError, once only `marginMs` of the
 * invocation is left. Whatever `work` throws after that (a stream destroyed midway, a tool killed) leaves
 * as the LambdaTimeLimitError, so the state machine sees the one name it reruns on.
 */
export async function withinLambdaTimeLimit<T>(
  clock: LambdaClock,
  where: { readonly component: string; readonly backupId?: string },
  work: (signal: AbortSignal) => Promise<T>,
  marginMs: number = LAMBDA_SAFETY_MARGIN_MS,
): Promise<T> {
  const started = Date.now();
  const budgetMs = Math.max(0, clock.getRemainingTimeInMillis() - marginMs);
  const controller = new AbortController();
  const timer = setTimeout(() => {
    const elapsed = Math.round((Date.now() - started) / 100) / 10;
    controller.abort(
      new LambdaTimeLimitError(`the backup was stopped on Lambda after ${elapsed} s, ${marginMs / 1000} s before the invocation's time limit; its objects were deleted and no manifest was written.`, {
        ...where,
        hint: 'The backup state machine reruns it on Fargate under the same backup id.',
      }),
    );
  }, budgetMs);
  try {
    return await work(controller.signal);
  } catch (error) {
    throw controller.signal.aborted ? controller.signal.reason : error;
  } finally {
    clearTimeout(timer);
  }
}
