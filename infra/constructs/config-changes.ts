/**
 * Configuration backups "after changes" (the runbook's configuration schedule): EventBridge rules on the
 * configured Parameter Store paths, secrets and file prefixes invoke the change-trigger function
 * (functions/handlers/config-change.ts), which starts one `configuration` backup per short window of changes
 * (the debounce: one execution name per window, duplicate starts refused, and a Wait state in the backup
 * workflow until the window has closed). A change whose backup cannot be started lands, after Lambda's
 * retries, in the schedules' dead-letter queue, whose alarm fires.
 *
 * The events: Parameter Store sends "Parameter Store Change" itself; Secrets Manager calls arrive as
 * CloudTrail management events ("AWS API Call via CloudTrail"; rotation as "AWS Service Event via
 * CloudTrail"); file changes arrive only from a bucket with EventBridge notifications turned on.
 */
import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { ENVIRONMENT } from '../../config/environment';
import { FILE_CHANGE, PARAMETER_CHANGE, SECRET_CHANGE, SECRET_CHANGE_CALLS } from '../../config/change-events';
import { isSecretArn } from '../../config/fields';
import type { SourceConfigOf } from '../../config/components';
import { CONTROL_PLANE_LOG_RETENTION, controlPlaneFunction } from './control-plane';

/** Times Lambda retries a failed change-trigger invocation before the event goes to the dead-letter queue. */
export const CHANGE_TRIGGER_RETRIES = 2;

/** What a configured secret is called in events: CloudTrail names it by ARN or by name, as the caller did. */
export function secretEventPrefixes(secret: string, region: string, account: string, partition: string): string[] {
  if (!isSecretArn(secret)) return [secret, `arn:${partition}:secretsmanager:${region}:${account}:secret:${secret}`];
  const name = secret.slice(secret.indexOf(':secret:') + ':secret:'.length);
  // A complete ARN ends in "-" and six random characters, which the name the caller may use does not carry.
  const bare = /-[A-Za-z0-9]{6}$/.test(name) ? name.slice(0, -7) : name;
  return [secret, bare];
}

/** The event patterns of the configured sources (one rule each: their detail types differ). */
export function configChangePatterns(source: SourceConfigOf<'config'>, region: string, account = Aws.ACCOUNT_ID, partition = Aws.PARTITION): Record<string, events.EventPattern> {
  const patterns: Record<string, events.EventPattern> = {};
  if (source.parameterPaths.length > 0) {
    patterns.Parameters = {
      source: [PARAMETER_CHANGE.source],
      detailType: [PARAMETER_CHANGE.detailType],
      detail: { name: source.parameterPaths.map((path) => ({ prefix: path === '/' ? '/' : `${path}/` })) },
    };
  }
  if (source.secrets.length > 0) {
    const prefixes = [...new Set(source.secrets.flatMap((s) => secretEventPrefixes(s, region, account, partition)))].map((prefix) => ({ prefix }));
    patterns.Secrets = {
      source: [SECRET_CHANGE.source],
      detailType: [SECRET_CHANGE.apiCall, SECRET_CHANGE.serviceEvent],
      detail: {
        eventSource: ['secretsmanager.amazonaws.com'],
        eventName: [...SECRET_CHANGE_CALLS, SECRET_CHANGE.rotation],
        // A refused call changed nothing.
        errorCode: [{ exists: false }],
        $or: [{ requestParameters: { secretId: prefixes } }, { requestParameters: { name: prefixes } }, { additionalEventData: { SecretId: prefixes } }],
      },
    };
  }
  if (source.files.length > 0) {
    const locations = source.files.map((f) => ({ bucket: { name: [f.bucket] }, object: { key: f.prefix ? [{ prefix: f.prefix }] : [{ exists: true }] } }));
    // EventBridge refuses an $or of fewer than two branches.
    patterns.Files = { source: [FILE_CHANGE.source], detailType: [...FILE_CHANGE.detailTypes], detail: locations.length === 1 ? locations[0] : { $or: locations } };
  }
  return patterns;
}

export interface ConfigChangeTriggerProps {
  /** backup.sources.config. */
  readonly source: SourceConfigOf<'config'>;
  /** The primary region, where the sources live. */
  readonly region: string;
  /** The backup workflow the function starts. */
  readonly stateMachine: sfn.IStateMachine;
  /** Where a change lands whose backup could not be started (the schedules' dead-letter queue, which alarms). */
  readonly deadLetterQueue: sqs.IQueue;
  /** The dead-letter queue's key. */
  readonly queueKey: kms.IKey;
  readonly logKey: kms.IKey;
}

export class ConfigChangeTrigger extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly rules: Record<string, events.Rule> = {};

  constructor(scope: Construct, id: string, props: ConfigChangeTriggerProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: CONTROL_PLANE_LOG_RETENTION, encryptionKey: props.logKey, removalPolicy: RemovalPolicy.RETAIN });
    const role = new iam.Role(this, 'Role', {
      description: 'nca-backup config-change: starts a configuration backup after a change',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(role);
    props.stateMachine.grantStartExecution(role);
    // Written out instead of grantSendMessages, which would also grant kms:ReEncrypt* and kms:GenerateDataKey*.
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [props.deadLetterQueue.queueArn] }));
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DeadLetterEncryption', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.queueKey.keyArn] }));
    Validations.of(role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions.',
    });

    this.function = controlPlaneFunction(this, 'Function', {
      file: 'config-change',
      description: 'Configuration changed: starts one configuration backup per window of changes',
      timeout: Duration.seconds(30),
      role,
      logGroup,
    });
    // The state machine's ARN only: the function reads nothing else from its environment.
    this.function.addEnvironment(ENVIRONMENT.backupStateMachineArn, props.stateMachine.stateMachineArn);
    new lambda.EventInvokeConfig(this, 'AsyncInvoke', {
      function: this.function,
      retryAttempts: CHANGE_TRIGGER_RETRIES,
      maxEventAge: Duration.hours(1),
      onFailure: { bind: () => ({ destination: props.deadLetterQueue.queueArn }) },
    });

    const target = new targets.LambdaFunction(this.function, { retryAttempts: 4, maxEventAge: Duration.hours(1) });
    for (const [name, eventPattern] of Object.entries(configChangePatterns(props.source, props.region))) {
      this.rules[name] = new events.Rule(this, `${name}Changed`, {
        description: `nca-backup: a change to the configured ${name.toLowerCase()} starts a configuration backup`,
        eventPattern,
        targets: [target],
      });
    }
  }
}
