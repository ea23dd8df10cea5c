/** Lambda stops after 15 minutes; anything estimated larger than runner.lambdaMaxBytes goes to Fargate. */
import type { RuntimeConfig } from './runtime-config';

export type RunnerKind = 'lambda' | 'fargate';

export function chooseRunner(estimatedBytes: number, runner: RuntimeConfig['runner']): RunnerKind {
  if (runner.force) return runner.force;
  return estimatedBytes > runner.lambdaMaxBytes ? 'fargate' : 'lambda';
}
