/**
 * How the control-plane functions are bundled: one object, used by the NodejsFunctions and by the tests
 * that bundle the handlers the same way before running the workflows against them.
 *
 * keepNames: minification renames classes, and Lambda reports a thrown error's `name` as its errorType,
 * which is the Step Functions error name the workflows' ErrorEquals and the operator see. The error
 * classes also set their names as literals; keepNames keeps everything else's names (stack traces) too.
 */
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';

export const CONTROL_PLANE_BUNDLING = {
  target: 'node22',
  format: nodejs.OutputFormat.CJS,
  minify: true,
  keepNames: true,
  sourceMap: true,
  logLevel: nodejs.LogLevel.WARNING,
  // Bundle the SDK too: the versions tested here are the versions that run (lib-storage is not in the runtime).
  externalModules: ['pg-native'],
} as const satisfies nodejs.BundlingOptions;

/** The esbuild build options NodejsFunction turns CONTROL_PLANE_BUNDLING into (its CLI flags, as build API fields). */
export function esbuildOptionsOf(bundling: typeof CONTROL_PLANE_BUNDLING = CONTROL_PLANE_BUNDLING) {
  return {
    bundle: true,
    platform: 'node' as const,
    target: bundling.target,
    format: bundling.format as 'cjs',
    minify: bundling.minify,
    keepNames: bundling.keepNames,
    sourcemap: bundling.sourceMap,
    external: [...bundling.externalModules],
    logLevel: bundling.logLevel as 'warning',
  };
}
