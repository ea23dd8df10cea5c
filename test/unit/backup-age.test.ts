/** The pure part of RPO monitoring: a backup's age, the breach rule, the datapoints, the schedule input's RPOs. */
import { ageHours, isBreached, metricData, rpoHoursFromEvent, type BackupAge } from '../../functions/core/backup-age';
import { InvalidInputError } from '../../functions/core/errors';
import { testRuntimeConfig } from '../support/runtime-config';

const NOW = new Date('2026-11-30T12:00:00.000Z');
const config = testRuntimeConfig({ components: { postgres: { group: 'database', source: { database: 'neuroca_db' } }, logs: { group: 'logs', source: {} as never } } });

describe('backup age', () => {
  test('is the hours from the backup\'s start (the data\'s point in time) to now, to two decimals', () => {
    expect(ageHours('2026-11-29T12:00:00.000Z', NOW)).toBe(24);
    expect(ageHours('2026-11-30T11:40:00.000Z', NOW)).toBe(0.33);
  });

  test('breaches when older than the RPO, or when there is no backup; never without an RPO', () => {
    expect(isBreached({ rpoHours: 24, ageHours: 24 })).toBe(false);
    expect(isBreached({ rpoHours: 24, ageHours: 24.01 })).toBe(true);
    expect(isBreached({ rpoHours: 24 })).toBe(true);
    expect(isBreached({ ageHours: 1000 })).toBe(false);
    expect(isBreached({})).toBe(false);
  });

  test('publishes an age only for a component that has a backup, and an RPO only for one that has an RPO', () => {
    const ages: BackupAge[] = [
      { component: 'postgres', group: 'database', rpoHours: 24, ageHours: 3.5, backupId: 'x', startedAt: 'y', breached: false },
      { component: 'redis', group: 'database', rpoHours: 24, breached: true },
      { component: 'logs', group: 'logs', ageHours: 50, breached: false },
    ];
    const data = metricData(ages, NOW).map((d) => [d.MetricName, d.Dimensions![0].Value, d.Value]);
    expect(data).toEqual([
      ['BackupAgeHours', 'postgres', 3.5],
      ['RpoHours', 'postgres', 24],
      ['RpoHours', 'redis', 24],
      ['BackupAgeHours', 'logs', 50],
    ]);
    expect(metricData(ages, NOW).every((d) => d.Timestamp === NOW && d.Dimensions![0].Name === 'Component')).toBe(true);
  });
});

describe('the schedule input\'s RPOs', () => {
  test('an object of configured component to positive hours; a component may be absent (no RPO)', () => {
    expect(rpoHoursFromEvent({ rpoHours: { postgres: 24 } }, config)).toEqual({ postgres: 24 });
  });

  test.each([
    [{}, /the event's rpoHours must be an object/],
    [{ rpoHours: [24] }, /the event's rpoHours must be an object/],
    [{ rpoHours: { redis: 24 } }, /rpoHours\.redis: not a configured component \(postgres, logs\)/],
    [{ rpoHours: { postgres: 0 } }, /rpoHours\.postgres: 0 is not a positive number of hours/],
    [{ rpoHours: { postgres: '24' } }, /rpoHours\.postgres: "24" is not a positive number/],
  ])('%j is refused naming the field', (event, message) => {
    expect(() => rpoHoursFromEvent(event, config)).toThrow(InvalidInputError);
    expect(() => rpoHoursFromEvent(event, config)).toThrow(message);
  });
});
