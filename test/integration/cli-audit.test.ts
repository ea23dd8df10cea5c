/**
 * An operator's CLI backup leaves one audit record in the vault and on the event bus (the EventBridge
 * substitute), naming the local user and host it honestly knows, the component, the backup id and the outcome.
 */
import { AUDIT_DETAIL_TYPE, AUDIT_DIR, AUDIT_EVENT_SOURCE } from '../../functions/core/audit';
import { cliEnv, postgresBackupYaml, runCli, writeBackupYaml } from '../support/cli';
import { startEventBridgeServer, type EventBridgeServer } from '../support/eventbridge-server';
import { createDatabase, testPostgresUrl } from '../support/postgres-db';
import { createTestBucket, listKeys, readObject, testS3Client } from '../support/s3';
import { hostname, userInfo } from 'node:os';

let events: EventBridgeServer;
beforeAll(async () => {
  events = await startEventBridgeServer();
});
afterAll(() => events.stop());

test('a CLI backup writes one audit record: who ran it where, the component, the backup id, succeeded', async () => {
  const database = await createDatabase('cliaudit');
  const client = testS3Client();
  const bucket = await createTestBucket(client, 'cliaudit');
  const env = { ...cliEnv(bucket, { NCA_POSTGRES_URL: testPostgresUrl(), NCA_PG_BIN_DIR: process.env.NCA_TEST_PG_BIN_DIR }), NCA_EVENTS_ENDPOINT: events.endpoint };
  const backup = await runCli(env, ['backup', 'postgres', '--config', writeBackupYaml(postgresBackupYaml(database))]);
  expect(backup.code).toBe(0);

  const keys = await listKeys(client, bucket, `backups/${AUDIT_DIR}`);
  expect(keys).toHaveLength(1);
  const record = JSON.parse((await readObject(client, bucket, keys[0])).toString('utf8'));
  expect(record).toEqual({
    version: 1,
    id: expect.stringMatching(/^[0-9a-f]{20}$/),
    time: expect.any(String),
    action: 'backup',
    phase: 'finished',
    principal: `cli ${userInfo().username}@${hostname()}`,
    trigger: 'cli',
    components: ['postgres'],
    backupIds: [backup.json.backupId],
    outcome: 'succeeded',
  });
  expect(events.events).toEqual([{ source: AUDIT_EVENT_SOURCE, detailType: AUDIT_DETAIL_TYPE, detail: record, eventBusName: 'default' }]);
  expect(events.calls.every((c) => c.signed)).toBe(true);
});
