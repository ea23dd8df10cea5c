/**
 * The logs component (the runbook's logs and monitoring data: application logs, audit trails, system
 * metrics, performance data) as the configuration, the CLI and the control plane see it
 * (config/component.ts). Pure: no client.
 */
import { describeComponent } from '../../../config/component';
import { logsDrillGrants, logsGrants } from './grants';
import { parseLogsRestoreOptions, parseLogsSource } from './options';
import type { LogsSourceConfig } from './source';

export const logsDescriptor = describeComponent({
  name: 'logs',
  group: 'logs',
  source: {
    parse: (value, { path, issues }): LogsSourceConfig | undefined => parseLogsSource(value, path, issues),
    // Nothing to connect with: the worker reads CloudWatch with its own role.
    secretArns: () => [],
    arns: () => [],
    grants: (source: LogsSourceConfig, scope) => logsGrants(source, scope),
    drillGrants: (source: LogsSourceConfig, scope) => logsDrillGrants(source, scope),
  },
  restore: {
    parseOptions: (raw) => ({ ...parseLogsRestoreOptions(raw) }),
    flags: {
      from: { key: 'from', value: 'ISO-TIME' },
      to: { key: 'to', value: 'ISO-TIME' },
      'log-groups': { key: 'logGroups', list: true, value: 'GROUP,GROUP' },
      'target-log-group': { key: 'targetLogGroup', value: 'GROUP' },
      'target-prefix': { key: 'targetPrefix', value: 's3://BUCKET/PREFIX/' },
      directory: { key: 'directory', value: '/DIR' },
    },
  },
});
