/**
 * What a restore drill (core/drill.ts) needs of the logs component: a sandbox its restore writes into, a
 * sample read of the restored events, and the sandbox's removal.
 *
 * The sandbox: a backup of one log group (and no metric datapoints) is restored into the log group
 * `<restore_log_group_prefix>drill-<drill id><group>`, as a restore into a log group is (the worker may
 * create and write only under that prefix), with files beside it for events CloudWatch Logs no longer
 * accepts; any other backup into files: under `<restore_location>nca-drill/<drill id>/` when a restore
 * location is configured, else in a local scratch directory. The drill deletes the group, the files or the
 * directory afterwards.
 */
import { rm, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DeleteLogGroupCommand, FilterLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { InvalidInputError } from '../../core/errors';
import { classifyS3Error } from '../../core/s3-errors';
import type { LogsTarget } from './backup';
import { logsFailure } from './read';
import type { LogsRestoreOptions, LogsSourceConfig } from './source';
import type { DrillSampleResult, DrillSandbox } from '../types';

const COMPONENT = 'logs';

/** What the sandbox is chosen from: the drill, production's source and the backup's manifest. */
interface LogsSandboxRequest {
  readonly drillId: string;
  readonly source: unknown;
  readonly manifest: { readonly source: { readonly [key: string]: unknown } };
}

/** The sources a backup's manifest records events or datapoints of. */
function sourcesWithData(request: LogsSandboxRequest): { groups: string[]; metrics: string[] } {
  const windows = (request.manifest.source.windows ?? []) as { source: string; kind: string; count: number }[];
  const unique = (kind: string) => [...new Set(windows.filter((w) => w.kind === kind && w.count > 0).map((w) => w.source))];
  return { groups: unique('log-group'), metrics: unique('metrics') };
}

export function logsSandbox(request: LogsSandboxRequest): DrillSandbox {
  const source = request.source as LogsSourceConfig;
  const id = request.drillId.toLowerCase();
  const { groups, metrics } = sourcesWithData(request);
  const files: Pick<LogsRestoreOptions, 'targetPrefix' | 'directory'> = source.restoreLocation
    ? { targetPrefix: { bucket: source.restoreLocation.bucket, prefix: `${source.restoreLocation.prefix}nca-drill/${id}/` } }
    : { directory: join(tmpdir(), `nca-drill-${id}-logs`) };
  const fileName = files.targetPrefix ? `s3://${files.targetPrefix.bucket}/${files.targetPrefix.prefix}` : files.directory!;
  if (groups.length === 1 && metrics.length === 0) {
    const group = `${source.restoreLogGroupPrefix}drill-${id}${groups[0].startsWith('/') ? '' : '/'}${groups[0]}`;
    return { name: `log group ${group}`, source, options: { targetLogGroup: group, ...serialised(files) } };
  }
  return { name: fileName, source, options: serialised(files) };
}

/** The options as a restore input carries them (targetPrefix as its s3:// URL, as options.ts reads it). */
const serialised = (files: Pick<LogsRestoreOptions, 'targetPrefix' | 'directory'>) =>
  files.targetPrefix ? { targetPrefix: `s3://${files.targetPrefix.bucket}/${files.targetPrefix.prefix}` } : { directory: files.directory };

/** Where a logs target writes: its restore's log group, prefix or directory (production restores into none of them). */
export const logsPlaces = (target: LogsTarget) => {
  const to = target.writesTo ?? {};
  return [
    ...(to.targetLogGroup ? [{ store: 'log group', server: 'cloudwatch-logs', database: to.targetLogGroup }] : []),
    ...(to.targetPrefix ? [{ store: 'files', server: 's3', database: `s3://${to.targetPrefix.bucket}/${to.targetPrefix.prefix}` }] : []),
    ...(to.directory ? [{ store: 'files', server: 'file system', database: to.directory }] : []),
  ];
};

/** The first restored file's first line: a JSON object (gzip JSON Lines, the Athena layout). */
function firstLine(bytes: Buffer): boolean {
  const text = gunzipSync(bytes).toString('utf8');
  const line = text.split('\n', 1)[0];
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
}

async function firstFile(directory: string): Promise<string | undefined> {
  for (const entry of await readdir(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) return join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
  }
  return undefined;
}

/** An event read back from the sandbox group, else a line of a restored file. */
export async function sampleLogs({ target }: { readonly target: LogsTarget }): Promise<DrillSampleResult> {
  const to = target.writesTo ?? {};
  if (to.targetLogGroup) {
    const page = await target.clients.logs.send(new FilterLogEventsCommand({ logGroupName: to.targetLogGroup, limit: 1 })).catch((error: unknown) => {
      if ((error as Error)?.name === 'ResourceNotFoundException') return undefined;
      throw logsFailure(error, to.targetLogGroup!);
    });
    if (page?.events?.length) return { read: `an event of ${to.targetLogGroup}` };
  }
  if (to.directory) {
    const file = await firstFile(to.directory).catch(() => undefined);
    if (file && firstLine(await readFile(file))) return { read: `a line of ${file}` };
  }
  if (to.targetPrefix) {
    const { bucket, prefix } = to.targetPrefix;
    try {
      const listed = await target.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 }));
      const key = listed.Contents?.[0]?.Key;
      if (key) {
        const body = await (await target.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray();
        if (firstLine(Buffer.from(body))) return { read: `a line of s3://${bucket}/${key}` };
      }
    } catch (error) {
      throw classifyS3Error(error, `reading s3://${bucket}/${prefix} back`, { component: COMPONENT });
    }
  }
  return { problem: `no event could be read back from ${logsPlaces(target).map((p) => p.database).join(' or ')}` };
}

/** Deletes the drill's log group, its files under the S3 prefix, or its directory. */
export async function dropLogsSandbox(target: LogsTarget): Promise<void> {
  const to = target.writesTo ?? {};
  if (!to.targetLogGroup && !to.targetPrefix && !to.directory) throw new InvalidInputError('this logs target names no sandbox to drop (no restore target).', { component: COMPONENT });
  if (to.targetLogGroup) {
    await target.clients.logs.send(new DeleteLogGroupCommand({ logGroupName: to.targetLogGroup })).catch((error: unknown) => {
      if ((error as Error)?.name !== 'ResourceNotFoundException') throw logsFailure(error, to.targetLogGroup!);
    });
  }
  if (to.directory) await rm(to.directory, { recursive: true, force: true });
  if (to.targetPrefix) {
    const { bucket, prefix } = to.targetPrefix;
    if (prefix === '') throw new InvalidInputError(`a drill sandbox is never a whole bucket (s3://${bucket}/).`, { component: COMPONENT });
    try {
      let listed;
      do {
        listed = await target.s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
        const keys = (listed.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length > 0) await target.s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      } while (listed.IsTruncated);
    } catch (error) {
      throw classifyS3Error(error, `deleting the drill sandbox s3://${bucket}/${prefix}`, { component: COMPONENT });
    }
  }
}
