/**
 * Runs `work` over `items` with at most `limit` at once, in order of start; the first failure stops new
 * starts and is thrown once the running ones have settled (none is left running behind the caller).
 */
export async function forEachLimit<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failure && next < items.length) {
      const index = next++;
      try {
        await work(items[index], index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane));
  if (failure) throw failure.error;
}

/** `work` over `items`, at most `limit` at once, results in the items' order; failures as forEachLimit. */
export async function mapLimit<I, O>(items: readonly I[], limit: number, work: (item: I, index: number) => Promise<O>): Promise<O[]> {
  const results: O[] = new Array(items.length);
  await forEachLimit(items, limit, async (item, index) => {
    results[index] = await work(item, index);
  });
  return results;
}
