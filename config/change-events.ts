/**
 * The EventBridge events that mean "the configuration changed", in one place for the rules that match them
 * (infra/constructs/config-changes.ts) and the function that reads them (functions/core/config-changes.ts).
 */

/** Parameter Store's own event for every parameter operation (create, update, delete, label). */
export const PARAMETER_CHANGE = { source: 'aws.ssm', detailType: 'Parameter Store Change' } as const;

/** Secrets Manager calls that change a secret's value, stages, metadata or existence (CloudTrail management events). */
export const SECRET_CHANGE_CALLS = [
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'RotateSecret',
  'CreateSecret',
  'DeleteSecret',
  'RestoreSecret',
  'TagResource',
  'UntagResource',
] as const;

export const SECRET_CHANGE = {
  source: 'aws.secretsmanager',
  apiCall: 'AWS API Call via CloudTrail',
  serviceEvent: 'AWS Service Event via CloudTrail',
  /** Secrets Manager's own event when a rotation finished (the new version is current). */
  rotation: 'RotationSucceeded',
} as const;

/** S3's EventBridge notifications (sent only by a bucket with them turned on). */
export const FILE_CHANGE = { source: 'aws.s3', detailTypes: ['Object Created', 'Object Deleted'] } as const;
