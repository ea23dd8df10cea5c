import { CronError, toSchedulerCron } from '../../config/cron';

describe('toSchedulerCron', () => {
  test.each([
    // The runbook's schedules.
    ['0 2 * * *', 'cron(0 2 * * ? *)'],
    ['0 1 * * 0', 'cron(0 1 ? * SUN *)'],
    // Steps: AWS documents start/step, so */n starts at the field's minimum.
    ['*/15 * * * *', 'cron(0/15 * * * ? *)'],
    ['5/20 */6 * * *', 'cron(5/20 0/6 * * ? *)'],
    ['0 0 */2 * *', 'cron(0 0 1/2 * ? *)'],
    // A bounded range with a step is spelled out.
    ['10-40/10 * * * *', 'cron(10,20,30,40 * * * ? *)'],
    // Weekdays: Unix 0-7 (0 and 7 Sunday) become names, never EventBridge's 1-7 numbers.
    ['0 9 * * 1-5', 'cron(0 9 ? * MON-FRI *)'],
    ['0 9 * * MON-FRI', 'cron(0 9 ? * MON-FRI *)'],
    ['0 9 * * mon,wed,fri', 'cron(0 9 ? * MON,WED,FRI *)'],
    ['0 0 * * 7', 'cron(0 0 ? * SUN *)'],
    ['0 0 * * 0,7', 'cron(0 0 ? * SUN *)'],
    ['0 0 * * 5-7', 'cron(0 0 ? * SUN,FRI,SAT *)'],
    ['0 0 * * */2', 'cron(0 0 ? * SUN,TUE,THU,SAT *)'],
    ['0 0 * * 1,2,3,6', 'cron(0 0 ? * MON-WED,SAT *)'],
    // Day of month restricted, weekday free.
    ['0 0 1 * *', 'cron(0 0 1 * ? *)'],
    ['30 4 1,15 * *', 'cron(30 4 1,15 * ? *)'],
    ['0 0 1-7 * *', 'cron(0 0 1-7 * ? *)'],
    ['0 0 29 2 *', 'cron(0 0 29 2 ? *)'],
    ['0 0 31 1,4 *', 'cron(0 0 31 1,4 ? *)'],
    // Months, by number or name.
    ['0 3 1 JAN-MAR *', 'cron(0 3 1 1-3 ? *)'],
    ['0 3 1 */3 *', 'cron(0 3 1 1/3 ? *)'],
    // A field selecting every value is written *.
    ['0-59 0-23 1-31 1-12 *', 'cron(* * * * ? *)'],
    ['*/1 * * * 0-6', 'cron(* * * * ? *)'],
    // Leading zeros and extra blanks.
    ['  05   02 * * *  ', 'cron(5 2 * * ? *)'],
    // Macros.
    ['@daily', 'cron(0 0 * * ? *)'],
    ['@weekly', 'cron(0 0 ? * SUN *)'],
    ['@monthly', 'cron(0 0 1 * ? *)'],
    ['@hourly', 'cron(0 * * * ? *)'],
  ])('%s → %s', (unix, expression) => {
    expect(toSchedulerCron(unix)).toBe(expression);
  });

  test.each([
    ['0 2 * *', /has 4 fields; expected five/],
    ['0 2 * * * 2026', /has 6 fields; expected five/],
    ['', /has 0 fields/],
    ['60 2 * * *', /minute 60 is out of range 0-59/],
    ['0 24 * * *', /hour 24 is out of range 0-23/],
    ['0 0 0 * *', /day-of-month 0 is out of range 1-31/],
    ['0 0 32 * *', /day-of-month 32 is out of range 1-31/],
    ['0 0 1 13 *', /month 13 is out of range 1-12/],
    ['0 0 * * 8', /day-of-week 8 is out of range 0-7/],
    ['0 0 * FOO *', /month 'FOO' is not a value; allowed: 1-12 or JAN-DEC/],
    ['0 0 * * MON-FOO', /day-of-week 'FOO' is not a value; allowed: 0-7 or SUN-SAT/],
    ['0 0 * * FRI-MON', /range 'FRI-MON' runs backwards/],
    ['*/0 * * * *', /step '0' must be a whole number from 1 to 59/],
    ['0 0 1,,2 * *', /empty list item/],
    // Impossible dates: the schedule would never fire.
    ['0 0 31 2 *', /day-of-month 31 never occurs in FEB/],
    ['0 0 30 2 *', /day-of-month 30 never occurs in FEB/],
    ['0 0 30,31 2 *', /never occurs/],
    ['0 0 31 4,6,9,11 *', /day-of-month 31 never occurs in APR,JUN,SEP,NOV/],
    // Unix ORs two restricted day fields; EventBridge cannot.
    ['0 0 1 * 1', /both day-of-month and day-of-week \(Unix cron runs when EITHER matches\).*set one of them to \*/],
    ['0 0 1-7 * MON', /both day-of-month and day-of-week/],
    ['0 0 */2 * 1', /restricts both day-of-month and day-of-week/],
    // EventBridge syntax is not Unix cron.
    ['0 0 ? * MON', /EventBridge-only syntax/],
    ['0 0 L * *', /EventBridge-only syntax/],
    ['0 0 15W * *', /EventBridge-only syntax/],
    ['0 0 * * 1#2', /EventBridge-only syntax/],
    ['cron(0 2 * * ? *)', /is an EventBridge expression; write five-field Unix cron/],
    ['@reboot', /allowed macros: @yearly/],
  ])('rejects %j', (unix, message) => {
    expect(() => toSchedulerCron(unix)).toThrow(CronError);
    expect(() => toSchedulerCron(unix)).toThrow(message);
  });

  test('two restricted day fields where one matches every day are every day, as in Unix cron', () => {
    // Vixie cron ORs them: "1-31 OR Monday" is every day.
    expect(toSchedulerCron('0 0 1-31 * 1')).toBe('cron(0 0 * * ? *)');
  });

  test('names in the output (not numbers) are what EventBridge reads as the same days', () => {
    // EventBridge would read a copied "1" as Sunday; Unix means Monday.
    const expression = toSchedulerCron('0 0 * * 1');
    expect(expression).toBe('cron(0 0 ? * MON *)');
    expect(expression).not.toMatch(/\? \* 1 /);
  });
});
