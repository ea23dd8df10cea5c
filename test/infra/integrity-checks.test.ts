/** The hourly integrity check: one rule per configured component invoking its own worker, failures to the alarmed dead-letter queue. */
import { configWith, logicalId, render, synthTemplates } from './fixture-config';

const CONFIG = configWith((c) => {
  c.sources.redis = { db: 0, keyPatterns: ['*'] };
  c.verification = { ...c.verification, integrityCycleHours: 48 };
});

describe('integrity checks', () => {
  const { primary } = synthTemplates(CONFIG);
  const rules = (Object.values(primary.findResources('AWS::Events::Rule')) as any[]).filter((r) => String(r.Properties.Description ?? '').includes('integrity check'));

  test('hourly, one per configured component, each invoking that component\'s worker with its share of the cycle', () => {
    expect(rules.map((r) => r.Properties.Description).sort()).toEqual(['nca-backup: hourly integrity check of postgres backups in both vaults', 'nca-backup: hourly integrity check of redis backups in both vaults'].sort());
    for (const rule of rules) {
      expect(rule.Properties.ScheduleExpression).toBe('rate(1 hour)');
      const [target] = rule.Properties.Targets;
      const input = JSON.parse(typeof target.Input === 'string' ? target.Input : render(target.Input));
      const component = input.component as string;
      expect(input).toMatchObject({ operation: 'integrity-check', cycleHours: 48 });
      expect(Object.keys(JSON.parse(input.runtimeConfig).components)).toEqual([component]);
      expect(target.Arn).toEqual({ 'Fn::GetAtt': [logicalId(primary, 'AWS::Lambda::Function', `Worker${component}Function`), 'Arn'] });
      expect(target.RetryPolicy).toMatchObject({ MaximumRetryAttempts: 0 });
    }
  });

  test('a failed run goes to the schedules\' dead-letter queue, not retried', () => {
    const queue = logicalId(primary, 'AWS::SQS::Queue', 'DeadLetterQueue');
    const configs = Object.values(primary.findResources('AWS::Lambda::EventInvokeConfig')) as any[];
    expect(configs).toHaveLength(2);
    for (const c of configs) {
      expect(c.Properties.MaximumRetryAttempts).toBe(0);
      expect(c.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': [queue, 'Arn'] });
    }
  });
});
