/**
 * Progress as JSON lines on stderr: CloudWatch Logs in Lambda and Fargate, the terminal for the CLI,
 * whose stdout is reserved for the result. Only the fields passed in are written, so callers decide
 * what leaves the process; nothing here reads connection settings.
 */
import type { Logger } from '../components/types';
import { setting } from '../../config/environment';

const LEVELS = { info: 0, warn: 1, silent: 2 } as const;

/** NCA_LOG_LEVEL: info (default), warn, or silent (the tests' workflow harness; errors still reach the result). */
function threshold(env: NodeJS.ProcessEnv): number {
  const level = setting(env, 'logLevel') as keyof typeof LEVELS | undefined;
  return level && Object.prototype.hasOwnProperty.call(LEVELS, level) ? LEVELS[level] : LEVELS.info;
}

export function createLogger(base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stderr.write(l), env: NodeJS.ProcessEnv = process.env): Logger {
  const min = threshold(env);
  const emit = (level: 'info' | 'warn', message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[level] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields })}\n`);
  };
  return {
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
  };
}

/** The one logger that writes nothing: for work whose progress nobody reads, and for tests. */
export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };
