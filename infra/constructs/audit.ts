/**
 * The audit function (functions/handlers/audit.ts) and the EventBridge rules that feed it: the status
 * changes (terminal only) of the audited state machines, CloudTrail's StartExecution of them (who started
 * it), CloudTrail's S3 delete data events on the primary vault (the janitor's prunes, the break-glass
 * role's deletions) and S3's own Object Deleted events for lifecycle expirations (the vault's EventBridge
 * notifications). Its role may write the vault's audit prefix (create only; no read, no delete), encrypt
 * with the data key through S3, and put events on the default bus. Failed invocations are retried and then
 * land in the schedules' dead-letter queue, which has its alarm.
 */
import { Arn, Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
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
import { AUDIT_DIR, type AuditAction, type AuditSettings } from '../../config/audit';
import { nagText } from '../vault-names';
import { CONTROL_PLANE_LOG_RETENTION, controlPlaneFunction } from './control-plane';
import type { KmsKeyRef } from './keys';

/** Delivery attempts after a failed invocation before the event goes to the dead-letter queue. */
export const AUDIT_RETRIES = 2;
const TERMINAL = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'];

export interface AuditRecorderProps {
  readonly bucketName: string;
  readonly bucketArn: string;
  /** The vault's key prefix ("" or "backups/"): records go under `<prefix>audit/`. */
  readonly prefix: string;
  readonly region: string;
  readonly dataKey: KmsKeyRef;
  /** The data key as S3 is told it (an ARN, or an alias ARN). */
  readonly kmsKeyId: string;
  /** The state machines whose executions are audited, each with the action it is. */
  readonly stateMachines: readonly { readonly stateMachine: sfn.IStateMachine; readonly action: AuditAction }[];
  /** Roles the records name by a label instead of their ARN (the schedules' role: "schedule"). */
  readonly namedRoles: readonly { readonly roleArn: string; readonly label: string }[];
  /** The janitor's role: its deletions are recorded as action "prune". */
  readonly janitorRoleArn: string;
  readonly logKey: kms.IKey;
  readonly deadLetterQueue: sqs.IQueue;
  readonly queueKey: kms.IKey;
}

export class AuditRecorder extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly rules: Record<'statusChanges' | 'starts' | 'deletes' | 'expirations', events.Rule>;

  constructor(scope: Construct, id: string, props: AuditRecorderProps) {
    super(scope, id);
    const logGroup = new logs.LogGroup(this, 'Logs', { retention: CONTROL_PLANE_LOG_RETENTION, encryptionKey: props.logKey, removalPolicy: RemovalPolicy.RETAIN });
    this.role = new iam.Role(this, 'Role', {
      description: 'nca-backup audit: writes audit records to the vault\'s audit prefix and sends them to EventBridge',
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    });
    logGroup.grantWrite(this.role);
    const records = `${props.bucketArn}/${props.prefix}${AUDIT_DIR}*`;
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'WriteAuditRecords', actions: ['s3:PutObject'], resources: [records] }));
    const encrypt = props.dataKey.s3Statement(['kms:GenerateDataKey'], props.region);
    encrypt.sid = 'EncryptAuditRecords';
    this.role.addToPrincipalPolicy(encrypt);
    const defaultBus = Arn.format({ partition: Aws.PARTITION, service: 'events', region: props.region, account: Aws.ACCOUNT_ID, resource: 'event-bus', resourceName: 'default' });
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'SendAuditRecords', actions: ['events:PutEvents'], resources: [defaultBus] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DeadLetter', actions: ['sqs:SendMessage'], resources: [props.deadLetterQueue.queueArn] }));
    this.role.addToPrincipalPolicy(new iam.PolicyStatement({ sid: 'DeadLetterEncryption', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [props.queueKey.keyArn] }));
    props.dataKey.acknowledgeAliasGrant(this.role);
    Validations.of(this.role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(props.bucketName)}/${props.prefix}${AUDIT_DIR}*]`,
        reason: `Audit records are written once each under ${props.prefix}${AUDIT_DIR}<date>/; create only (If-None-Match), no read, no delete.`,
      },
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (active tracing) support no resource-level permissions.' },
    );

    this.function = controlPlaneFunction(this, 'Function', {
      file: 'audit',
      description: 'Audit: one record per backup, restore, drill, prune or deletion, to the vault and EventBridge',
      timeout: Duration.seconds(30),
      role: this.role,
      logGroup,
    });
    const settings: AuditSettings = {
      bucket: props.bucketName,
      prefix: props.prefix,
      kmsKeyId: props.kmsKeyId,
      region: props.region,
      machines: Object.fromEntries(props.stateMachines.map((m) => [m.stateMachine.stateMachineArn, m.action])),
      roles: Object.fromEntries(props.namedRoles.map((r) => [r.roleArn, r.label])),
      janitorRole: props.janitorRoleArn,
    };
    this.function.addEnvironment(ENVIRONMENT.auditSettings, Stack.of(this).toJsonString(settings));
    new lambda.EventInvokeConfig(this, 'AsyncInvoke', {
      function: this.function,
      retryAttempts: AUDIT_RETRIES,
      maxEventAge: Duration.hours(6),
      onFailure: { bind: () => ({ destination: props.deadLetterQueue.queueArn }) },
    });

    const machineArns = props.stateMachines.map((m) => m.stateMachine.stateMachineArn);
    const target = new targets.LambdaFunction(this.function, { retryAttempts: 4, maxEventAge: Duration.hours(6) });
    const rule = (ruleId: string, description: string, eventPattern: events.EventPattern) =>
      new events.Rule(this, ruleId, { description: `nca-backup audit: ${description}`, eventPattern, targets: [target] });
    this.rules = {
      statusChanges: rule('StatusChanges', 'the end of every backup, restore and drill execution', {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: { stateMachineArn: machineArns, status: TERMINAL },
      }),
      starts: rule('Starts', 'who started a backup, restore or drill (CloudTrail StartExecution)', {
        source: ['aws.states'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['states.amazonaws.com'], eventName: ['StartExecution'], requestParameters: { stateMachineArn: machineArns } },
      }),
      deletes: rule('Deletes', 'deletions of vault objects by API (CloudTrail data events)', {
        source: ['aws.s3'],
        detailType: ['AWS API Call via CloudTrail'],
        detail: { eventSource: ['s3.amazonaws.com'], eventName: ['DeleteObject', 'DeleteObjects', 'DeleteObjectVersion'], requestParameters: { bucketName: [props.bucketName] } },
      }),
      expirations: rule('Expirations', 'vault objects expired by lifecycle (S3 Object Deleted)', {
        source: ['aws.s3'],
        detailType: ['Object Deleted'],
        // Not the audit records' own expirations: each would make a record that expires in turn, for ever.
        detail: { bucket: { name: [props.bucketName] }, reason: ['Lifecycle Expiration'], object: { key: [{ 'anything-but': { prefix: `${props.prefix}${AUDIT_DIR}` } }] } },
      }),
    };
  }
}
