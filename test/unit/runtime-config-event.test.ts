/** functions/core/runtime-config.ts: how a deployed function reads and checks the runtime config it is handed. */
import { runtimeConfigFromEnv, runtimeConfigFromEvent, vaultRuntimeConfigFromEvent, withoutRuntimeConfig } from '../../functions/core/runtime-config';
import { testRuntimeConfig } from '../support/runtime-config';
import { InvalidInputError } from '../../functions/core/errors';
import { thrown } from '../support/thrown';

const config = testRuntimeConfig({ bucket: 'vault', components: { postgres: { group: 'database', source: { database: 'neuroca_db' } } } });

describe('the runtime config in a Lambda event', () => {
  test('is read from the event\'s runtimeConfig (JSON text), and the rest of the event goes on without it', () => {
    const event = { operation: 'estimate', component: 'postgres', runtimeConfig: JSON.stringify(config) };
    expect(runtimeConfigFromEvent(event)).toEqual(config);
    expect(withoutRuntimeConfig(event)).toEqual({ operation: 'estimate', component: 'postgres' });
  });

  test('missing, not text, or not JSON: InvalidInputError saying so and how the function must be started', () => {
    for (const [runtimeConfig, says] of [
      [undefined, "the event's runtimeConfig is missing."],
      [config, "the event's runtimeConfig is not JSON text (got object)."],
      ['{"bucket": ', "the event's runtimeConfig is not valid JSON ("],
    ] as const) {
      const error = thrown(InvalidInputError, () => runtimeConfigFromEvent({ runtimeConfig }));
      expect(error.message).toContain(says);
      expect(error.message).toContain('Start this function through the state machines (or the schedule) the nca-backup stack deploys');
    }
    expect(thrown(InvalidInputError, () => runtimeConfigFromEvent(null)).message).toContain('is missing');
  });

  test('every wrong field is named at once', () => {
    const broken = { ...config, bucket: '', runner: { lambdaMaxBytes: '2GiB' }, components: { postgres: { group: 'nightly' } } };
    const error = thrown(InvalidInputError, () => runtimeConfigFromEvent({ runtimeConfig: JSON.stringify(broken) }));
    expect(error.message).toContain("the event's runtimeConfig.bucket is not a non-empty string");
    expect(error.message).toContain("the event's runtimeConfig.components.postgres.group is not one of database, memory_tiers");
    expect(error.message).toContain("the event's runtimeConfig.components.postgres.source is not an object");
    expect(error.message).toContain("the event's runtimeConfig.runner is not an object with lambdaMaxBytes and maxConcurrency");
  });

  test('the janitor\'s part needs the vault and the groups only', () => {
    const vault = { bucket: 'vault', prefix: 'backups/', kmsKeyId: 'k', components: { postgres: { group: 'database' } } };
    expect(vaultRuntimeConfigFromEvent({ runtimeConfig: JSON.stringify(vault) })).toEqual(vault);
    expect(thrown(InvalidInputError, () => runtimeConfigFromEvent({ runtimeConfig: JSON.stringify(vault) })).message).toContain('runtimeConfig.components.postgres.source is not an object');
    expect(thrown(InvalidInputError, () => vaultRuntimeConfigFromEvent({ runtimeConfig: JSON.stringify({ ...vault, prefix: 3 }) })).message).toContain('runtimeConfig.prefix is not a string');
  });
});

test('the Fargate task reads NCA_RUNTIME_CONFIG and names it when it is missing or wrong', () => {
  expect(runtimeConfigFromEnv({ NCA_RUNTIME_CONFIG: JSON.stringify(config) })).toEqual(config);
  expect(thrown(InvalidInputError, () => runtimeConfigFromEnv({})).message).toMatch(/^NCA_RUNTIME_CONFIG is missing\./);
  expect(thrown(InvalidInputError, () => runtimeConfigFromEnv({ NCA_RUNTIME_CONFIG: '{"bucket": "b"}' })).message).toContain('NCA_RUNTIME_CONFIG.kmsKeyId is not a non-empty string');
});
