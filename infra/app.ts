/**
 * The CDK app: backup.yaml (NCA_BACKUP_CONFIG, default ./backup.yaml) → the recovery-region stack and the
 * primary-region stack, checked with cdk-nag's AwsSolutions pack (a finding fails the synth).
 * `buildApp` is what the tests synthesize; the main runs only when this file is executed (`cdk synth`).
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { setting } from '../config/environment';
import { ConfigError, DEFAULT_CONFIG_FILE, loadBackupConfig } from '../config/load';
import { DEFAULT_INSTALLATION, type BackupConfig } from '../config/types';
import { PrimaryStack } from './stacks/primary-stack';
import { RecoveryStack } from './stacks/recovery-stack';

export const PRIMARY_STACK_ID = 'NcaBackupPrimary';
export const RECOVERY_STACK_ID = 'NcaBackupRecovery';

/**
 * The CloudFormation stack names: today's (the construct ids) for the default installation, else
 * `<installation>-primary` and `<installation>-recovery`, so a second installation in the account does not
 * replace the first. The construct ids (what `cdk deploy <stack>` selects) stay the same.
 */
export function stackNames(installation: string): { readonly primary: string; readonly recovery: string } {
  return installation === DEFAULT_INSTALLATION
    ? { primary: PRIMARY_STACK_ID, recovery: RECOVERY_STACK_ID }
    : { primary: `${installation}-primary`, recovery: `${installation}-recovery` };
}

export interface BuildAppProps {
  /**
   * Cloud assembly directory.
   * @default - CDK's (cdk.out, or a temporary directory in tests)
   */
  readonly outdir?: string;
  /**
   * Run the cdk-nag AwsSolutions pack at synth (`cdk synth` and the nag test turn it on).
   * @default false
   */
  readonly nag?: boolean;
  /**
   * Bundle the Node.js functions with esbuild (template unit tests turn it off for speed).
   * @default true
   */
  readonly bundling?: boolean;
  /**
   * PG_MAJOR build argument of the worker image.
   * @default - the Dockerfile's (17)
   */
  readonly pgMajor?: string;
}

/** The feature flags of cdk.json, so tests synthesize exactly what `cdk synth` does. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(__dirname, '..', 'cdk.json'), 'utf8')) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

export interface NcaBackupApp {
  readonly app: App;
  readonly primary: PrimaryStack;
  readonly recovery: RecoveryStack;
}

export function buildStacks(config: BackupConfig, props: BuildAppProps = {}): NcaBackupApp {
  const context: Record<string, unknown> = { ...cdkJsonContext() };
  // An empty list makes CDK skip asset bundling in every stack (it still fingerprints a placeholder).
  if (props.bundling === false) context['aws:cdk:bundling-stacks'] = [];
  const app = new App({ outdir: props.outdir, context });
  if (props.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const names = stackNames(config.installation);
  const recovery = new RecoveryStack(app, RECOVERY_STACK_ID, { config, stackName: names.recovery, pgMajor: props.pgMajor });
  const primary = new PrimaryStack(app, PRIMARY_STACK_ID, { config, stackName: names.primary, pgMajor: props.pgMajor });
  // The replica key and the recovery vault must exist before replication is configured.
  primary.addStackDependency(recovery, 'replication needs the recovery-region vault and replica key');
  return { app, primary, recovery };
}

export function buildApp(config: BackupConfig, props: BuildAppProps = {}): App {
  return buildStacks(config, props).app;
}

/**
 * `cdk synth`: loads NCA_BACKUP_CONFIG (default backup.yaml) and synthesizes. A ConfigError is printed as
 * "<file>: <field>: <problem>" and fails the synth (exit code 1); anything else propagates.
 */
export function synthFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  load: (file: string) => BackupConfig = loadBackupConfig,
  stderr: (text: string) => void = (text) => process.stderr.write(text),
): number {
  const file = setting(env, 'backupConfig') ?? DEFAULT_CONFIG_FILE;
  try {
    // A construct that refuses a configuration throws the same error as the loader: the same message, the same exit.
    buildApp(load(file), { nag: true, pgMajor: setting(env, 'pgMajor') }).synth();
    return 0;
  } catch (error) {
    if (error instanceof ConfigError) {
      stderr(`${file}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

if (require.main === module) process.exitCode = synthFromEnvironment();
