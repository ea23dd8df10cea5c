/**
 * Sample NCA logs and metrics for the demo: log events as the NCA's JSON formatter writes them
 * (src/neuroca/monitoring/logging/formatters.py: timestamp, level, name, message, process, thread, and an
 * exception with its multi-line traceback on errors) in an API group and an audit group, and a memory
 * service latency metric, stored in the CloudWatch Logs and metrics substitutes.
 */
import type { CloudWatchLogsServer } from '../test/support/cloudwatch-logs-server';
import type { CloudWatchMetricsServer } from '../test/support/cloudwatch-metrics-server';

export const SAMPLE_LOG_GROUPS = ['/neuroca/api', '/neuroca/audit'] as const;

const LOGGERS = ['neuroca.memory.manager', 'neuroca.api.routes.memory', 'neuroca.core.cognitive_control.goal_manager', 'neuroca.integration.llm'];
const MESSAGES = ['Memory consolidated from STM to LTM', 'Retrieved 12 memories for query', 'Goal re-prioritised', 'LLM call completed in 812 ms', 'Decay applied to 240 working memories'];

function ncaLine(i: number, at: number): string {
  const level = ['INFO', 'INFO', 'DEBUG', 'WARNING', 'ERROR'][i % 5];
  return JSON.stringify({
    timestamp: new Date(at).toISOString().replace('T', ' ').replace('Z', ''),
    level,
    name: LOGGERS[i % LOGGERS.length],
    message: MESSAGES[i % MESSAGES.length],
    process: { id: 4242, name: 'MainProcess' },
    thread: { id: 140245 + (i % 4), name: `ThreadPoolExecutor-0_${i % 4}` },
    ...(level === 'ERROR' ? { exception: { type: 'ConnectionError', message: 'redis: connection reset by peer', traceback: 'Traceback (most recent call last):\n  File "/app/neuroca/memory/backends/redis_backend.py", line 88, in retrieve\nConnectionError: connection reset by peer' } } : {}),
  });
}

let sequence = 0;
/** `count` events per group arriving now, stamped over the `spanMs` before `ageMs` ago (an age of hours makes them late). */
export function loadSampleLogs(server: CloudWatchLogsServer, options: { count: number; ageMs?: number; spanMs?: number }): void {
  const now = Date.now();
  const end = now - (options.ageMs ?? 0);
  const span = options.spanMs ?? 60 * 60 * 1000;
  for (const group of SAMPLE_LOG_GROUPS) {
    const streams = group.endsWith('audit') ? ['audit'] : ['api-7f9c/1', 'api-7f9c/2'];
    streams.forEach((stream, s) => {
      const n = Math.floor(options.count / streams.length);
      server.putEvents(group, stream, Array.from({ length: n }, (_, i) => ({ timestamp: end - span + Math.floor((i * span) / n) + s, message: group.endsWith('audit') ? JSON.stringify({ actor: `user-${i % 7}`, action: ['memory.read', 'memory.write', 'config.change'][i % 3], at: end - span + i }) : ncaLine(sequence++, end - span + i) })));
    });
  }
}

export function loadSampleMetrics(server: CloudWatchMetricsServer): void {
  const start = Math.floor((Date.now() - 6 * 60 * 60 * 1000) / 60_000) * 60_000;
  server.seed('NCA/Memory', 'RetrievalLatency', [{ Name: 'Tier', Value: 'episodic' }], Array.from({ length: 300 }, (_, i) => ({ timestamp: start + i * 60_000, value: 20 + (i % 17) })));
}
