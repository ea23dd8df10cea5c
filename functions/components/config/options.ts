/**
 * The config component's restore options, driver-free so the control plane can check a restore input
 * without bundling the AWS clients the component uses. A restore of configuration plans by default: it
 * writes only when asked to.
 */
import { InvalidInputError } from '../../core/errors';

export type ConfigRestoreOptions = {
  /**
   * Write the backup's items back. Otherwise the restore lists what would be added, changed or left alone
   * and writes nothing (a dry run; `dryRun: true` in the input says so explicitly). @default false
   */
  readonly apply: boolean;
  /** Remove items present now but absent from the backup. @default false */
  readonly prune: boolean;
  /** Restore only the items whose names match one of these globs (* within a path segment, ** across). @default every item */
  readonly names?: readonly string[];
};

const COMPONENT = 'config';
const KEYS = ['dryRun', 'apply', 'prune', 'names'];

const flag = (raw: Record<string, unknown>, key: string): boolean | undefined => {
  const value = raw[key];
  if (value === undefined) return undefined;
  if (value === true) return true;
  if (value === false) return false;
  throw new InvalidInputError(`options.${key} must be true or false, not ${JSON.stringify(value)}.`, { component: COMPONENT });
};

export function parseConfigRestoreOptions(raw: Record<string, unknown>): ConfigRestoreOptions {
  for (const key of Object.keys(raw)) {
    if (!KEYS.includes(key)) {
      throw new InvalidInputError(`options.${key} is not a restore option of the configuration.`, { component: COMPONENT, hint: `Allowed: ${KEYS.join(', ')}.` });
    }
  }
  const apply = flag(raw, 'apply') === true;
  const dryRun = flag(raw, 'dryRun');
  if (apply && dryRun === true) {
    throw new InvalidInputError('options.apply and options.dryRun are both true: a restore either plans or writes.', { component: COMPONENT, hint: 'Leave dryRun out to apply, or apply out to plan.' });
  }
  if (!apply && dryRun === false) {
    throw new InvalidInputError('options.dryRun is false but options.apply is not true: a configuration restore writes only when asked with apply: true.', { component: COMPONENT, hint: 'Give options.apply: true to write.' });
  }
  let names: string[] | undefined;
  if (raw.names !== undefined) {
    const list = typeof raw.names === 'string' ? raw.names.split(',').map((n) => n.trim()) : raw.names;
    if (!Array.isArray(list) || list.length === 0 || list.some((n) => typeof n !== 'string' || n === '')) {
      throw new InvalidInputError('options.names must be a non-empty list of name globs, e.g. ["/neuroca/db/*", "neuroca/api-*"].', { component: COMPONENT });
    }
    names = list as string[];
  }
  // The result parses to itself: the engine parses an input's options, and the component again, whoever called it.
  return { apply, prune: flag(raw, 'prune') ?? false, ...(names ? { names } : {}) };
}
