/**
 * nca-backup's command line: the operator's tool, the Fargate task's entry point (`run-step`) and the
 * tests' driver, all on the same engine as the Lambda worker. JSON result on stdout, progress as JSON
 * lines on stderr, non-zero exit on failure.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { restoreFlags, type RestoreFlagUse } from '../config/components';
import { DEFAULT_CONFIG_FILE, loadBackupConfig } from '../config/load';
import { summarize } from './core/backup-run';
import { runBackupAll, runRestoreAllSequence } from './core/system-sequence';
import { parseRestoreAllInput } from './core/system-restore';
import { newBackupId } from './core/backup-id';
import { artifactSource, componentPrefix, listBackups, resolveBackup, type BackupEntry } from './core/catalog';
import { isSafetyBackupId } from './core/backup-id';
import type { Manifest } from './core/manifest';
import { chainBroken, chainReport, trustedMember, type ArtifactCheck, type ChainMember, type ChainReport } from './components/logs/chain-report';
import type { ComponentName, GroupName } from '../config/types';
import { authenticatorOf, configuredComponent, vaultFor, type EngineContext } from './core/context';
import { BackupNotFoundError, IntegrityError, InvalidInputError, NoResultError } from './core/errors';
import { DrillFailedError } from './core/drill';
import { runDrillSequence } from './core/drill-sequence';
import { metricsClient } from './core/metrics-client';
import { localRuntimeConfig } from './core/local-config';
import { createLogger } from './core/logger';
import { runStoredOperation, type OperationEvent } from './core/operations';
import { withOperationLock } from './core/operation-lock';
import { runRestoreSequence } from './core/restore-sequence';
import { restoreComponent, verifyArtifacts } from './core/restore-steps';
import { runBackup } from './core/backup-run';
import { runtimeConfigFromEnv, type RuntimeConfig } from './core/runtime-config';
import { checkNewBackupId } from './core/workflow-input';
import { setting } from '../config/environment';
import { withCliAudit, type AuditAction } from './core/audit';
import { EventBus } from './core/event-bus';
import { peakRssMiB } from './core/peak-rss';

/** The restore flags of every component (config/components.ts), by flag name. */
const RESTORE_FLAGS = restoreFlags();

/** Flags wrapped after the restore line's indent, as many to a line as fit in 100 columns. */
function wrapFlags(flags: readonly string[], indent: string): string {
  const lines: string[] = [];
  let line = '';
  for (const flag of flags) {
    if (line && indent.length + line.length + 1 + flag.length > 100) {
      lines.push(line);
      line = flag;
    } else {
      line = line ? `${line} ${flag}` : flag;
    }
  }
  return [...lines, line].map((l) => indent + l).join('\n');
}

/** The usage text, with each component's restore flags and which options they set. */
export function usageText(flags: ReadonlyMap<string, RestoreFlagUse> = RESTORE_FLAGS): string {
  const restoreFlagsText = wrapFlags(['[--options JSON]', ...[...flags].map(([flag, use]) => `[--${flag} ${use.value}]`)], '          ');
  const byComponent = new Map<string, string[]>();
  for (const use of flags.values()) for (const component of use.components) byComponent.set(component, [...(byComponent.get(component) ?? []), use.key]);
  const keys = [...byComponent].map(([component, set]) => `${set.join(', ')}: ${component}`).join('; ');
  return `usage: nca-backup <command> [options]

  backup  <component> [--backup-id ID] [--trigger manual|scheduled]
  restore <component> --backup-id <ID|latest> [--target-database NAME] [--skip-safety-backup]
${restoreFlagsText}
  list    <component>
  verify  <component> --backup-id <ID|latest>
  verify  logs [--artifacts]   (the whole chain of logs backups: gaps, overlaps, unusable manifests)
  drill   [component ...]      (restore drills into sandboxes; every configured component if none named)
  backup-all [--trigger manual|scheduled]
          (one system recovery point: every configured component under one id, started together)
  restore-all --system-id <ID|latest> [--order c1,c2,...] [--continue-on-failure] [--force] [--skip-safety-backup]
          (every component of a recovery point in priority order, each through the full restore; one report)
  run-step <json>      (the Fargate task's entry: one workflow step)

options: --config FILE (default $NCA_BACKUP_CONFIG, else ./backup.yaml)
Component restore options go in --options '{"mode": "merge"}' or the flags after it, which set
the same keys (${keys}).

environment: NCA_S3_ENDPOINT, NCA_BUCKET, NCA_KMS_KEY_ID, NCA_POSTGRES_URL, NCA_REDIS_URL,
             NCA_MONGODB_URL, NCA_VECTOR_URL (see README)`;
}

/** The restore options of the command line: --options JSON, then each flag's key over it. */
export function restoreOptions(values: Record<string, unknown>, flags: ReadonlyMap<string, RestoreFlagUse> = RESTORE_FLAGS): Record<string, unknown> | undefined {
  let options: Record<string, unknown> = {};
  const json = values.options;
  if (typeof json === 'string') {
    try {
      options = JSON.parse(json) as Record<string, unknown>;
    } catch {
      throw new UsageError(`--options must be a JSON object, e.g. '{"mode": "merge"}'`);
    }
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new UsageError('--options must be a JSON object');
  }
  for (const [flag, { key, list }] of flags) {
    const value = values[flag];
    if (typeof value === 'string') options[key] = list ? value.split(',').map((v) => v.trim()).filter((v) => v !== '') : value;
  }
  return Object.keys(options).length > 0 ? options : undefined;
}

/** The command line itself is wrong (unknown command or flag, missing argument): exit code 2. */
class UsageError extends Error {
  override name = 'UsageError';
}

/** The exit codes: 0 result written, 1 the operation failed, 2 the command line or backup.yaml is wrong. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

function runtimeConfig(configFile: string, env: NodeJS.ProcessEnv): RuntimeConfig {
  // Inside a deployed task the stack's runtime config wins; locally backup.yaml plus NCA_* variables.
  if (setting(env, 'runtimeConfig')) return runtimeConfigFromEnv(env);
  return localRuntimeConfig(loadBackupConfig(resolve(configFile)), env);
}

/** Progress goes to the command's stderr, at the level its environment sets (NCA_LOG_LEVEL). */
function engine(config: RuntimeConfig, io: Io, runner: string, base: Record<string, unknown>): EngineContext {
  const { env } = io;
  return { config, vault: vaultFor(config, env), env, log: createLogger(base, io.stderr, env), runner, now: () => new Date() };
}

/**
 * An operator's backup, restore, drill, backup-all or restore-all, recorded in the vault's audit prefix (and on EventBridge when the
 * run talks to AWS or NCA_EVENTS_ENDPOINT names a bus); a Fargate task's run-step is a workflow step, which
 * the workflow's own audit records cover.
 */
function audited<T>(ctx: EngineContext, action: AuditAction, components: string[], backupIds: string[], run: () => Promise<T>) {
  if (setting(ctx.env, 'ecsContainerMetadata')) return run();
  const events = setting(ctx.env, 'eventsEndpoint');
  const bus = events || !setting(ctx.env, 's3Endpoint') ? new EventBus({ region: ctx.config.region ?? 'us-east-1', ...(events ? { endpoint: events } : {}) }) : undefined;
  return withCliAudit({ action, components, backupIds }, { vault: ctx.vault, ...(bus ? { bus } : {}), warn: (m) => ctx.log.warn(m) }, run);
}

/** parseArgs's own refusals (unknown flag, missing value) are usage errors like ours. */
function parseCommandLine(argv: readonly string[]) {
  try {
    return parseCommandLineOptions(argv);
  } catch (error) {
    if (String((error as { code?: string }).code ?? '').startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
}

const CLI_OPTIONS = {
  config: { type: 'string' },
  'backup-id': { type: 'string' },
  'target-database': { type: 'string' },
  'skip-safety-backup': { type: 'boolean', default: false },
  artifacts: { type: 'boolean', default: false },
  trigger: { type: 'string', default: 'manual' },
  options: { type: 'string' },
  'system-id': { type: 'string' },
  order: { type: 'string' },
  'continue-on-failure': { type: 'boolean', default: false },
  force: { type: 'boolean', default: false },
  ...(Object.fromEntries([...RESTORE_FLAGS.keys()].map((flag) => [flag, { type: 'string' as const }])) as Record<string, { type: 'string' }>),
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function parseCommandLineOptions(argv: readonly string[]) {
  return parseArgs({ args: [...argv], allowPositionals: true, options: CLI_OPTIONS });
}

/** What a command is about, for the error output: the component, or the step's component for run-step. */
function subjectOf(argv: readonly string[]): string | undefined {
  try {
    // Lenient: an unknown flag is the usage error being reported, and the component is still known.
    const { positionals } = parseArgs({ args: [...argv], allowPositionals: true, strict: false, options: CLI_OPTIONS });
    const [command, subject] = positionals;
    if (command !== 'run-step') return subject;
    const step = JSON.parse(subject ?? '') as { component?: unknown };
    return typeof step.component === 'string' ? step.component : undefined;
  } catch {
    return undefined;
  }
}

async function execute(argv: readonly string[], io: Io): Promise<unknown> {
  const { values, positionals } = parseCommandLine(argv);
  const [command, subject] = positionals;
  if (values.help) return { usage: usageText() };
  if (!command) throw new UsageError('a command is needed');
  const env = io.env;
  const configFile = values.config ?? setting(env, 'backupConfig') ?? DEFAULT_CONFIG_FILE;
  if (command === 'drill') return drill(configFile, positionals.slice(1), io);
  if (command === 'backup-all' || command === 'restore-all') return system(command, runtimeConfig(configFile, env), values, positionals.slice(1), io);
  if (!subject) throw new UsageError(`${command} needs ${command === 'run-step' ? 'a JSON step' : 'a component'}`);
  // --config, else NCA_BACKUP_CONFIG, else backup.yaml in the working directory.
  const config = runtimeConfig(configFile, env);

  switch (command) {
    case 'run-step': {
      let event: OperationEvent;
      try {
        event = JSON.parse(subject) as OperationEvent;
      } catch {
        throw new UsageError('run-step needs the step as JSON');
      }
      const ctx = engine(config, io, setting(env, 'ecsContainerMetadata') ? 'fargate' : 'cli', { component: event.component, operation: event.operation });
      return runStoredOperation(ctx, event);
    }
    case 'backup': {
      const { name, group } = configuredComponent(config, subject);
      const backupId =
        values['backup-id'] === undefined ? newBackupId(new Date(), randomBytes(3).toString('hex')) : checkNewBackupId(values['backup-id'], { field: '--backup-id', now: new Date(), component: name });
      const trigger = values.trigger as 'manual' | 'scheduled';
      if (trigger !== 'manual' && trigger !== 'scheduled') throw new UsageError(`--trigger must be manual or scheduled, not ${trigger}`);
      const ctx = engine(config, io, 'cli', { component: name, backupId });
      return audited(ctx, 'backup', [name], [backupId], async () => {
        const manifest = await withOperationLock(ctx.vault, { group, component: name, owner: `cli-backup-${backupId}`, operation: 'backup', log: ctx.log }, () =>
          runBackup(ctx, { component: name, backupId, trigger }),
        );
        return { ...summarize(manifest), peakRssMiB: peakRssMiB() };
      });
    }
    case 'list': {
      const { name, group } = configuredComponent(config, subject);
      const ctx = engine(config, io, 'cli', { component: name });
      const entries = await listBackups(ctx.vault, authenticatorOf(ctx), group, name);
      return { component: name, group, backups: entries.map(listed) };
    }
    case 'verify': {
      const { name, group } = configuredComponent(config, subject);
      const ctx = engine(config, io, 'cli', { component: name });
      // The logs component's backups are one chain of windows: without an id, the whole chain is verified.
      if (name === 'logs' && values['backup-id'] === undefined) return verifyLogsChain(ctx, group, name, { artifacts: values.artifacts });
      if (values.artifacts) throw new UsageError('--artifacts belongs to `verify logs` without --backup-id, which always re-reads the artifacts of the one backup it verifies');
      const manifest = await resolveBackup(ctx.vault, authenticatorOf(ctx), group, name, requiredBackupId(values['backup-id'], name));
      const verification = await verifyArtifacts(ctx, manifest);
      return { component: name, backupId: manifest.backupId, intact: true, ...verification };
    }
    case 'restore': {
      // The component is resolved, and the engine built, once for the whole restore (see core/restore-sequence.ts).
      const component = restoreComponent(config, subject);
      const ctx = engine(config, io, 'cli', { component: component.name });
      const options = restoreOptions(values);
      const envelope = {
        input: {
          component: component.name,
          backupId: requiredBackupId(values['backup-id'], component.name),
          ...(values['target-database'] !== undefined ? { targetDatabase: values['target-database'] } : {}),
          skipSafetyBackup: values['skip-safety-backup'],
          ...(options ? { options } : {}),
        },
        // The lock's owner, as a restore execution's name is.
        executionName: `cli-${randomBytes(6).toString('hex')}`,
        startTime: new Date().toISOString(),
      };
      return audited(ctx, 'restore', [component.name], [envelope.input.backupId], async () => ({ ...(await runRestoreSequence(ctx, component, envelope, '--skip-safety-backup')), peakRssMiB: peakRssMiB() }));
    }
    default:
      throw new UsageError(`unknown command '${command}'`);
  }
}

/**
 * `backup-all` and `restore-all`: one system recovery point taken, or restored component by component
 * (core/system-sequence.ts, the workflows' steps in one process).
 */
async function system(command: 'backup-all' | 'restore-all', config: RuntimeConfig, values: ReturnType<typeof parseCommandLine>['values'], extra: readonly string[], io: Io) {
  if (extra.length > 0) throw new UsageError(`${command} takes no component: it covers every configured one (got ${extra.join(' ')})`);
  if (command === 'backup-all') {
    const trigger = values.trigger as 'manual' | 'scheduled';
    if (trigger !== 'manual' && trigger !== 'scheduled') throw new UsageError(`--trigger must be manual or scheduled, not ${trigger}`);
    const systemId = newBackupId(new Date(), randomBytes(3).toString('hex'));
    const ctx = engine(config, io, 'cli', { operation: 'backup-all', backupId: systemId });
    return audited(ctx, 'backup', Object.keys(config.components), [systemId], () => runBackupAll(ctx, systemId, trigger));
  }
  if (values['system-id'] === undefined) throw new UsageError('restore-all needs --system-id <ID|latest>');
  const input = parseRestoreAllInput({
    systemId: values['system-id'],
    ...(values.order !== undefined ? { order: values.order.split(',').map((c) => c.trim()).filter((c) => c !== '') } : {}),
    continueOnFailure: values['continue-on-failure'],
    force: values.force,
    skipSafetyBackup: values['skip-safety-backup'],
  });
  const ctx = engine(config, io, 'cli', { operation: 'restore-all', systemId: input.systemId });
  return audited(ctx, 'restore-all', Object.keys(config.components), input.systemId === 'latest' ? [] : [input.systemId], () => runRestoreAllSequence(ctx, input));
}

/**
 * `drill`: each named component (every configured one when none is) restored into a sandbox, verified and
 * timed (core/drill.ts). The result lists every drill; it fails (exit 1, the result still printed) unless
 * every drill succeeded.
 */
async function drill(configFile: string, names: readonly string[], io: Io) {
  const { env } = io;
  const deployed = Boolean(setting(env, 'runtimeConfig'));
  const config = deployed ? runtimeConfigFromEnv(env) : localRuntimeConfig(loadBackupConfig(resolve(configFile)), env);
  const executionName = `cli-${randomBytes(6).toString('hex')}`;
  const ctx = engine(config, io, 'cli', { operation: 'drill', executionName });
  // Metrics go where a deployment's go; a local run without a metrics endpoint has nowhere to publish them.
  const metrics = deployed || setting(env, 'metricsEndpoint') ? metricsClient(config.region, env) : undefined;
  try {
    return await audited(ctx, 'drill', [...names], [], async () => {
      const result = await runDrillSequence(ctx, names, { executionName, ...(metrics ? { metrics } : {}) });
      if (!result.succeeded) throw Object.assign(new DrillFailedError(result.failure ?? 'a restore drill failed: see each drill\'s cause.'), { result });
      return result;
    });
  } finally {
    metrics?.destroy();
  }
}

/**
 * One line of `list`: a trusted backup's summary, or what is wrong with a manifest that cannot be used
 * (untrusted: no valid MAC; damaged: unreadable or invalid), with its key. An untrusted manifest's
 * contents are not shown: they are whatever its writer wanted them to be.
 */
function listed(entry: BackupEntry) {
  if (entry.status === 'trusted') return { ...summarize(entry.manifest), status: entry.status };
  if (entry.status === 'missing') return { backupId: entry.backupId, status: 'damaged', problem: 'its manifest disappeared while listing', key: entry.key };
  return { backupId: entry.backupId, status: entry.status, problem: entry.problem, key: entry.key };
}

/**
 * `verify logs`: every backup of the component with its status, and the chain of the trusted ones'
 * windows walked (components/logs/chain-report.ts); a broken chain fails with the report as its result.
 * Reads the manifests only, unless `artifacts`: then each trusted backup's artifacts are also re-read
 * against their SHA-256, which costs a GET of everything the chain holds.
 */
async function verifyLogsChain(ctx: EngineContext, group: GroupName, name: ComponentName, options: { artifacts: boolean }): Promise<ChainReport> {
  // Safety backups hold a restore target, not the source's chain (logs takes none: targetExists is false).
  const entries = (await listBackups(ctx.vault, authenticatorOf(ctx), group, name)).filter((e) => !isSafetyBackupId(e.backupId)).reverse();
  if (entries.length === 0) {
    throw new BackupNotFoundError(`there is no backup yet under ${ctx.vault.key(componentPrefix(group, name))}: no chain to verify.`, { component: name, hint: `Run one with: nca-backup backup ${name}` });
  }
  const members: ChainMember[] = [];
  for (const entry of entries) {
    if (entry.status !== 'trusted') {
      members.push({ backupId: entry.backupId, status: entry.status === 'missing' ? 'damaged' : entry.status, problem: entry.status === 'missing' ? 'its manifest disappeared while listing' : entry.problem, key: entry.key });
      continue;
    }
    const member = trustedMember(artifactSource(ctx.vault, entry.manifest));
    members.push(member.status === 'trusted' && options.artifacts ? { ...member, artifacts: await artifactCheck(ctx, entry.manifest) } : member);
  }
  const report = chainReport(members);
  const broken = chainBroken(report);
  if (broken) throw broken;
  return report;
}

async function artifactCheck(ctx: EngineContext, manifest: Manifest): Promise<ArtifactCheck> {
  try {
    const { artifacts, bytes } = await verifyArtifacts(ctx, manifest);
    return { intact: true, artifacts, bytes };
  } catch (error) {
    if (error instanceof IntegrityError) return { intact: false, problem: error.message };
    throw error;
  }
}

function requiredBackupId(value: string | undefined, component: string): string {
  if (!value) throw new InvalidInputError('--backup-id is required: an id from `nca-backup list` or "latest".', { component });
  return value;
}

/** Runs one command; resolves to the process exit code. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  try {
    const result = await execute(argv, io);
    if (result && typeof result === 'object' && 'usage' in result) {
      io.stdout(`${(result as { usage: string }).usage}\n`);
      return 0;
    }
    io.stdout(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    const usage = err instanceof UsageError || err.name === 'ConfigError';
    reportError(err, io, subjectOf(argv));
    if (err instanceof UsageError) io.stderr(`\n${usageText()}\n`);
    return usage ? EXIT.usage : EXIT.failed;
  }
}

/**
 * The JSON error on stdout (name, message, component, backup id) and one line on stderr. An error that
 * carries the command's result (`verify logs` failing on a broken chain carries its report) shows it too.
 */
function reportError(err: Error, io: Pick<Io, 'stdout' | 'stderr'>, subject?: string): void {
  const fields = err as Error & { component?: string; backupId?: string; hint?: string; result?: unknown };
  const component = fields.component ?? subject;
  const output = {
    error: err.name,
    message: err.message,
    ...(component ? { component } : {}),
    ...(fields.backupId ? { backupId: fields.backupId } : {}),
    ...(fields.result !== undefined ? { result: fields.result } : {}),
  };
  io.stdout(`${JSON.stringify(output, null, 2)}\n`);
  io.stderr(`nca-backup: ${err.name}${component && !err.message.startsWith(component) ? ` (${component})` : ''}: ${err.message}\n`);
}

/**
 * Runs a command as the whole process: the only way the CLI and the Fargate task exit. The process can
 * never end with code 0 unless the command settled with its result written: an error nobody handled
 * (an 'error' event, a rejected promise) ends it with a JSON error and code 1, and so does an event loop
 * that drains while the command's promise is still pending (a stream that never ended, a callback never
 * called), which Node would otherwise end quietly with code 0.
 */
export function runAsProcess(command: () => Promise<number>, io: Io = processIo(), subject?: string): void {
  let settled = false;
  const fail = (error: Error) => {
    if (settled) {
      // The result is already out; a second JSON document would make stdout unparsable.
      io.stderr(`nca-backup: after the result: ${error.name}: ${error.message}\n`);
      return;
    }
    settled = true;
    reportError(error, io, subject);
    process.exit(EXIT.failed);
  };
  process.on('uncaughtException', (error) => fail(error instanceof Error ? error : new Error(String(error))));
  process.on('unhandledRejection', (reason) => fail(reason instanceof Error ? reason : new Error(String(reason))));
  process.on('beforeExit', () => {
    if (!settled) {
      fail(new NoResultError('the command stopped without a result: the process ran out of work while an operation was still pending. Its outcome is unknown.', {
        component: subject,
        hint: 'Check the target before relying on it, and report this as a bug with the log above.',
      }));
    }
  });
  command().then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (error: unknown) => fail(error instanceof Error ? error : new Error(String(error))),
  );
}

function processIo(): Io {
  return { stdout: (t) => process.stdout.write(t), stderr: (t) => process.stderr.write(t), env: process.env };
}

/** The bin script's and the worker image's entry point. */
export function cliProcess(argv: readonly string[] = process.argv.slice(2)): void {
  runAsProcess(() => main(argv), processIo(), subjectOf(argv));
}

if (require.main === module) cliProcess();
