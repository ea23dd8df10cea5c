// Jest transformer: TypeScript → CommonJS with esbuild (already a CDK dependency). Type checking is
// `tsc --noEmit`'s job in `npm test`; this only strips types, so tests start fast.
// (@swc/jest was dropped: the registry here lacks its other-platform binaries, which breaks `npm ci`.)
const { transformSync } = require('esbuild');

module.exports = {
  process(source, filename) {
    const result = transformSync(source, {
      loader: filename.endsWith('.tsx') ? 'tsx' : 'ts',
      format: 'cjs',
      target: 'node22',
      sourcemap: 'inline',
      sourcefile: filename,
    });
    return { code: result.code };
  },
};
