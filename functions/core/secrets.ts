/** Connection secrets from AWS Secrets Manager, read once per connect; the value never reaches a log. */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { InvalidInputError } from './errors';

/** Returns a secret's string; tests pass their own instead of reaching AWS. */
export type SecretFetcher = (secretArn: string) => Promise<string>;

/** The fetcher the components use by default; `component` names who asked when a secret has no string. */
export function secretsManagerFetcher(component: string): SecretFetcher {
  return async (secretArn) => {
    const value = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: secretArn }));
    if (!value.SecretString) throw new InvalidInputError(`secret ${secretArn} has no SecretString.`, { component });
    return value.SecretString;
  };
}
