/** The Lambda worker's deadline: the invocation's remaining time minus the safety margin, then a LambdaTimeLimitError. */
import { LambdaTimeLimitError, ToolError } from '../../functions/core/errors';
import { LAMBDA_SAFETY_MARGIN_MS, withinLambdaTimeLimit } from '../../functions/core/lambda-deadline';

/** A context with `ms` left beyond the margin, counting down as Lambda's does. */
const clockWith = (ms: number) => {
  const end = Date.now() + LAMBDA_SAFETY_MARGIN_MS + ms;
  return { getRemainingTimeInMillis: () => end - Date.now() };
};
const where = { component: 'postgres', backupId: '20261201T000000Z' };
/** Work that runs until it is stopped, failing as a destroyed stream does: with an error of its own. */
const untilStopped = (signal: AbortSignal) =>
  new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new ToolError('pg_dump: could not write to output'))));

describe('the Lambda deadline', () => {
  test('a backup still running at the deadline is stopped and fails as LambdaTimeLimitError, naming the component and the margin', async () => {
    const stopped = withinLambdaTimeLimit(clockWith(20), where, untilStopped);
    await expect(stopped).rejects.toBeInstanceOf(LambdaTimeLimitError);
    await expect(stopped).rejects.toMatchObject({ name: 'LambdaTimeLimitError', component: 'postgres', backupId: where.backupId, message: expect.stringContaining('60 s before') });
  });

  test('a backup that finishes before the deadline returns its result and is never aborted', async () => {
    let signal: AbortSignal | undefined;
    const result = await withinLambdaTimeLimit(clockWith(10_000), where, async (s) => {
      signal = s;
      return 'done';
    });
    expect(result).toBe('done');
    expect(signal!.aborted).toBe(false);
  });

  test('an invocation with no more than the margin left stops at once', async () => {
    const end = Date.now() + LAMBDA_SAFETY_MARGIN_MS / 2;
    await expect(withinLambdaTimeLimit({ getRemainingTimeInMillis: () => end - Date.now() }, where, untilStopped)).rejects.toBeInstanceOf(LambdaTimeLimitError);
  });

  test('an error before the deadline keeps its own name', async () => {
    await expect(withinLambdaTimeLimit(clockWith(10_000), where, async () => Promise.reject(new ToolError('pg_dump exited 1')))).rejects.toMatchObject({ name: 'ToolError' });
  });
});
