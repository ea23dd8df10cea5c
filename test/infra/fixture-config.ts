/**
 * The BackupConfig the runbook's example backup.yaml yields, written out so the infra tests do not depend on
 * the YAML loader, with two differences that keep the templates readable: the buckets are named exactly
 * (`exact_name: true`; the default account-and-region suffix has its own tests) and the key ARN has a
 * well-formed key id (the runbook's is not hex). Plus helpers that synthesize both stacks into Templates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { buildStacks, type BuildAppProps } from '../../infra/app';
import type { BackupConfig } from '../../config/types';
import { DEFAULT_VERIFICATION } from '../../config/verification';

export const DATA_KEY_ARN = 'arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

export function fixtureConfig(): BackupConfig {
  return {
    schedule: {
      database: { cron: '0 2 * * *', expression: 'cron(0 2 * * ? *)' },
      memory_tiers: { cron: '0 3 * * *', expression: 'cron(0 3 * * ? *)' },
      configuration: { cron: '0 1 * * 0', expression: 'cron(0 1 ? * SUN *)' },
      model_weights: { cron: '0 4 * * 0', expression: 'cron(0 4 ? * SUN *)' },
    },
    timeZone: 'UTC',
    installation: 'nca-backup',
    storage: {
      primary: { type: 's3', bucket: 'neuroca-backups', region: 'us-west-2', prefix: 'backups/', exactName: true },
      secondary: { type: 's3', bucket: 'neuroca-dr-backups', region: 'eu-central-1', prefix: 'backups/', exactName: true },
      // On by default: GOVERNANCE for the shortest retention (memory_tiers, 14 days).
      objectLock: { mode: 'GOVERNANCE', days: 14 },
    },
    retention: { database: 30, memory_tiers: 14, configuration: 90, model_weights: 180, logs: 90 },
    encryption: { enabled: true, keyManagement: 'kms', kmsKeyId: DATA_KEY_ARN },
    sources: { postgres: { database: 'neuroca_db' } },
    runner: {
      lambdaMaxBytes: 2 * 1024 ** 3,
      maxConcurrency: 4,
      lambda: { memoryMiB: 2048, timeoutMinutes: 15 },
      fargate: { cpu: 8192, memoryMiB: 16384, ephemeralStorageGiB: 21 },
    },
    notifications: { emails: [] },
    verification: DEFAULT_VERIFICATION,
  };
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends object ? Mutable<T[K]> : T[K] };

/** A deep copy of the fixture, changed by `edit`. */
export function configWith(edit: (config: Mutable<BackupConfig>) => void): BackupConfig {
  const config = structuredClone(fixtureConfig()) as Mutable<BackupConfig>;
  edit(config);
  return config as BackupConfig;
}

export interface Templates {
  readonly primary: Template;
  readonly recovery: Template;
}

/** Synthesizes both stacks without bundling (template unit tests) into a temporary directory. */
export function synthTemplates(config: BackupConfig, props: BuildAppProps = {}): Templates {
  const outdir = mkdtempSync(path.join(tmpdir(), 'nca-infra-'));
  try {
    const { primary, recovery } = buildStacks(config, { bundling: false, outdir, ...props });
    return { primary: Template.fromStack(primary), recovery: Template.fromStack(recovery) };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** Every IAM statement of every policy (inline or AWS::IAM::Policy) that is attached to a role with this logical id. */
export function statementsOfRole(template: Template, roleLogicalId: string): any[] {
  const statements: any[] = [];
  const role = template.toJSON().Resources[roleLogicalId];
  for (const policy of role?.Properties?.Policies ?? []) statements.push(...policy.PolicyDocument.Statement);
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy')) as any[]) {
    const roles: unknown[] = policy.Properties.Roles ?? [];
    if (roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleLogicalId }))) statements.push(...policy.Properties.PolicyDocument.Statement);
  }
  return statements;
}

/** The statements of the one role whose logical id holds `roleFragment`, with references rendered to text (render). */
export function renderedStatements(template: Template, roleFragment: string): any[] {
  return statementsOfRole(template, logicalId(template, 'AWS::IAM::Role', roleFragment)).map((s) =>
    JSON.parse(JSON.stringify(s, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) && ('Ref' in v || 'Fn::GetAtt' in v || 'Fn::Join' in v) ? render(v) : v))),
  );
}

/** The one statement with this Sid; anything else fails the test naming it. */
export function statementBySid(list: any[], sid: string): any {
  const found = list.filter((s) => s.Sid === sid);
  if (found.length !== 1) throw new Error(`expected one statement ${sid}, found ${found.length}`);
  return found[0];
}

/** Logical id of the single resource of `type` whose logical id contains `fragment`. */
export function logicalId(template: Template, type: string, fragment: string): string {
  const ids = Object.keys(template.findResources(type)).filter((id) => id.includes(fragment));
  if (ids.length !== 1) throw new Error(`expected one ${type} with "${fragment}" in its id, found: ${ids.join(', ') || 'none'}`);
  return ids[0];
}

export function asArray<T>(value: T | T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

/** Renders Ref/GetAtt/Join/Sub as plain text (`<Ref:Id>`, `<GetAtt:Id.Attr>`, `<Partition>`…) so a token-bearing JSON value can be parsed. */
export function render(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, any>;
    if ('Ref' in v) return v.Ref.startsWith('AWS::') ? `<${v.Ref.slice(5)}>` : `<Ref:${v.Ref}>`;
    if ('Fn::GetAtt' in v) return `<GetAtt:${v['Fn::GetAtt'][0]}.${v['Fn::GetAtt'][1]}>`;
    if ('Fn::Join' in v) return (v['Fn::Join'][1] as unknown[]).map(render).join(v['Fn::Join'][0]);
    if (typeof v['Fn::Sub'] === 'string') return v['Fn::Sub'].replace(/\$\{AWS::(\w+)\}/g, '<$1>');
    // A grant on a state machine's executions picks the name out of its ARN: `<Select:6:Split:<Ref:Id>>`.
    if ('Fn::Select' in v) return `<Select:${v['Fn::Select'][0]}:${render(v['Fn::Select'][1])}>`;
    if ('Fn::Split' in v) return `Split:${render(v['Fn::Split'][1])}`;
  }
  throw new Error(`cannot render ${JSON.stringify(value)}`);
}

/**
 * The runtime config the deployment hands a Lambda function (by logical id), parsed: a scheduled function's
 * from its schedule's input, a worker's from the state machines' WorkerRuntimeConfig substitution, a
 * control-plane function's from their ControlPlaneRuntimeConfig (none is in a function's environment).
 */
export function runtimeConfigOf(template: Template, functionLogicalId: string): any {
  const resources = template.toJSON().Resources;
  // A worker's schedules (the integrity check) carry the vault part only; its whole config is the state machines'.
  for (const rule of functionLogicalId.startsWith('Worker') ? [] : (Object.values(template.findResources('AWS::Events::Rule')) as any[])) {
    const target = (rule.Properties.Targets ?? []).find((t: any) => JSON.stringify(t.Arn).includes(`"${functionLogicalId}"`));
    if (target?.Input) return JSON.parse(JSON.parse(render(target.Input)).runtimeConfig);
  }
  const name = functionLogicalId.startsWith('Worker') ? 'WorkerRuntimeConfig' : 'ControlPlaneRuntimeConfig';
  const machine = Object.values(resources).find((r: any) => r.Type === 'AWS::StepFunctions::StateMachine' && r.Properties.DefinitionSubstitutions?.[name]) as any;
  if (!machine) throw new Error(`no state machine has the substitution ${name}`);
  // The substitution is the text between the quotes of a JSON string: "runtimeConfig": "${Name}".
  return JSON.parse(JSON.parse(`"${render(machine.Properties.DefinitionSubstitutions[name])}"`));
}

/** Runs `fn` without CDK's "Bundling asset …" progress lines on stderr (tests are quiet unless they fail). */
export function quietBundling<T>(fn: () => T): T {
  const original = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
    String(chunk).startsWith('Bundling asset ') ? true : (original as (...a: unknown[]) => boolean)(chunk, ...rest)) as typeof process.stderr.write;
  try {
    return fn();
  } finally {
    process.stderr.write = original;
  }
}
