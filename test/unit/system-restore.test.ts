/**
 * The restore-all report from the nested restores' descriptions: durations against each component's RTO
 * and the total against the runbook's 12 hours (a run that misses them says so), a failed execution's
 * error and cause taken from the description Step Functions gives, and the loop's nested pairs unfolded.
 */
import { parseRestoreAllInput, restoreAllReport, unfoldResults, type RestoreAllPlan } from '../../functions/core/system-restore';
import { testRuntimeConfig, TEST_WORKER } from '../support/runtime-config';

const ID = '20261201T020000Z-7f3a9c';
const HOUR = 3_600_000;
const config = testRuntimeConfig({
  components: {
    postgres: { group: 'database', source: { database: 'neuroca_db' }, worker: TEST_WORKER },
    memory: { group: 'memory_tiers', source: {}, worker: TEST_WORKER },
    models: { group: 'model_weights', source: {}, worker: TEST_WORKER },
  } as never,
});
const plan: RestoreAllPlan = {
  systemId: ID,
  complete: true,
  forced: false,
  continueOnFailure: true,
  firstSnapshotAt: null,
  lastSnapshotAt: null,
  spanMs: null,
  components: (['postgres', 'memory', 'models'] as const).map((component) => ({ component, group: 'database', backupId: ID, status: 'restorable' })),
  restores: (['postgres', 'memory', 'models'] as const).map((component) => ({ component, backupId: ID, skipSafetyBackup: false })),
  order: ['postgres', 'memory', 'models'],
  count: 3,
  passedOver: [],
};
const start = Date.parse('2026-12-01T03:00:00Z');

describe('restore-all report', () => {
  test('each component against its RTO (database 4 h, memory tiers 6 h, none for models) and the total against 12 h', () => {
    const results = unfoldResults([
      [
        [[], { component: 'postgres', execution: { status: 'SUCCEEDED', startDate: start, stopDate: start + 5 * HOUR, output: { fingerprintMatch: true } } }],
        { component: 'memory', execution: { status: 'SUCCEEDED', startDate: start + 5 * HOUR, stopDate: start + 6 * HOUR, output: { fingerprintMatch: true } } },
      ],
      {
        component: 'models',
        failure: { Error: 'States.TaskFailed', Cause: JSON.stringify({ Status: 'FAILED', Error: 'IntegrityError', Cause: JSON.stringify({ errorType: 'IntegrityError', errorMessage: 'models: blob damaged' }), StartDate: start + 6 * HOUR, StopDate: start + 13 * HOUR }) },
      },
    ]);
    expect(results.map((r) => r.component)).toEqual(['postgres', 'memory', 'models']);
    const report = restoreAllReport(config, plan, results, { restoreId: ID, startedAt: new Date(start), completedAt: new Date(start + 13 * HOUR) });
    expect(report.components).toEqual([
      expect.objectContaining({ component: 'postgres', status: 'RESTORED', durationMs: 5 * HOUR, rtoHours: 4, withinRto: false }),
      expect.objectContaining({ component: 'memory', status: 'RESTORED', durationMs: HOUR, rtoHours: 6, withinRto: true }),
      { component: 'models', backupId: ID, status: 'FAILED', durationMs: 7 * HOUR, rtoHours: null, error: 'IntegrityError', cause: 'models: blob damaged' },
    ]);
    expect(report.total).toEqual({ durationMs: 13 * HOUR, restoreMs: 13 * HOUR, rtoHours: 12, withinRto: false });
    expect(report).toMatchObject({ status: 'FAILED', error: 'IntegrityError', cause: 'models: IntegrityError: models: blob damaged' });
  });

  test('a component the run never reached is NOT_STARTED; a Task failure without an execution keeps its own error', () => {
    const results = unfoldResults([[], { component: 'postgres', failure: { Error: 'StepFunctions.ExecutionLimitExceeded', Cause: 'too many executions' } }]);
    const report = restoreAllReport(config, plan, results, { restoreId: ID, startedAt: new Date(start), completedAt: new Date(start + HOUR) });
    expect(report.components.map((c) => [c.component, c.status, c.error])).toEqual([
      ['postgres', 'FAILED', 'StepFunctions.ExecutionLimitExceeded'],
      ['memory', 'NOT_STARTED', undefined],
      ['models', 'NOT_STARTED', undefined],
    ]);
  });

  test.each([
    [{}, /systemId is required/],
    [{ systemId: 'latest', order: 'postgres' }, /order must be a list of component names/],
    [{ systemId: 'latest', order: ['postgres', 'postgres'] }, /order lists postgres more than once/],
    [{ systemId: 'latest', force: 'yes' }, /force must be true or false/],
    [{ systemId: 'latest', target: 'x' }, /unknown input field 'target'/],
  ])('input %j is refused', (input, message) => {
    expect(() => parseRestoreAllInput(input)).toThrow(message);
  });
});
