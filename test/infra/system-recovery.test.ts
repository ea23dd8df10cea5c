/**
 * The restore-all state machine and the system recovery points' grants: restore-all.asl.json deployed with
 * every placeholder substituted, its role holding exactly the calls the definition makes (the two functions,
 * the nested Restore executions, the managed rule of startExecution.sync); finalize writes the system indexes
 * only, resolve-system reads and verifies (never signs), restore-all-report writes its reports only.
 */
import { fixtureConfig, logicalId, render, renderedStatements, statementBySid, synthTemplates } from './fixture-config';

describe('restore-all and system recovery points', () => {
  const { primary } = synthTemplates(fixtureConfig());
  const resources = primary.toJSON().Resources;
  const machineId = logicalId(primary, 'AWS::StepFunctions::StateMachine', 'WorkflowsSystemRestore');
  const restoreId = Object.keys(resources).find((id) => resources[id].Type === 'AWS::StepFunctions::StateMachine' && /^WorkflowsRestore[0-9A-F]{8}$/.test(id))!;
  const fnArn = (fragment: string) => `<GetAtt:${logicalId(primary, 'AWS::Lambda::Function', fragment)}.Arn>`;

  test('the definition starts the Restore state machine and calls the two restore-all functions; the stack outputs its ARN', () => {
    const substitutions = resources[machineId].Properties.DefinitionSubstitutions;
    expect(Object.keys(substitutions).sort()).toEqual(['ControlPlaneRuntimeConfig', 'ResolveSystemFunctionArn', 'RestoreAllReportFunctionArn', 'RestoreStateMachineArn']);
    expect(render(substitutions.RestoreStateMachineArn)).toBe(`<Ref:${restoreId}>`);
    expect(render(substitutions.ResolveSystemFunctionArn)).toBe(fnArn('ControlPlaneResolveSystem'));
    expect(primary.toJSON().Outputs.RestoreAllStateMachineArn.Value).toEqual({ Ref: machineId });
  });

  test('its role: invoke the two functions, start the Restore state machine, follow and stop its executions, the sync rule; nothing else', () => {
    const statements = renderedStatements(primary, 'WorkflowsSystemRestoreRole');
    expect(statementBySid(statements, 'InvokeFunctions').Resource.map(render).sort()).toEqual([fnArn('ControlPlaneResolveSystem'), fnArn('ControlPlaneRestoreAllReport')].sort());
    expect(statementBySid(statements, 'StartRestores')).toMatchObject({ Action: 'states:StartExecution', Resource: `<Ref:${restoreId}>` });
    expect(statementBySid(statements, 'FollowRestores')).toMatchObject({
      Action: ['states:DescribeExecution', 'states:StopExecution'],
      Resource: expect.stringMatching(new RegExp(`^arn:<Partition>:states:us-west-2:<AccountId>:execution:.*${restoreId}.*:\\*$`)),
    });
    expect(statementBySid(statements, 'StatesSyncRule').Resource).toBe('arn:<Partition>:events:us-west-2:<AccountId>:rule/StepFunctionsGetEventsForStepFunctionsExecutionRule');
    const actions = statements.flatMap((s) => [s.Action].flat()).filter((a: string) => !a.startsWith('logs:') && !a.startsWith('xray:'));
    expect(actions.sort()).toEqual(['events:DescribeRule', 'events:PutRule', 'events:PutTargets', 'lambda:InvokeFunction', 'states:DescribeExecution', 'states:StartExecution', 'states:StopExecution']);
  });

  test('finalize writes the system indexes only; resolve-system reads and verifies manifests; the report function writes its reports only', () => {
    const s3 = (fragment: string) => renderedStatements(primary, fragment).filter((s) => /"s3:/.test(JSON.stringify(s.Action)));
    expect(s3('ControlPlaneFinalizeRole')).toEqual([
      expect.objectContaining({ Sid: 'WriteSystemIndexes', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:<Partition>:s3:::neuroca-backups/backups/system/*/manifest.json' }),
    ]);
    expect(s3('ControlPlaneRestoreAllReportRole')).toEqual([
      expect.objectContaining({ Sid: 'WriteRestoreAllReports', Action: 's3:PutObject', Resource: 'arn:<Partition>:s3:::neuroca-backups/backups/reports/restore-all/*' }),
    ]);
    const resolve = renderedStatements(primary, 'ControlPlaneResolveSystemRole');
    expect(statementBySid(resolve, 'ReadSystemPoints').Action).toBe('s3:GetObject');
    expect(statementBySid(resolve, 'ReadSystemPoints').Resource).toContain('arn:<Partition>:s3:::neuroca-backups/backups/system/*/manifest.json');
    const actions = resolve.flatMap((s) => [s.Action].flat());
    expect(actions).toContain('kms:VerifyMac');
    expect(actions.filter((a: string) => a === 'kms:GenerateMac' || a === 's3:PutObject' || a.startsWith('s3:Delete'))).toEqual([]);
  });
});
