/** pg_dump and pg_restore as child processes: where they are, their version, and their failures. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { ToolError } from '../../core/errors';
import { conninfoDatabase, toolEnv, type PostgresTarget } from './connection';

export type PgTool = 'pg_dump' | 'pg_restore';

export function toolPath(target: PostgresTarget, tool: PgTool): string {
  return target.binDir ? join(target.binDir, tool) : tool;
}

export interface ToolVersion {
  readonly version: string;
  readonly major: number;
}

/** "pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → { version: "15.18", major: 15 }. */
export function parseToolVersion(output: string): ToolVersion {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(output);
  if (!match) throw new Error(`unrecognised version output: ${output.trim().slice(0, 120)}`);
  return { version: match[2] === undefined ? match[1] : `${match[1]}.${match[2]}`, major: Number(match[1]) };
}

const versions = new Map<string, Promise<ToolVersion>>();

export function toolVersion(target: PostgresTarget, tool: PgTool): Promise<ToolVersion> {
  const path = toolPath(target, tool);
  let cached = versions.get(path);
  if (!cached) {
    cached = promisify(execFile)(path, ['--version'])
      .then(({ stdout }) => parseToolVersion(stdout))
      .catch((error: Error) => {
        versions.delete(path);
        throw new ToolError(`${tool} is not usable (${error.message}).`, {
          component: 'postgres',
          hint: 'Install the PostgreSQL client (the worker image ships it), or set NCA_PG_BIN_DIR to its bin directory.',
        });
      });
    versions.set(path, cached);
  }
  return cached;
}

export interface RunningTool {
  readonly tool: PgTool;
  readonly child: ChildProcess;
  /** Resolves when the tool exits 0; rejects with a ToolError carrying the end of its stderr otherwise. */
  readonly done: Promise<void>;
}

const STDERR_TAIL = 4000;

/**
 * The arguments with every database given to `--dbname`/`-d` passed as a name only (conninfoDatabase):
 * a database name from a manifest or an input is never read by libpq as a connection string.
 */
export function withLiteralDatabase(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if ((arg === '--dbname' || arg === '-d') && i + 1 < args.length) {
      out.push(arg, conninfoDatabase(args[++i]));
    } else if (arg.startsWith('--dbname=')) {
      out.push(`--dbname=${conninfoDatabase(arg.slice('--dbname='.length))}`);
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** Starts a tool with libpq settings from the target; stdin/stdout are for the caller to stream. */
export function runTool(target: PostgresTarget, tool: PgTool, args: readonly string[], context: { backupId?: string } = {}): RunningTool {
  const child = spawn(toolPath(target, tool), withLiteralDatabase(args), { env: toolEnv(target, tool), stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => {
    stderr = (stderr + text).slice(-STDERR_TAIL);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', (error) => reject(new ToolError(`${tool} could not start: ${error.message}.`, { component: 'postgres', ...context })));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const how = signal ? `was stopped by ${signal}` : `exited with code ${code}`;
      // The tool's error line first: the lines after it (HINT, QUERY, CONTEXT, "Command was") may be many.
      const lines = stderr.trim().split('\n');
      const errorLine = lines.find((line) => /(^|: )(error|ERROR|FATAL): /.test(line));
      const detail = [...new Set([...(errorLine ? [errorLine] : []), ...lines.slice(-4)])].join(' | ');
      reject(new ToolError(`${tool} ${how}${detail ? `: ${detail}` : ''}.`, { component: 'postgres', ...context }));
    });
  });
  return { tool, child, done };
}

/** The tool closed its stdin (exited) while input was still coming. */
const isBrokenPipe = (error: unknown) => ['EPIPE', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE'].includes((error as { code?: string }).code ?? '');

/**
 * Streams `input` into the tool's stdin and settles once both sides have: resolved when the whole input
 * was read and the tool exited 0. A failed input (IntegrityError from the digest check) kills the tool
 * before it can finish with a partial input and is the error reported. A tool that stops reading (EPIPE:
 * it failed part-way) is reported with its own exit status and stderr, never swallowed: a promise that
 * never settles would let the process drain and exit 0 without a result.
 */
export async function feedTool(input: Readable, running: RunningTool, context: { backupId?: string } = {}): Promise<void> {
  const fed = pipeline(input, running.child.stdin!).catch((error: unknown) => {
    if (!isBrokenPipe(error)) running.child.kill('SIGKILL');
    throw error;
  });
  const [feeding, exiting] = await Promise.allSettled([fed, running.done]);
  if (feeding.status === 'rejected' && !isBrokenPipe(feeding.reason)) throw feeding.reason;
  if (exiting.status === 'rejected') throw exiting.reason;
  if (feeding.status === 'rejected') {
    throw new ToolError(`${running.tool} exited 0 without reading its whole input.`, { component: 'postgres', ...context });
  }
}
