/**
 * The operator role: the one principal this stack lets start restores, whole-system restores and restore
 * drills. Assumable by IAM principals of this account only with MFA (aws:MultiFactorAuthPresent) no older
 * than backup.yaml `audit.operator_mfa_max_age_minutes` (aws:MultiFactorAuthAge); it may start those state
 * machines, follow and stop their executions and read the drill records and scorecard. Step Functions has
 * no resource policies, so nothing in the account stops another principal with its own
 * states:StartExecution grant: README "Audit and access" has the SCP an organization adds for that.
 */
import { Duration, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { KmsKeyRef } from './keys';
import { nagText } from '../vault-names';

export interface OperatorRoleProps {
  /** The role's name, e.g. `nca-backup-operator`: operators' profiles name it (`role_arn`). */
  readonly roleName: string;
  /** The longest an operator's MFA sign-in may be ago when the role is assumed. */
  readonly mfaMaxAge: Duration;
  /** The state machines the operator starts: restore, restore-test (drills), restore-all when deployed. */
  readonly stateMachines: readonly sfn.StateMachine[];
  /**
   * The drill records and scorecard the operator may read: the vault bucket, the reports' key prefix
   * (`<prefix>reports/`) and the data key that decrypts them.
   * @default no read access to the vault
   */
  readonly reports?: { readonly bucketName: string; readonly bucketArn: string; readonly keyPrefix: string; readonly dataKey: KmsKeyRef; readonly region: string };
}

/** The trust policy's conditions (asserted by test/infra/audit-access.test.ts). */
export function operatorTrustConditions(mfaMaxAge: Duration): Record<string, Record<string, string>> {
  return {
    Bool: { 'aws:MultiFactorAuthPresent': 'true' },
    NumericLessThan: { 'aws:MultiFactorAuthAge': String(mfaMaxAge.toSeconds()) },
  };
}

export class OperatorRole extends Construct {
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: OperatorRoleProps) {
    super(scope, id);
    this.role = new iam.Role(this, 'Role', {
      roleName: props.roleName,
      description: 'nca-backup operator: starts restores and restore drills (MFA only; see the README, Audit and access)',
      assumedBy: new iam.AccountRootPrincipal().withConditions(operatorTrustConditions(props.mfaMaxAge)),
      // IAM's shortest maximum is an hour; a session cannot outlive the MFA bound by more than that.
      maxSessionDuration: Duration.seconds(Math.max(3600, props.mfaMaxAge.toSeconds())),
    });
    const policy = new iam.Policy(this, 'Policy');
    for (const machine of props.stateMachines) {
      policy.addStatements(
        new iam.PolicyStatement({ actions: ['states:StartExecution', 'states:ListExecutions', 'states:DescribeStateMachine'], resources: [machine.stateMachineArn] }),
      );
    }
    this.role.attachInlinePolicy(policy);
    // Executions are named per run: their ARNs are `execution:<machine name>:*`.
    const stack = Stack.of(this);
    for (const machine of props.stateMachines) {
      machine.grantExecution(this.role, 'states:DescribeExecution', 'states:StopExecution', 'states:GetExecutionHistory');
      // cdk-nag names the grant's resource with the machine's logical id inside its Fn::Split of the ARN.
      const logicalId = stack.resolve(stack.getLogicalId(machine.node.defaultChild as CfnElement)) as string;
      Validations.of(this.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:${stack.partition}:states:${stack.region}:<AWS::AccountId>:execution:{"Fn::Select":[6,{"Fn::Split":[":",{"Ref":"${logicalId}"}]}]}:*]`,
        reason: 'Executions get a new name per run, so following and stopping them names execution:<state machine>:* of a state machine the operator may start, and nothing else.',
      });
    }
    if (props.reports) {
      const { bucketArn, keyPrefix, dataKey, region, bucketName } = props.reports;
      policy.addStatements(
        new iam.PolicyStatement({ sid: 'ReadDrillReports', actions: ['s3:GetObject'], resources: [`${bucketArn}/${keyPrefix}*`] }),
        new iam.PolicyStatement({ sid: 'ListDrillReports', actions: ['s3:ListBucket'], resources: [bucketArn], conditions: { StringLike: { 's3:prefix': [`${keyPrefix}*`] } } }),
        dataKey.s3Statement(['kms:Decrypt'], region),
      );
      dataKey.acknowledgeAliasGrant(policy);
      Validations.of(policy).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::${nagText(bucketName)}/${keyPrefix}*]`,
        reason: `Drill records and scorecards are written per drill under ${keyPrefix}; the operator reads them (no write, no delete).`,
      });
    }
  }
}
