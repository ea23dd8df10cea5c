/**
 * How many parallel streams a component's backup, restore or fingerprint may use on this runner: the
 * cores the runner was given (Fargate: cpu / 1024; Lambda: its memory's CPU share, as the OS reports it),
 * or NCA_STREAMS where an operator or a bench sets it. One place, so every component scales the same way
 * and the RTO model (bench/rto.ts) can say what a runner setting buys.
 */
import { availableParallelism } from 'node:os';
import { setting } from '../../config/environment';
import { InvalidInputError } from './errors';

/** More streams than this only add connections to the source; no bench here shows a gain past it. */
export const MAX_STREAMS = 8;

export function parallelStreams(env: NodeJS.ProcessEnv = process.env, cores: number = availableParallelism()): number {
  const raw = setting(env, 'streams');
  if (raw === undefined || raw === '') return Math.max(1, Math.min(MAX_STREAMS, cores));
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new InvalidInputError(`NCA_STREAMS must be a whole number from 1 to 64, got '${raw}'.`);
  }
  return n;
}
