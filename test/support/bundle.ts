/**
 * The handlers bundled exactly as deploy bundles them: the control-plane functions with the NodejsFunction
 * options of infra/constructs/bundling.ts (the same object), the worker and the Fargate CLI with the esbuild
 * command lines of functions/Dockerfile (read from the file and run as they are, output redirected).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { esbuildOptionsOf } from '../../infra/constructs/bundling';
import { REPO_ROOT, WORKER_DOCKERFILE } from '../../infra/constructs/workers';
import type { HarnessCode } from '../../scripts/local-workflows';

const CONTROL_PLANE = {
  plan: 'plan',
  finalize: 'finalize',
  resolve: 'resolve-restore',
  releaseLock: 'release-lock',
  drillPlan: 'drill-plan',
  drillReport: 'drill-report',
} as const;

/** The `esbuild …` commands of the Dockerfile's build stage, with their output redirected to `outDir`. */
export function dockerfileEsbuildCommands(outDir: string): string[][] {
  const text = readFileSync(join(REPO_ROOT, WORKER_DOCKERFILE), 'utf8').replace(/\\\n/g, ' ');
  const commands = [...text.matchAll(/(?:RUN|&&)\s+esbuild\s+([^&\n]+)/g)].map((m) => m[1].trim().split(/\s+/));
  if (commands.length === 0) throw new Error(`no esbuild command found in ${WORKER_DOCKERFILE}`);
  return commands.map((args) => args.map((a) => a.replace(/^--outfile=dist\//, `--outfile=${outDir}/`)));
}

export function bundleAsDeployed(): HarnessCode & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nca-bundle-'));
  for (const [, file] of Object.entries(CONTROL_PLANE)) {
    buildSync({ ...esbuildOptionsOf(), logLevel: 'error', entryPoints: [join(REPO_ROOT, 'functions', 'handlers', `${file}.ts`)], outfile: join(dir, `${file}.js`) });
  }
  const esbuild = join(REPO_ROOT, 'node_modules', '.bin', 'esbuild');
  for (const args of dockerfileEsbuildCommands(dir)) execFileSync(esbuild, [...args, '--log-level=error'], { cwd: REPO_ROOT, stdio: 'pipe' });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = (file: string) => require(join(dir, `${file}.js`)).handler;
  return {
    dir,
    plan: load(CONTROL_PLANE.plan),
    finalize: load(CONTROL_PLANE.finalize),
    resolve: load(CONTROL_PLANE.resolve),
    releaseLock: load(CONTROL_PLANE.releaseLock),
    drillPlan: load(CONTROL_PLANE.drillPlan),
    drillReport: load(CONTROL_PLANE.drillReport),
    worker: load('worker'),
    cliArgs: [join(dir, 'cli.js')],
  };
}
