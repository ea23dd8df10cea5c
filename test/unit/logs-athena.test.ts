/**
 * The restore-to-files layout Athena reads: Hive partitions by log group (percent-encoded, reversible)
 * and by the UTC date of the event timestamp, and the table definition for where the files are.
 */
import { athenaKey, athenaLogGroup, athenaTableDdl, encodeLogGroup, partitionDate } from '../../functions/components/logs/athena';
import { InvalidInputError } from '../../functions/core/errors';
import { thrown } from '../support/thrown';

const T = Date.parse('2026-11-30T23:59:59.999Z');

describe('the restore layout', () => {
  test('a key names the log group and the UTC date of the event timestamp as Hive partitions', () => {
    expect(athenaKey('restores/2026-12-01/', '/aws/lambda/neuroca-api', T, 'b1-events.jsonl.gz')).toBe('restores/2026-12-01/logs/log_group=%2Faws%2Flambda%2Fneuroca-api/dt=2026-11-30/b1-events.jsonl.gz');
    expect(athenaKey('', '/a', T + 1, 'f.jsonl.gz')).toBe('logs/log_group=%2Fa/dt=2026-12-01/f.jsonl.gz');
    expect(athenaKey('/restores', '/a', 0, 'f.jsonl.gz')).toBe('restores/logs/log_group=%2Fa/dt=1970-01-01/f.jsonl.gz');
  });

  test.each(['/aws/lambda/neuroca-api', 'a#b', '/日本語/グループ', 'x=y/dt=1', '100%', 'a b', "it's"])('the group %j encodes to one key segment of safe characters and decodes back exactly', (name) => {
    const encoded = encodeLogGroup(name);
    expect(encoded).toMatch(/^[A-Za-z0-9._%-]+$/);
    expect(decodeURIComponent(encoded)).toBe(name);
  });

  test('names differing in case stay apart; a bad prefix, file name or timestamp is refused', () => {
    expect(encodeLogGroup('/A')).not.toBe(encodeLogGroup('/a'));
    expect(partitionDate(Date.parse('2026-11-30T00:00:00.000Z'))).toBe('2026-11-30');
    expect(thrown(InvalidInputError, () => athenaKey('a/../b', '/a', T, 'f')).message).toContain('restore prefix');
    expect(thrown(InvalidInputError, () => athenaKey('', '/a', T, '../f')).message).toContain('not a plain file name');
    expect(thrown(InvalidInputError, () => athenaKey('', '/a', -1, 'f')).message).toContain('not a time');
    expect(thrown(InvalidInputError, () => encodeLogGroup('')).message).toContain('empty');
  });
});

describe('the Athena table', () => {
  test('with partition projection over the restored groups and dates: nothing to load before querying', () => {
    const ddl = athenaTableDdl({ bucket: 'neuroca-restores', prefix: 'restores/2026-12-01/', logGroups: ['/neuroca/audit', '/aws/lambda/neuroca-api'], firstDate: '2026-11-01' });
    expect(ddl).toContain('CREATE EXTERNAL TABLE IF NOT EXISTS `nca_backup`.`restored_logs` (');
    expect(ddl).toContain('PARTITIONED BY (`log_group` string, `dt` string)');
    expect(ddl).toContain("ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'");
    expect(ddl).toContain("'mapping.ingestion_time_ms' = 'ingestionTime'");
    expect(ddl).toContain("LOCATION 's3://neuroca-restores/restores/2026-12-01/logs/'");
    expect(ddl).toContain("'projection.log_group.type' = 'enum'");
    expect(ddl).toContain("'projection.log_group.values' = '%2Faws%2Flambda%2Fneuroca-api,%2Fneuroca%2Faudit'");
    expect(ddl).toContain("'projection.dt.range' = '2026-11-01,NOW'");
    expect(ddl).toContain("'storage.location.template' = 's3://neuroca-restores/restores/2026-12-01/logs/log_group=${log_group}/dt=${dt}/'");
    expect(athenaLogGroup('/neuroca/audit')).toBe('%2Fneuroca%2Faudit');
  });

  test('without known groups, the group is injected by each query; with msck, no projection at all', () => {
    expect(athenaTableDdl({ bucket: 'neuroca-restores' })).toContain("'projection.log_group.type' = 'injected'");
    const msck = athenaTableDdl({ bucket: 'neuroca-restores', partitions: 'msck', database: 'ops', table: 'logs_2026' });
    expect(msck).not.toContain('projection');
    expect(msck).toContain('`ops`.`logs_2026`');
    expect(msck).toContain("LOCATION 's3://neuroca-restores/logs/'");
  });

  test('a quote in the prefix cannot end the SQL string; bad names are refused naming them', () => {
    expect(athenaTableDdl({ bucket: 'neuroca-restores', prefix: "it's/" })).toContain("LOCATION 's3://neuroca-restores/it''s/logs/'");
    expect(thrown(InvalidInputError, () => athenaTableDdl({ bucket: 'Bad_Bucket' })).message).toContain('the bucket "Bad_Bucket"');
    expect(thrown(InvalidInputError, () => athenaTableDdl({ bucket: 'neuroca-restores', table: 'x; DROP TABLE y' })).message).toContain('Athena table name');
    expect(thrown(InvalidInputError, () => athenaTableDdl({ bucket: 'neuroca-restores', firstDate: 'yesterday' })).message).toContain('firstDate');
  });
});
