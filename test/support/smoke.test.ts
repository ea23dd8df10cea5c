import { Client } from 'pg';

test('the test PostgreSQL answers on its port', async () => {
  const client = new Client({ connectionString: process.env.NCA_TEST_POSTGRES_URL });
  await client.connect();
  const { rows } = await client.query('select current_setting($1) as v', ['server_version_num']);
  await client.end();
  expect(Number(rows[0].v)).toBeGreaterThanOrEqual(150000);
});
