/**
 * The restore-option and restore-target checks, from each component's descriptor (config/components.ts)
 * rather than from the components themselves: the control plane checks a restore input before anything
 * runs, and must not bundle the database drivers to do it. Every module imported here is pure
 * (test/unit/control-plane-bundles.test.ts reads the bundles to hold it so).
 */
import { COMPONENTS, descriptorOf, type Components } from '../../config/components';
import type { RestoreOptionsParser } from '../../config/component';
import type { ComponentName } from '../../config/types';
import { InvalidInputError } from '../core/errors';

/** The restore-options parser of `component`, from its descriptor; undefined for an unknown component. */
export function restoreOptionsParser(component: string, components: Components = COMPONENTS): RestoreOptionsParser | undefined {
  return descriptorOf(component, components)?.restore.parseOptions;
}

/** Where the restore target came from, for the error: the operator's field, or the backup's own database. */
export interface TargetOrigin {
  /** e.g. "targetDatabase (--target-database)"; absent: the backed-up database, used when no target is given. */
  readonly field?: string;
  /** Extra targets to refuse (backup.restore.protected_targets). */
  readonly protectedTargets?: readonly string[];
}

const PROTECTED_KEY = 'backup.restore.protected_targets';

/**
 * Why a restore may not write to `target`, as the error to throw, or undefined when it may: an empty name
 * (a dropped empty value once made a restore fall back to the backed-up database), a system database, or a
 * configured protected target. Checked before anything is read from the target or written to it.
 */
export function restoreTargetRefusal(component: ComponentName, target: string, origin: TargetOrigin = {}, components: Components = COMPONENTS): InvalidInputError | undefined {
  const field = origin.field ?? 'targetDatabase';
  const elsewhere = `Nothing was touched. To restore elsewhere, name another database: targetDatabase in the restore input, --target-database <name> on the command line.`;
  if (target.trim() === '') {
    return new InvalidInputError(`${field} is empty${target === '' ? '' : ' (only spaces)'}: an empty target is never read as "the backed-up database". Nothing was touched.`, {
      component,
      hint: 'Name the database to restore into, e.g. --target-database neuroca_db_restored; leave the option out only to restore over the backed-up database.',
    });
  }
  const what = origin.field ? `${field} '${target}'` : `the backed-up database '${target}' (the target when none is given)`;
  const rules = descriptorOf(component, components)?.restore.targets;
  const key = rules?.targetKey ?? ((name: string) => name);
  const system = Object.entries(rules?.systemDatabases ?? {}).find(([name]) => key(name) === key(target));
  if (system) {
    return new InvalidInputError(`${what} is the system database ${system[0]} (${system[1]}): a restore never writes to it.`, { component, hint: elsewhere });
  }
  const listed = (origin.protectedTargets ?? []).find((name) => key(name) === key(target));
  if (listed !== undefined) {
    return new InvalidInputError(`${what} is a protected target (${PROTECTED_KEY} lists '${listed}'): a restore never writes to it.`, { component, hint: elsewhere });
  }
  return undefined;
}
