/**
 * Progress as JSON lines on stderr: CloudWatch Logs in Lambda and Fargate, the terminal for the CLI,
 * whose stdout is reserved for the result. Only the fields passed in are written, so callers decide
 * what leaves the process; nothing here reads connection settings.
 */
import type { Logger } from '../components/types';

export function createLogger(base: Record<string, unknown> = {}, write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const emit = (level: string, message: string, fields?: Record<string, unknown>) =>
    write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...base, ...fields })}\n`);
  return {
    info: (message, fields) => emit('info', message, fields),
    warn: (message, fields) => emit('warn', message, fields),
  };
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined };
