/**
 * The control plane carries no database driver: plan, finalize, resolve-restore, release-lock, drill-plan,
 * drill-report, the janitor and the configuration change trigger check inputs, read manifests, write S3 objects and start
 * executions, and a driver in their bundles (pulled in by one careless import of a component's connection
 * code) would grow every cold start and widen what a control-plane function could reach. Each handler is bundled exactly as deploy bundles it (the same
 * esbuild options object as the NodejsFunctions), and esbuild's metafile lists every input that went in.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildSync, type Metafile } from 'esbuild';
import { esbuildOptionsOf } from '../../infra/constructs/bundling';
import { REPO_ROOT } from '../../infra/constructs/workers';
import { dockerfileEsbuildCommands } from '../support/bundle';

const HANDLERS_DIR = join(REPO_ROOT, 'functions', 'handlers');

/** node_modules packages that are a database or secret-store client, or a part only such a client uses. */
const DRIVERS = [
  /^pg$/,
  /^pg-/, // pg-pool, pg-protocol, pg-connection-string, pg-types, ...
  /^pgpass$/,
  /^ioredis$/,
  /^@ioredis\//,
  /^redis-/, // redis-errors, redis-parser
  /^mongodb$/,
  /^mongodb-/, // mongodb-connection-string-url
  /^bson$/,
  /^@mongodb-js\//,
  /^@aws-sdk\/client-secrets-manager$/,
];

/**
 * Every handler not bundled into the worker image by functions/Dockerfile runs in a NodejsFunction: a new
 * handler counts as control plane until the Dockerfile bundles it.
 */
function controlPlaneHandlers(): string[] {
  const worker = new Set(
    dockerfileEsbuildCommands('/dev/null')
      .map((args) => args.find((arg) => arg.endsWith('.ts')))
      .filter((entry): entry is string => entry !== undefined)
      .map((entry) => join(REPO_ROOT, entry)),
  );
  return readdirSync(HANDLERS_DIR)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(HANDLERS_DIR, file))
    .filter((file) => !worker.has(file));
}

/** The package an input path belongs to ("node_modules/@aws-sdk/client-s3/dist-cjs/…" → "@aws-sdk/client-s3"). */
function packageOf(input: string): string | undefined {
  const parts = input.split('node_modules/');
  if (parts.length < 2) return undefined;
  const path = parts[parts.length - 1].split('/');
  return path[0].startsWith('@') ? `${path[0]}/${path[1]}` : path[0];
}

function metafileOf(entry: string): Metafile {
  const result = buildSync({ ...esbuildOptionsOf(), logLevel: 'error', entryPoints: [entry], write: false, outdir: '/tmp/nca-control-plane-bundles', metafile: true });
  return result.metafile!;
}

/** The drivers a handler's bundle contains, each with the shortest import chain from the handler that brings it in. */
function driversIn(metafile: Metafile, entry: string): Record<string, string> {
  const importers = new Map<string, string[]>();
  for (const [path, input] of Object.entries(metafile.inputs)) {
    for (const imported of input.imports) importers.set(imported.path, [...(importers.get(imported.path) ?? []), path]);
  }
  const found: Record<string, string> = {};
  for (const path of Object.keys(metafile.inputs)) {
    const name = packageOf(path);
    if (name === undefined || found[name] !== undefined || !DRIVERS.some((driver) => driver.test(name))) continue;
    // Breadth-first from the driver's file back to the handler: the chain an operator would cut.
    const via = new Map<string, string>([[path, '']]);
    const queue = [path];
    while (queue.length > 0 && !via.has(entry)) {
      const at = queue.shift()!;
      for (const from of importers.get(at) ?? []) if (!via.has(from)) via.set(from, at), queue.push(from);
    }
    const chain: string[] = [];
    for (let at = via.has(entry) ? entry : path; at !== ''; at = via.get(at)!) chain.push(at);
    found[name] = chain.filter((step) => !step.includes('node_modules/') || step === path).join(' → ');
  }
  return found;
}

describe('control-plane bundles', () => {
  const handlers = controlPlaneHandlers();

  it('are every handler the worker image does not bundle: plan, finalize, resolve-restore, release-lock, resolve-system, restore-all-report, drill-plan, drill-report, the janitor, RPO monitoring, the integrity check of the recovery vault, the configuration change trigger and the audit function', () => {
    expect(handlers.map((file) => relative(HANDLERS_DIR, file)).sort()).toEqual([
      'audit.ts',
      'backup-age.ts',
      'config-change.ts',
      'drill-plan.ts',
      'drill-report.ts',
      'finalize.ts',
      'integrity-replica.ts',
      'janitor.ts',
      'plan.ts',
      'release-lock.ts',
      'resolve-restore.ts',
      'resolve-system.ts',
      'restore-all-report.ts',
    ]);
  });

  it.each(handlers.map((file) => [relative(REPO_ROOT, file), file]))('%s bundles no database driver and no Secrets Manager client', (_name, entry) => {
    const metafile = metafileOf(entry);
    const input = relative(process.cwd(), entry);
    // The bundle is real: the handler itself went in.
    expect(Object.keys(metafile.inputs)).toContain(input);
    expect(driversIn(metafile, input)).toEqual({});
  });
});
