/**
 * The logs component (the runbook's logs and monitoring data: application logs, audit trails, system
 * metrics, performance data). A backup exports, per log group and per metric set, the window that starts
 * where the previous complete backup's ended (backup.ts, windows.ts); a restore reads the chain of
 * backups covering a time range into a log group or into files Athena reads (restore.ts).
 */
import { InvalidInputError } from '../../core/errors';
import { createS3Client } from '../../core/storage';
import { setting } from '../../../config/environment';
import type { Component, ComponentEntry, RestoreTargetOptions } from '../types';
import { backupLogs, describeLogs, estimateLogs, LOGS, type LogsTarget } from './backup';
import { createLogsClients } from './clients';
import { readDatapoints, readEvents } from './format';
import { windowsOf } from './manifest-windows';
import { parseLogsRestoreOptions } from './options';
import { restoreLogs, verifyLogsRestore } from './restore';
import { dropLogsSandbox } from './drill';
import type { LogsRestoreOptions } from './source';
import { noCapacityLimit } from '../room';

export type { LogsTarget } from './backup';
export type LogsComponentOptions = LogsRestoreOptions & RestoreTargetOptions;

const COMPONENT = 'logs';

function options(raw: LogsComponentOptions): LogsRestoreOptions {
  const { targetDatabase: _targetDatabase, ...rest } = raw as Record<string, unknown>;
  return parseLogsRestoreOptions(rest);
}

export const logsComponent: Component<LogsTarget, LogsComponentOptions> = {
  name: 'logs',
  group: 'logs',

  async describe(target) {
    return describeLogs(target.source);
  },

  estimate: (target) => estimateLogs(target.clients.logs, target.source),

  backup: (target, sink, log) => backupLogs(target, sink, log),

  async fingerprint() {
    // A log group's content is not a state to compare: events only accumulate and expire. A restore is
    // verified by counting what it wrote (verifyRestore), never by fingerprinting the live groups.
    throw new InvalidInputError('the logs component has no live fingerprint: a restore is verified by the events it wrote.', { component: COMPONENT });
  },

  async checkCompatibility(source, _target, raw) {
    if (source.serverVersion !== 'cloudwatch-jsonl-1') {
      throw new InvalidInputError(`the backup's format ${JSON.stringify(source.serverVersion)} is not one this version reads (cloudwatch-jsonl-1).`, { component: COMPONENT });
    }
    // Options were parsed when the restore was resolved; only the file target matters here.
    const directory = typeof raw?.directory === 'string' ? raw.directory : undefined;
    return {
      targetVersion: 'cloudwatch-jsonl-1',
      room: directory ? { verdict: 'unknown', reason: `the free space of directory ${directory} is not checked` } : noCapacityLimit('CloudWatch Logs and S3 hold no disk a restore fills'),
    };
  },

  // A restore adds events to a log group (refusing one that already holds events of the range) or writes
  // files beside others: it replaces nothing, so there is nothing for a safety backup to keep.
  targetExists: async () => false,

  restore: (source, target, raw, log) => restoreLogs(source, target, options(raw), log),

  verifyRestore: (_expected, source, target, raw, log) => verifyLogsRestore(source, target, options(raw), log),

  /** Every line of every artifact parses, lies in its window and is counted as the manifest says. */
  async inspect(source) {
    for (const record of windowsOf(source)) {
      const options = { artifact: record.artifact, backupId: source.backup?.backupId, window: { start: record.start, end: record.end }, count: record.count };
      const values = record.kind === 'metrics' ? readDatapoints(source.open(record.artifact), options) : readEvents(source.open(record.artifact), options);
      for await (const _ of values);
    }
  },

  /** A drill's sandbox (the restore target retarget recorded): its log group, files or directory deleted. */
  dropTarget: (target) => dropLogsSandbox(target),
};

function pageLimitFrom(env: NodeJS.ProcessEnv): number | undefined {
  const text = setting(env, 'logsPageLimit');
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1 || value > 10_000) throw new InvalidInputError(`logsPageLimit ${JSON.stringify(text)} is not a whole number from 1 to 10000.`, { component: COMPONENT });
  return value;
}

export const logsEntry: ComponentEntry<LogsTarget, LogsComponentOptions, 'logs'> = {
  component: logsComponent,
  connect: async (source, env) => ({
    source,
    clients: createLogsClients({ logsEndpoint: setting(env, 'logsEndpoint'), metricsEndpoint: setting(env, 'metricsEndpoint') }),
    s3: createS3Client({ endpoint: setting(env, 's3Endpoint') }),
    now: () => Date.now(),
    pageLimit: pageLimitFrom(env),
  }),
  retarget: (target, options) => {
    // The engine names the backed-up "database" as the default target: for logs that is "logs".
    if (options.targetDatabase !== undefined && options.targetDatabase !== LOGS) {
      throw new InvalidInputError('targetDatabase cannot apply to logs.', { component: COMPONENT, hint: 'Give options.targetLogGroup, options.targetPrefix or options.directory instead.' });
    }
    // The restore's own target, kept on the target for a drill's dropTarget and sample read.
    const { targetLogGroup, targetPrefix, directory } = options as LogsComponentOptions;
    if (targetLogGroup === undefined && targetPrefix === undefined && directory === undefined) return target;
    const parsed = parseLogsRestoreOptions({ ...(targetLogGroup !== undefined ? { targetLogGroup } : {}), ...(targetPrefix !== undefined ? { targetPrefix } : {}), ...(directory !== undefined ? { directory } : {}) });
    return { ...target, writesTo: { targetLogGroup: parsed.targetLogGroup, targetPrefix: parsed.targetPrefix, directory: parsed.directory } };
  },
};
