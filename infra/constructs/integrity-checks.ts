/**
 * The scheduled integrity check (functions/core/integrity.ts): every hour each component's worker re-reads
 * its share of the component's backups in both vaults (1/`verification.integrity_cycle_hours` of them, so
 * every backup is read once per cycle) against the trusted manifests, with the component's structure check.
 * The worker runs it because the structure checks need the component's drivers and parsers.
 *
 * A run with a finding fails (IntegrityError); the schedule invokes the worker asynchronously with no
 * retry and the failure goes to the schedules' dead-letter queue, whose alarm notifies.
 *
 * The recovery vault is not read from here yet: the workers sit in the VPC, whose S3 gateway endpoint
 * serves the primary region only (the created VPC has no other route), so reading the other region's
 * bucket would fail every run. The engine compares both vaults (`recovery` in the step's input); a
 * function outside the VPC has to do that part (issue 14's remaining work).
 */
import { Duration, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as destinations from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RuntimeConfig } from '../../config/runtime-config';
import type { BackupConfig, ComponentName } from '../../config/types';
import type { ComponentWorker } from './workers';

export const INTEGRITY_SCHEDULE = events.Schedule.rate(Duration.hours(1));

export interface IntegrityChecksProps {
  readonly config: BackupConfig;
  readonly workers: Partial<Record<ComponentName, ComponentWorker>>;
  /** The workers' runtime config: each schedule carries its component's part (an EventBridge input holds 8 KB). */
  readonly workerRuntimeConfig: RuntimeConfig;
  /** Where a failed run goes (and what alarms). */
  readonly deadLetterQueue: sqs.IQueue;
}

export class IntegrityChecks extends Construct {
  constructor(scope: Construct, id: string, props: IntegrityChecksProps) {
    super(scope, id);
    const { config } = props;
    for (const [component, worker] of Object.entries(props.workers) as [ComponentName, ComponentWorker][]) {
      worker.function.configureAsyncInvoke({ retryAttempts: 0, onFailure: new destinations.SqsDestination(props.deadLetterQueue) });
      // The destination's grant (queue.grantSendMessages) includes the queue key's data-key actions by wildcard.
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(worker.function.role!).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: `CDK's SQS destination grant for the encrypted dead-letter queue: ${action} on that queue's key only, used by Lambda to send a failed integrity run to the queue.`,
        });
      }
      const runtime: RuntimeConfig = { ...props.workerRuntimeConfig, components: { [component]: props.workerRuntimeConfig.components[component] } };
      new events.Rule(this, `Schedule-${component}`, {
        description: `nca-backup: hourly integrity check of ${component} backups in both vaults`,
        schedule: INTEGRITY_SCHEDULE,
        targets: [
          new targets.LambdaFunction(worker.function, {
            retryAttempts: 0,
            event: events.RuleTargetInput.fromObject({
              operation: 'integrity-check',
              component,
              runtimeConfig: JSON.stringify(runtime),
              cycleHours: config.verification.integrityCycleHours,
            }),
          }),
        ],
      });
    }
  }
}
